"""The frames of a bag, read for adaptation exactly as ``stereo_bag_process`` and the node see them.

``ros.bag_io.StereoFrameReader`` pairs left and right images with the node's
synchroniser; the rig comes from each pair's CameraInfos by the node's rule
(``ros.calibration``: a rejected calibration is counted and the last good one
kept; frames before the first good one are skipped and counted; one rig per
calibration) and the images are rectified with it. Frames whose images cannot
be used are skipped and counted. At
most ``max_frames`` frames, spread evenly over the bag, are kept in memory as
``training.adaptation.AdaptFrame`` with their classical hints
(``pipeline.classical_hints``, computed once) and, with a LiDAR topic, the
LiDAR points of the cloud nearest in stamp (``ros.lidar_bag.BagClouds``: the
node's stamp and frame rules, the ``lidar_*`` options and the bag's
/tf_static) in place of classical hints where they land, as the node's
``hints: both``. Ground truth (``ground_truth/disparity``, as
``stereo_bag_from_dataset`` writes it) is attached to the frames of the same
stamp.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Final

import cv2
import numpy as np

from stereo_depth_ros.backends.contract import SIZE_MULTIPLE
from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.errors import CalibrationError, ImageShapeError
from stereo_depth_ros.core.stamps import seconds_to_ns
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints
from stereo_depth_ros.ros.bag_io import (
    DISPARITY_TYPE,
    GROUND_TRUTH_TOPIC,
    BagReader,
    StereoFrame,
    StereoFrameReader,
    StereoTopics,
    disparity_px_from_message,
    normalize_topic,
)
from stereo_depth_ros.ros.calibration import CalibrationCache
from stereo_depth_ros.ros.errors import ImageConversionError, LidarHintError, PointCloudConversionError, RosLayerError
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.lidar_bag import BagClouds
from stereo_depth_ros.ros.lidar_input import LidarHintSettings
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME, NodeSettings, settings_from_values
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.tools.errors import NoStereoFramesError
from stereo_depth_ros.training.adaptation import AdaptFrame

__all__ = ["NODE_OPTIONS", "BagFrames", "BagSource", "read_bag_frames"]

#: Node parameters that decide how frames are read (fields of ``BagSource`` with the node's names and defaults).
NODE_OPTIONS: Final = ("rectify", "approximate_sync", "approximate_sync_tolerance_seconds", "queue_size",
                       "lidar_frame_id", "lidar_transform", "lidar_stamp_tolerance_s", "lidar_min_depth_m",
                       "lidar_max_depth_m")
_SKIP_WARNINGS: Final = 5


def _node_default(name: str) -> Any:
    """The node parameter's default (the schema is its one home)."""
    return PARAMETERS_BY_NAME[name].default


@dataclass(frozen=True)
class BagSource:
    """Where an adaptation run's frames come from and how they are read (stored in its checkpoints).

    Attributes:
        bag: the input bag, as given.
        topics: the four stereo input topics.
        ground_truth_topic: DisparityImage topic scored when present (None = never).
        lidar_topic: PointCloud2 topic whose points replace the classical hints where they land
            (None = classical hints only).
        max_frames: frames kept, spread evenly over the bag (>= 1).
        hints: the classical matcher of the hints.
        rectify, approximate_sync, approximate_sync_tolerance_seconds, queue_size, lidar_frame_id,
            lidar_transform, lidar_stamp_tolerance_s, lidar_min_depth_m, lidar_max_depth_m: the node
            parameters of the same names, defaults and ranges (``NODE_OPTIONS``).

    Raises (constructor):
        ValueError: ``max_frames`` < 1, or a node option out of its range (named).
    """

    bag: str
    topics: StereoTopics = field(default_factory=StereoTopics)
    ground_truth_topic: str | None = GROUND_TRUTH_TOPIC
    lidar_topic: str | None = None
    max_frames: int = 200
    hints: ClassicalHintConfig = field(default_factory=ClassicalHintConfig)
    rectify: bool = _node_default("rectify")
    approximate_sync: bool = _node_default("approximate_sync")
    approximate_sync_tolerance_seconds: float = _node_default("approximate_sync_tolerance_seconds")
    queue_size: int = _node_default("queue_size")
    lidar_frame_id: str = _node_default("lidar_frame_id")
    lidar_transform: tuple[float, ...] = _node_default("lidar_transform")
    lidar_stamp_tolerance_s: float = _node_default("lidar_stamp_tolerance_s")
    lidar_min_depth_m: float = _node_default("lidar_min_depth_m")
    lidar_max_depth_m: float = _node_default("lidar_max_depth_m")

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        self.node_settings()

    def node_settings(self) -> NodeSettings:
        """The node settings of ``NODE_OPTIONS`` (the others at their defaults), validated by the node's schema.

        Raises:
            ValueError: a value out of range, named.
        """
        try:
            return settings_from_values({name: getattr(self, name) for name in NODE_OPTIONS})
        except RosLayerError as err:
            raise ValueError(str(err)) from err


