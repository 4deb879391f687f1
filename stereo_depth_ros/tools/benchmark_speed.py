"""Speed section of ``stereo_depth_benchmark``: per-stage timings of the shared pipeline on this machine.

For each resolution and backend the pipeline runs on a *raw* pair of a
distorted, slightly rotated rig (``benchmark_scenes.distorted_rig``), so
``rectify`` is a real remap, with a coloured point cloud and the settings of the
backend's variant (below). Per frame
it records the pipeline's own stages (rectify, hints, match (with the
left-right check where it is on), depth, points), then builds the messages the node publishes (``pack``: disparity,
depth, depth/camera_info, confidence, points2, left/image_rect, with
``ros.messages``) and serializes them as ``publish`` would (``serialize``);
``total`` is the wall time of all of that. Frames after the warm-up are
summarised as median and 90th percentile. The backends of one resolution run
interleaved, one frame of each in turn, so that a machine whose speed drifts
(a shared VM) slows every row alike and the ratios between rows hold.

For the network, ``match`` is split in a second loop over the rectified pair:
``pre`` (``backends.preprocessing.prepare_network_batch``), ``network``
(``InferenceSession.run`` alone, the left view only as ``match`` runs it),
``network_with_right_view`` (the same run with the right view, as the
left-right check runs it), ``post`` (``decode_network_outputs``) and
``post_checked`` (``decode_checked_outputs``: the left-right check at model
resolution, then the left view). The session of that loop is created with the
options ``OnnxBackend`` uses (full graph optimisation, sequential execution,
the same thread counts).

Backends (``--backends``): ``default`` (the network with the node's default
pipeline settings, read from its parameter schema: ``ros.parameters.pipeline_config``
of the defaults), ``default+lr`` (the same with the left-right check on), ``onnx``
(the network, no hints, left-right check on), ``onnx-no-lr`` (the same without
the check), ``onnx+classical`` (``onnx`` with classical hints matched at
``--classical-hint-scale``, which adds an SGBM pass), ``sgbm`` and ``bm`` (search
range ``--max-disparity-px``, our defaults otherwise, left-right check on), and on
a GPU ``onnx-cuda``, ``onnx-tensorrt`` and ``tensorrt`` (native, FP16), see
:func:`gpu_section`. Each row records its ``configuration`` in words.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from stereo_depth_ros.backends import (
    BackendError,
    BmParams,
    SgbmParams,
    StereoBackend,
    create_backend,
    probe_tensorrt,
)
from stereo_depth_ros.backends.contract import OUTPUT_NAMES
from stereo_depth_ros.backends.onnx_backend import CUDA_EP, TENSORRT_EP, session_options
from stereo_depth_ros.backends.preprocessing import (
    decode_checked_outputs,
    decode_network_outputs,
    prepare_network_batch,
)
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig, StereoOutput, StereoPipeline
from stereo_depth_ros.ros.parameters import pipeline_config, settings_from_values
from stereo_depth_ros.tools.benchmark_metrics import ModelFile, choose_model, describe_configuration, summarize_ms
from stereo_depth_ros.tools.benchmark_scenes import RawStereoInput

__all__ = [
    "CPU_BACKENDS",
    "NETWORK_SPLIT_PARTS",
    "NETWORK_VARIANTS",
    "PIPELINE_STAGES",
    "SpeedSettings",
    "gpu_section",
    "message_packer",
    "speed_section",
]

#: Stages ``StereoPipeline.process`` reports, in order.
PIPELINE_STAGES: Final = ("rectify", "hints", "match", "depth", "points")
#: Parts of the network's ``match`` that ``time_network_split`` reports, in order.
NETWORK_SPLIT_PARTS: Final = ("pre", "network", "network_with_right_view", "post", "post_checked")
CPU_BACKENDS: Final = ("default", "default+lr", "onnx", "onnx-no-lr", "onnx+classical", "sgbm", "bm")
#: The ``CPU_BACKENDS`` that run the network.
NETWORK_VARIANTS: Final = ("default", "default+lr", "onnx", "onnx-no-lr", "onnx+classical")
#: Disparity step the OpenCV matchers resolve, px (their fixed point is 1/16 px).
_OPENCV_DELTA_D_PX: Final = 1.0 / 16.0


@dataclass(frozen=True)
class SpeedSettings:
    """What the speed section runs.

    Attributes:
        backends: names of ``CPU_BACKENDS`` to time.
        max_disparity_px: search range of the classical matchers, px (rounded up to a multiple of 16).
        warmup: frames run and discarded first, per backend and resolution.
        frames: frames measured, per backend and resolution.
        onnx_threads: ONNX Runtime intra-op threads (0 = its default, one per physical core).
        split_network: also time pre-processing / network / post-processing separately.
        classical_hint_scale: classical hints (onnx+classical) are matched at this fraction of the image size.
    """

    backends: tuple[str, ...] = CPU_BACKENDS
    max_disparity_px: int = 192
    warmup: int = 5
    frames: int = 50
    onnx_threads: int = 0
    split_network: bool = True
    classical_hint_scale: float = 1.0

    @property
    def num_disparities(self) -> int:
        """The classical search range as OpenCV needs it: a multiple of 16, px."""
        return int(math.ceil(self.max_disparity_px / 16.0)) * 16


Packer = Callable[[StereoOutput, StereoBackend], tuple[float, float]]


def message_packer() -> tuple[Packer | None, str]:
    """A function that builds and serializes the node's messages for one output, and a note.

    Returns:
        (packer, "") where the ROS message packages are importable; otherwise
        (None, why). The packer returns (pack_ms, serialize_ms).
    """
    try:
        from builtin_interfaces.msg import Time
        from rclpy.serialization import serialize_message

        from stereo_depth_ros.ros.image_conversion import numpy_to_image
        from stereo_depth_ros.ros.messages import (
            camera_info_message,
            depth_image_message,
            disparity_image_message,
            left_rectified_header,
            point_cloud2_message,
        )
    except ImportError as err:
        return None, f"skipped: ROS message packages not importable ({err})"

    def pack(output: StereoOutput, backend: StereoBackend) -> tuple[float, float]:
        start = time.perf_counter()
        rig, stamp = output.camera, Time(sec=1_700_000_000, nanosec=0)
        header = left_rectified_header(rig, stamp)
        max_d = float(backend.max_disparity_px_for((rig.height, rig.width)))
        messages: list[object] = [
            disparity_image_message(output.disparity_px, rig, stamp=stamp, min_disparity_px=0.0,
                                    max_disparity_px=max_d, delta_d_px=_OPENCV_DELTA_D_PX),
            depth_image_message(output.depth_m, header=header),
            camera_info_message(rig, stamp=stamp),
            numpy_to_image(output.confidence, "32FC1", header=header),
            numpy_to_image(output.left_rect, "rgb8" if output.left_rect.ndim == 3 else "mono8", header=header),
        ]
        if output.points is not None:
            messages.append(point_cloud2_message(output.points.xyz_m, output.points.rgb, header=header))
        packed = time.perf_counter()
        for message in messages:
            serialize_message(message)
        done = time.perf_counter()
        return (packed - start) * 1000.0, (done - packed) * 1000.0

    return pack, ""


def _make_backend(name: str, settings: SpeedSettings,
                  model: ModelFile | None) -> tuple[StereoBackend, PipelineConfig]:
    """(backend, pipeline settings) of a ``CPU_BACKENDS`` name (see the module docstring)."""
    if name in NETWORK_VARIANTS:
        if model is None:
            raise BackendError("no ONNX model file found")
        backend = create_backend("onnx", model_path=model.path, providers=["cpu"],
                                 intra_op_threads=settings.onnx_threads)
        if name in ("default", "default+lr"):
            return backend, pipeline_config(settings_from_values({"lr_check": True} if name == "default+lr" else {}))
        return backend, PipelineConfig(hints="classical" if name == "onnx+classical" else "none",
                                       lr_check=name != "onnx-no-lr",
                                       classical_hints=ClassicalHintConfig(scale=settings.classical_hint_scale))
    if name == "sgbm":
        return create_backend("sgbm", params=SgbmParams(num_disparities=settings.num_disparities)), PipelineConfig()
    if name == "bm":
        return create_backend("bm", params=BmParams(num_disparities=settings.num_disparities)), PipelineConfig()
    raise BackendError(f"unknown benchmark backend {name!r}; choose from {list(CPU_BACKENDS)}")


class PipelineTimer:
    """One backend's pipeline on one raw pair, timed a frame at a time (:func:`time_interleaved`)."""

    def __init__(self, backend: StereoBackend, raw: RawStereoInput, config: PipelineConfig, *,
                 packer: Packer | None) -> None:
        self.backend = backend
        self.raw = raw
        self.packer = packer
        self.pipeline = StereoPipeline(backend, config)
        self.samples: dict[str, list[float]] = {}
        self.totals: list[float] = []

    def run_frame(self, *, record: bool) -> None:
        """Process the pair once (and pack its messages with ``packer``); keep the timings if ``record``."""
        start = time.perf_counter()
        output = self.pipeline.process(self.raw.left, self.raw.right, self.raw.rig)
        stages = dict(output.timings_ms)
        if self.packer is not None:
            stages["pack"], stages["serialize"] = self.packer(output, self.backend)
        elapsed = (time.perf_counter() - start) * 1000.0
        if record:
            for stage, value in stages.items():
                self.samples.setdefault(stage, []).append(value)
            self.totals.append(elapsed)

    def summary(self) -> dict[str, Any]:
        """{"stages": {stage: TimingStats dict}, "total": TimingStats dict} of the recorded frames; stages
        include "pack" and "serialize" when there is a packer."""
        return {"stages": {stage: summarize_ms(values).as_dict() for stage, values in self.samples.items()},
                "total": summarize_ms(self.totals).as_dict()}


