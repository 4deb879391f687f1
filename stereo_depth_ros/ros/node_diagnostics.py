"""The node's /diagnostics statuses (input, output, backend, calibration), assembled from one window.

ROS-free: ``node_reports`` takes the statistics window of one diagnostics
period (``ros.diagnostics``) and a ``NodeState`` snapshot the node fills, and
returns the four ``StatusReport``s the node publishes. Counters are totals
since start-up, rates and latency statistics are over the window; each status
shows the worst active problem of its categories (its level and message), or
OK. Values are strings; "n/a" marks a value that has no sample yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from stereo_depth_ros.ros.diagnostics import Level, StatisticsWindow, StatusReport
from stereo_depth_ros.ros.sync import SyncCounters

__all__ = ["INPUT_QOS_CATEGORY", "OUTPUT_QOS_CATEGORY", "NodeState", "node_reports"]

#: Problem categories of QoS events (``ros.qos_events``): the node's subscriptions and its publishers.
INPUT_QOS_CATEGORY: Final = "input_qos"
OUTPUT_QOS_CATEGORY: Final = "output_qos"
#: The problem categories each status shows.
INPUT_CATEGORIES = ("input", "sync", "lidar", INPUT_QOS_CATEGORY)
OUTPUT_CATEGORIES = ("processing", OUTPUT_QOS_CATEGORY)
CALIBRATION_CATEGORIES = ("calibration",)


@dataclass(frozen=True)
class NodeState:
    """What the statuses show besides the window: the node's state when they are published.

    Attributes:
        name: the node's name (each status is "<name>: <part>").
        sync: the synchroniser's counters.
        sync_description: "exact", or "approximate, tolerance <s> s".
        lidar_hints: LiDAR hints are on (hints lidar or both).
        lidar_hint_pixels_last: pixels with a LiDAR hint in the last pair guided by a cloud (None = none yet).
        hint_fraction_last: share of pixels with a hint in the last pair processed with hints, [0, 1]
            (None = none yet, or hints off).
        tf_static_transforms: transforms read from /tf_static (None = /tf_static is not read).
        backend_name: the matcher's name.
        backend_facts: what the backend describes of itself (provider, model, ...).
        calibration: ``ros.calibration.calibration_diagnostics`` of the node's cache.
        calibration_in_use: a good calibration has been seen.
        qos_counts: ``ros.qos_events.QosEventMonitor.counts()``: endpoints with an incompatible QoS
            (``incompatible_qos_inputs``: publishers of the inputs, ``incompatible_qos_outputs``: subscribers of
            the outputs) and ``messages_lost`` (input samples DDS lost), totals since start-up.
    """

    name: str
    sync: SyncCounters
    sync_description: str
    lidar_hints: bool
    lidar_hint_pixels_last: int | None
    hint_fraction_last: float | None
    tf_static_transforms: int | None
    backend_name: str
    backend_facts: Mapping[str, str]
    calibration: Mapping[str, str]
    calibration_in_use: bool
    qos_counts: Mapping[str, int]


def _worst(window: StatisticsWindow, categories: Sequence[str]) -> tuple[Level, str]:
    """(level, message) of the worst active problem of ``categories`` (the latest among equals), or (OK, "")."""
    found = [window.problems[category] for category in categories if category in window.problems]
    if not found:
        return Level.OK, ""
    problem = max(found, key=lambda p: (p.level, p.monotonic_s))
    return problem.level, problem.message


def _mean_and_max(samples: tuple[float, ...]) -> tuple[str, str]:
    """(mean, max) of samples, ms, one decimal; "n/a" without samples."""
    if not samples:
        return "n/a", "n/a"
    return f"{float(np.mean(samples)):.1f}", f"{float(np.max(samples)):.1f}"


def _input_values(window: StatisticsWindow, state: NodeState) -> dict[str, str]:
    totals, sync = window.totals, state.sync
    return {
        "left_image_rate_hz": f"{window.rate_hz('left_images'):.2f}",
        "right_image_rate_hz": f"{window.rate_hz('right_images'):.2f}",
        "pair_rate_hz": f"{window.rate_hz('pairs'):.2f}",
        "left_camera_info_rate_hz": f"{window.rate_hz('left_camera_info'):.2f}",
        "right_camera_info_rate_hz": f"{window.rate_hz('right_camera_info'):.2f}",
        "left_images_total": str(totals.get("left_images", 0)),
        "right_images_total": str(totals.get("right_images", 0)),
        "left_camera_info_total": str(totals.get("left_camera_info", 0)),
        "right_camera_info_total": str(totals.get("right_camera_info", 0)),
        "pairs_total": str(totals.get("pairs", 0)),
        "unmatched_images_total": str(sync.unmatched),
        "pairs_without_camera_info_total": str(sync.without_info),
        "time_jumps_total": str(sync.time_jumps),
        "input_errors_total": str(totals.get("input_errors", 0)),
        "incompatible_qos_publishers_total": str(state.qos_counts["incompatible_qos_inputs"]),
        "messages_lost_in_dds_total": str(state.qos_counts["messages_lost"]),
        "sync": state.sync_description,
        "lidar_hints": "on" if state.lidar_hints else "off",
        "lidar_cloud_rate_hz": f"{window.rate_hz('lidar_clouds'):.2f}",
        "lidar_clouds_total": str(totals.get("lidar_clouds", 0)),
        "lidar_clouds_used_total": str(totals.get("lidar_clouds_used", 0)),
        "lidar_clouds_rejected_total": str(totals.get("lidar_clouds_rejected", 0)),
        "lidar_pairs_without_cloud_total": str(totals.get("lidar_pairs_without_cloud", 0)),
        "lidar_hint_pixels_last": "n/a" if state.lidar_hint_pixels_last is None else str(state.lidar_hint_pixels_last),
        "tf_static_transforms": "not read" if state.tf_static_transforms is None else str(state.tf_static_transforms),
    }


def _output_values(window: StatisticsWindow, state: NodeState) -> dict[str, str]:
    totals = window.totals
    latency_mean, latency_max = _mean_and_max(window.latency_ms)
    processing_mean, processing_max = _mean_and_max(window.processing_ms)
    return {
        "output_rate_hz": f"{window.rate_hz('frames_published'):.2f}",
        "latency_ms_mean": latency_mean, "latency_ms_max": latency_max,
        "processing_ms_mean": processing_mean, "processing_ms_max": processing_max,
        "frames_published_total": str(totals.get("frames_published", 0)),
        "frames_dropped_total": str(totals.get("frames_dropped", 0)),
        "frames_failed_total": str(totals.get("frames_failed", 0)),
        "point_clouds_built_total": str(totals.get("point_clouds_built", 0)),
        "incompatible_qos_subscribers_total": str(state.qos_counts["incompatible_qos_outputs"]),
        "last_error": window.last_error.message if window.last_error is not None else "",
        "hint_pixels_percent_last": ("n/a" if state.hint_fraction_last is None
                                     else f"{100.0 * state.hint_fraction_last:.1f}"),
    }


def node_reports(window: StatisticsWindow, state: NodeState) -> list[StatusReport]:
    """The four statuses, in order: input, output, backend, calibration.

    The calibration status is WARN "no stereo pair processed yet" while no good calibration
    has been seen and no problem is active.
    """
    prefix = state.name
    input_level, input_message = _worst(window, INPUT_CATEGORIES)
    output_level, output_message = _worst(window, OUTPUT_CATEGORIES)
    calibration_level, calibration_message = _worst(window, CALIBRATION_CATEGORIES)
    if not state.calibration_in_use and calibration_level == Level.OK:
        calibration_level, calibration_message = Level.WARN, "no stereo pair processed yet"
    provider = state.backend_facts.get("provider", "n/a")
    return [
        StatusReport(f"{prefix}: input", input_level, input_message or "inputs OK", "stereo camera",
                     _input_values(window, state)),
        StatusReport(f"{prefix}: output", output_level, output_message or "processing OK", state.backend_name,
                     _output_values(window, state)),
        StatusReport(f"{prefix}: backend", Level.OK, f"{state.backend_name} on {provider}", state.backend_name,
                     dict(state.backend_facts)),
        StatusReport(f"{prefix}: calibration", calibration_level, calibration_message or "calibration OK",
                     "stereo camera", dict(state.calibration)),
    ]