@dataclass
class BagFrames:
    """What ``read_bag_frames`` kept and skipped.

    Attributes:
        frames: kept frames in bag order.
        pairs: stereo pairs the synchroniser made.
        stride: every stride-th pair was kept.
        skipped_calibration: pairs skipped because no good calibration had been seen yet.
        rejected_calibration: pairs whose own CameraInfos were rejected (read with the last good
            calibration, or counted in ``skipped_calibration``).
        calibrations: ids of the calibrations used, in order (``ros.calibration``).
        skipped_images: pairs skipped for images that cannot be used (encoding, size).
        ground_truth_frames: kept frames with ground truth.
        lidar_frames: kept frames with LiDAR hints.
        lidar_rejected: kept frames whose nearest cloud was not used, by error type.
    """

    frames: list[AdaptFrame] = field(default_factory=list)
    pairs: int = 0
    stride: int = 1
    skipped_calibration: int = 0
    rejected_calibration: int = 0
    calibrations: list[str] = field(default_factory=list)
    skipped_images: int = 0
    ground_truth_frames: int = 0
    lidar_frames: int = 0
    lidar_rejected: dict[str, int] = field(default_factory=dict)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image)


def read_bag_frames(source: BagSource, *,
                    warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> BagFrames:
    """Read, rectify and hint at most ``source.max_frames`` frames of ``source.bag``, evenly spread.

    Raises:
        BagReadError: the bag is missing, not a bag, truncated or damaged; a topic is missing.
        NoStereoFramesError: not one left/right pair could be made.
        CalibrationError: every pair had a bad calibration.
        ImageShapeError: every pair had unusable images, or the images are smaller than
            ``SIZE_MULTIPLE`` x ``SIZE_MULTIPLE`` (32x32) px.
    """
    path = source.bag
    result = BagFrames()
    with BagReader(path) as reader, ExitStack() as stack:
        clouds = stack.enter_context(BagClouds(path, source.lidar_topic)) if source.lidar_topic else None
        lidar_settings = LidarHintSettings.from_settings(source.node_settings())
        for problem in clouds.static_transform_problems if clouds is not None else ():
            warn(f"stereo_depth_adapt: /tf_static: {problem}")
        topics = source.topics
        reader_frames = StereoFrameReader(reader, topics, queue_size=source.queue_size,
                                          approximate=source.approximate_sync,
                                          tolerance_ns=seconds_to_ns(source.approximate_sync_tolerance_seconds))
        total = min(reader.topics[normalize_topic(topics.left_image)].message_count,
                    reader.topics[normalize_topic(topics.right_image)].message_count)
        result.stride = max(1, math.ceil(total / source.max_frames))
        calibration = CalibrationCache(rectify=source.rectify)
        last_error: Exception | None = None
        warned_kept = False
        cx_offsets_px: dict[int, float] = {}
        for frame in reader_frames:
            result.pairs += 1
            if (result.pairs - 1) % result.stride:
                continue
            update = calibration.update(frame.left_info, frame.right_info, stamp_ns=frame.stamp_ns)
            if update.rejected is not None:
                result.rejected_calibration += 1
                last_error = update.rejected
                if update.in_use is not None and not warned_kept:
                    warned_kept = True
                    warn(f"stereo_depth_adapt: frame at {frame.stamp_ns / 1e9:.3f} s: camera_info rejected "
                         f"({type(update.rejected).__name__}: {update.rejected}); keeping "
                         f"{update.in_use.calibration_id}, the last good calibration (further rejections are "
                         "only counted)")
            if update.in_use is None:
                result.skipped_calibration += 1
                _warn_skip(warn, frame, update.rejected, result.skipped_calibration + result.skipped_images)
                continue
            if update.changed:
                result.calibrations.append(update.in_use.calibration_id)
            rig = update.in_use.rig
            try:
                left, right = rig.rectify(matching_image(frame.left_image), matching_image(frame.right_image))
            except (ImageShapeError, ImageConversionError) as err:
                result.skipped_images += 1
                last_error = err
                _warn_skip(warn, frame, err, result.skipped_calibration + result.skipped_images)
                continue
            if min(left.shape[:2]) < SIZE_MULTIPLE:
                raise ImageShapeError(f"{path}: images are {left.shape[1]}x{left.shape[0]} px; "
                                      f"adaptation needs at least {SIZE_MULTIPLE}x{SIZE_MULTIPLE}")
            hints = classical_hints(left, right, source.hints)
            if clouds is not None:
                hints = _with_lidar_hints(hints, clouds, rig, frame, lidar_settings, result, warn)
            hints = hints.astype(np.float16)
            result.frames.append(AdaptFrame(stamp_ns=frame.stamp_ns, left=_rgb(left), right=_rgb(right),
                                            hints_px=hints))
            cx_offsets_px[frame.stamp_ns] = rig.cx_offset_px
            if len(result.frames) >= source.max_frames:
                break
        if result.skipped_calibration or result.skipped_images or result.rejected_calibration:
            warn(f"stereo_depth_adapt: skipped {result.skipped_calibration} frame(s) before a valid calibration "
                 f"and {result.skipped_images} with unusable images; {result.rejected_calibration} frame(s) with a "
                 "rejected camera_info (read with the last good calibration)")
        if not result.frames:
            if result.pairs == 0:
                counters = reader_frames.counters
                raise NoStereoFramesError(
                    f"{path}: no stereo frame could be made from {counters.left_images} left and "
                    f"{counters.right_images} right images ({counters.unmatched} unmatched, "
                    f"{counters.without_info} pairs before both camera_infos)")
            assert last_error is not None
            kind = CalibrationError if isinstance(last_error, CalibrationError) else ImageShapeError
            raise kind(f"{path}: none of the {result.pairs} stereo pairs could be used; the last one: {last_error}")
        if source.ground_truth_topic and normalize_topic(source.ground_truth_topic) in reader.topics \
                and reader.topics[normalize_topic(source.ground_truth_topic)].msgtype == DISPARITY_TYPE:
            _attach_ground_truth(reader, source.ground_truth_topic, result, cx_offsets_px)
    return result


def _with_lidar_hints(hints_px: np.ndarray, clouds: BagClouds, rig: StereoCameraModel, frame: StereoFrame,
                      settings: LidarHintSettings, result: BagFrames, warn: Callable[[str], None]) -> np.ndarray:
    """``hints_px`` with the nearest cloud's points where they land (counted), or unchanged (reported once per kind)."""
    try:
        lidar_px = clouds.hints_for(rig, image_stamp_ns=frame.stamp_ns, settings=settings)
    except (LidarHintError, PointCloudConversionError) as err:
        kind = type(err).__name__
        if kind not in result.lidar_rejected:
            warn(f"stereo_depth_adapt: frame at {frame.stamp_ns / 1e9:.3f} s: cloud on {clouds.topic} not used "
                 f"({kind}: {err}); classical hints only (further {kind}s are only counted)")
        result.lidar_rejected[kind] = result.lidar_rejected.get(kind, 0) + 1
        return hints_px
    result.lidar_frames += 1
    return np.where(np.isfinite(lidar_px), lidar_px, hints_px)


def _warn_skip(warn: Callable[[str], None], frame: StereoFrame, error: Exception | None, count: int) -> None:
    if count <= _SKIP_WARNINGS:
        warn(f"stereo_depth_adapt: frame at {frame.stamp_ns / 1e9:.3f} s skipped: {error}")
    elif count == _SKIP_WARNINGS + 1:
        warn("stereo_depth_adapt: more frames skipped (counted at the end)")


def _attach_ground_truth(reader: BagReader, topic: str, result: BagFrames, cx_offsets_px: dict[int, float]) -> None:
    """Put each kept frame's ground truth (same header stamp and size) into it, in our convention
    (the message's image + cx_left - cx_right of the frame's rig)."""
    wanted = {frame.stamp_ns: index for index, frame in enumerate(result.frames)}
    for message in reader.messages([topic]):
        truth = message.deserialize()
        index = wanted.get(stamp_ns(truth.header.stamp))
        if index is None:
            continue
        frame = result.frames[index]
        disparity = disparity_px_from_message(truth, cx_offset_px=cx_offsets_px[frame.stamp_ns])
        if disparity.shape != frame.left.shape[:2]:
            continue
        result.frames[index] = AdaptFrame(frame.stamp_ns, frame.left, frame.right, frame.hints_px, disparity)
    result.ground_truth_frames = sum(frame.ground_truth_px is not None for frame in result.frames)