def time_interleaved(timers: Sequence[PipelineTimer], *, warmup: int, frames: int) -> list[dict[str, Any]]:
    """Run ``warmup + frames`` frames of every timer, one frame of each in turn; their summaries, in order."""
    for index in range(warmup + frames):
        for timer in timers:
            timer.run_frame(record=index >= warmup)
    return [timer.summary() for timer in timers]


def time_network_split(model: ModelFile, left_rect: np.ndarray, right_rect: np.ndarray, *, threads: int,
                       warmup: int, frames: int, lr_max_diff_px: float = 1.0) -> dict[str, Any]:
    """The parts of ``match`` (``NETWORK_SPLIT_PARTS``), with a CPU session configured as ``OnnxBackend``'s.

    ``network``: the run without the right view (``match``); ``network_with_right_view``: the run the
    left-right check makes (``match_checked``); ``post`` decodes the first, ``post_checked`` checks and
    decodes the second.

    Args:
        model: the network file.
        left_rect, right_rect: (H, W, 3) uint8 RGB rectified pair.
        threads: intra-op threads (0 = ONNX Runtime's default).
        lr_max_diff_px: the left-right check's tolerance in ``post_checked``, input px.
    """
    import onnxruntime as ort

    options = session_options(ort, intra_op_threads=threads, inter_op_threads=1)   # as OnnxBackend's
    session = ort.InferenceSession(str(model.path), sess_options=options, providers=["CPUExecutionProvider"])
    samples: dict[str, list[float]] = {}
    for index in range(warmup + frames):
        t0 = time.perf_counter()
        batch = prepare_network_batch(left_rect, right_rect, model_hw=model.input_hw)
        t1 = time.perf_counter()
        disparity, confidence, _ = session.run(list(OUTPUT_NAMES), batch.feeds)
        t2 = time.perf_counter()
        decode_network_outputs(disparity, confidence, batch)
        t3 = time.perf_counter()
        checked = prepare_network_batch(left_rect, right_rect, model_hw=model.input_hw, with_right_view=True)
        t4 = time.perf_counter()
        outputs = session.run(list(OUTPUT_NAMES), checked.feeds)
        t5 = time.perf_counter()
        decode_checked_outputs(*outputs, checked, max_diff_px=lr_max_diff_px)
        t6 = time.perf_counter()
        if index >= warmup:
            for part, value in zip(NETWORK_SPLIT_PARTS, (t1 - t0, t2 - t1, t5 - t4, t3 - t2, t6 - t5)):
                samples.setdefault(part, []).append(value * 1000.0)
    return {part: summarize_ms(values).as_dict() for part, values in samples.items()}


def speed_section(inputs: Sequence[RawStereoInput], settings: SpeedSettings, models: Sequence[ModelFile], *,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """Time every backend at every resolution; ratios are to SGBM at the same resolution in this run.

    Args:
        inputs: one raw pair per resolution.
        settings: the section's settings.
        models: available network files (the one fitting each resolution is used).
        log: progress lines (stderr).
    """
    packer, pack_note = message_packer()
    resolutions = []
    for raw in inputs:
        height, width = raw.left.shape[:2]
        model = choose_model((height, width), models) if models else None
        rows: list[dict[str, Any]] = []
        timed: list[tuple[dict[str, Any], PipelineTimer]] = []
        for name in settings.backends:
            row: dict[str, Any] = {"backend": name}
            rows.append(row)
            try:
                backend, config = _make_backend(name, settings, model)
            except BackendError as err:
                row["skipped"] = f"skipped: {err}"
                continue
            row["describe"] = backend.describe()
            row["configuration"] = _configuration(name, config)
            if name in NETWORK_VARIANTS and model is not None:
                row["model"] = model.path.name
            timed.append((row, PipelineTimer(backend, raw, config, packer=packer)))
        log(f"speed: {', '.join(row['backend'] for row, _ in timed)} at {width}x{height}, interleaved "
            f"({settings.warmup} + {settings.frames} frames each)")
        for (row, _), summary in zip(timed, time_interleaved([timer for _, timer in timed], warmup=settings.warmup,
                                                              frames=settings.frames)):
            row.update(summary)
        onnx_row = next((row for row, _ in timed if row["backend"] == "onnx"), None)
        if onnx_row is not None and settings.split_network and model is not None:   # as the onnx row timed it
            log(f"speed: network split at {width}x{height} ({settings.warmup} + {settings.frames} frames)")
            left_rect, right_rect = raw.rig.rectify(raw.left, raw.right)
            onnx_row["network_split"] = time_network_split(model, left_rect, right_rect,
                                                           threads=settings.onnx_threads,
                                                           warmup=settings.warmup, frames=settings.frames)
        _add_ratios(rows)
        resolutions.append({"size": f"{width}x{height}", "model": model.path.name if model else None,
                            "backends": rows})
    return {"warmup": settings.warmup, "frames": settings.frames, "max_disparity_px": settings.max_disparity_px,
            "classical_num_disparities": settings.num_disparities, "onnx_threads": settings.onnx_threads,
            "pack_note": pack_note, "resolutions": resolutions}


def _configuration(name: str, config: PipelineConfig) -> str:
    """What a ``CPU_BACKENDS`` row runs, in words (hints only for the network, which reads them)."""
    if name in NETWORK_VARIANTS:
        words = describe_configuration(hints=config.hints, classical_hint_scale=config.classical_hints.scale,
                                       lr_check=config.lr_check)
        return f"node default: {words}" if name.startswith("default") else words
    return f"LR check {'on' if config.lr_check else 'off'}"


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Median total and match time of each backend divided by SGBM's (same resolution, same run)."""
    sgbm = next((r for r in rows if r["backend"] == "sgbm" and "total" in r), None)
    for row in rows:
        if sgbm is None or "total" not in row:
            continue
        row["ratio_to_sgbm"] = {
            "total": row["total"]["median_ms"] / sgbm["total"]["median_ms"],
            "match": row["stages"]["match"]["median_ms"] / sgbm["stages"]["match"]["median_ms"],
        }


def gpu_section(inputs: Sequence[RawStereoInput], settings: SpeedSettings, models: Sequence[ModelFile], *,
                log: Callable[[str], None]) -> dict[str, Any]:
    """The network on a GPU: ONNX Runtime's CUDA and TensorRT EPs and native TensorRT (FP16).

    Runs only what this machine offers; with none of them it returns
    {"skipped": "skipped: no GPU ..."}. A backend that fails to start is
    recorded as "failed: ..." and the others still run.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    probe = probe_tensorrt()
    candidates: list[tuple[str, Callable[[ModelFile], StereoBackend]]] = []
    if CUDA_EP in available:
        candidates.append(("onnx-cuda", lambda m: create_backend("onnx", model_path=m.path, providers=["cuda"])))
    if TENSORRT_EP in available:
        candidates.append(("onnx-tensorrt", lambda m: create_backend(
            "onnx", model_path=m.path, providers=["tensorrt", "cuda"], allow_provider_fallback=True,
            trt_fp16=True)))
    if probe.available:
        candidates.append(("tensorrt-fp16", lambda m: create_backend("tensorrt", model_path=m.path,
                                                                     precision="fp16")))
    if not candidates or not models:
        why = (f"ONNX Runtime offers {available}; native TensorRT: {probe.reason.split('. ')[0]}"
               if not candidates else "no ONNX model file")
        return {"skipped": f"skipped: no GPU ({why})"}
    resolutions = []
    for raw in inputs:
        height, width = raw.left.shape[:2]
        model = choose_model((height, width), models)
        rows = []
        for name, make in candidates:
            log(f"gpu: {name} at {width}x{height}")
            try:
                backend = make(model)
            except BackendError as err:
                rows.append({"backend": name, "skipped": f"failed: {err}"})
                continue
            row: dict[str, Any] = {"backend": name, "model": model.path.name, "describe": backend.describe()}
            row.update(time_interleaved([PipelineTimer(backend, raw, PipelineConfig(), packer=None)],
                                        warmup=settings.warmup, frames=settings.frames)[0])
            rows.append(row)
        resolutions.append({"size": f"{width}x{height}", "model": model.path.name, "backends": rows})
    gpu = probe.gpu
    return {"device": f"{gpu.name} (sm {gpu.compute_capability[0]}{gpu.compute_capability[1]})" if gpu else "",
            "providers": available, "warmup": settings.warmup, "frames": settings.frames,
            "classical_num_disparities": settings.num_disparities, "resolutions": resolutions}
