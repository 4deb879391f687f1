"""Self-supervised adaptation of StereoNet to a user's own unlabelled rosbag (seeded, resumable).

    stereo_depth_adapt my_bag --run-dir runs/adapt --steps 1000
    stereo_depth_export runs/adapt/last.pt --sizes 640x480 --out-dir my_models

Frames come from the bag exactly as ``stereo_bag_process`` and the node see
them: ``ros.bag_io.StereoFrameReader`` pairs left and right images with the
node's synchroniser, the rig is built from each pair's CameraInfos
(``ros.messages.calibration_from_camera_info``,
``StereoCameraModel.from_calibrations``) and the images are rectified with it.
Frames whose calibration (or image size) is bad are skipped and counted. At
most ``--max-frames`` frames, spread evenly over the bag, are kept in memory
with their classical hints (``pipeline.classical_hints``, computed once)
and, with ``--lidar-topic``, the LiDAR points of the cloud nearest in stamp
(``ros.lidar_bag.BagClouds``: the node's stamp and frame rules, the
``--lidar_*`` options and the bag's /tf_static) in place of classical hints
where they land, as the node's ``hints: both``; every ``--holdout-every``-th
frame is held out of training.

Training sample ``i`` (a random crop of a random training frame, light
photometric augmentation of the network's inputs, random vertical flip, the
classical hints as input with probability ``--hint-input-probability``)
depends only on ``(seed, i)``. The loss (``training.self_supervised``) is an
auto-masked photometric reconstruction of the left image, edge-aware
smoothness and a supervised term on the classical hints (SGBM's sure pixels).

``last.pt`` in the run directory has the format of ``stereo_depth_train``'s
(model, optimiser, step, the full configuration with ``model``, metrics), so
``stereo_depth_export`` exports it unchanged; running the same command again
resumes from it. ``log.jsonl`` holds the losses and the evaluations. Before
training and at the end the self-supervised loss is measured on training and
held-out frames and, when the bag has ground truth (``ground_truth/disparity``,
as ``stereo_bag_from_dataset`` writes it), bad-2 and EPE without and with
classical hints as input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import torch

from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.errors import CalibrationError, ImageShapeError
from stereo_depth_ros.core.metrics import StereoMetrics, evaluate_disparity
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
    stamp_ns,
)
from stereo_depth_ros.ros.errors import ImageConversionError, LidarHintError, PointCloudConversionError, RosLayerError
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.lidar_bag import BagClouds
from stereo_depth_ros.ros.lidar_input import LidarHintSettings
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME, settings_from_values
from stereo_depth_ros.tools.bag_evaluate import combine
from stereo_depth_ros.tools.bag_process import add_parameter_options
from stereo_depth_ros.tools.errors import NoStereoFramesError, UsageError, run_tool
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig
from stereo_depth_ros.training.self_supervised import (
    SelfSupervisedWeights,
    self_supervised_loss,
)
from stereo_depth_ros.training.train import open_run, predict, save_checkpoint

__all__ = [
    "DEFAULT_INIT_FROM",
    "AdaptConfig",
    "AdaptFrame",
    "BagFrames",
    "adapt",
    "build_parser",
    "config_from_args",
    "crop_size",
    "evaluate_frames",
    "format_report",
    "main",
    "make_adapt_sample",
    "read_bag_frames",
]

#: The bundled weights (relative to the working directory, else to the source checkout).
DEFAULT_INIT_FROM: Final = "models/checkpoints/stereo_net.pt"
#: Node parameters that decide how frames are read (same names, defaults and ranges as the node's).
_NODE_OPTIONS: Final = ("rectify", "approximate_sync", "approximate_sync_tolerance_seconds", "queue_size",
                         "lidar_frame_id", "lidar_transform", "lidar_stamp_tolerance_s", "lidar_min_depth_m",
                         "lidar_max_depth_m")
_SKIP_WARNINGS: Final = 5


@dataclass(frozen=True)
class AdaptConfig:
    """Everything that fixes an adaptation run (stored in every checkpoint).

    Attributes:
        bag: the input bag, as given.
        topics: the four stereo input topics.
        ground_truth_topic: DisparityImage topic scored when present (None = never).
        rectify, approximate_sync, approximate_sync_tolerance_seconds, queue_size: as the
            node parameters of the same names.
        lidar_topic: PointCloud2 topic whose points replace the classical hints where they land
            (None = classical hints only).
        lidar_frame_id, lidar_transform, lidar_stamp_tolerance_s, lidar_min_depth_m, lidar_max_depth_m:
            as the node parameters of the same names.
        max_frames: frames kept, spread evenly over the bag.
        holdout_every: every n-th kept frame (n-1, 2n-1, ...) is held out; 0 = none.
        eval_frames: frames per split scored before and after (evenly spaced).
        init_from: checkpoint whose weights start the run (None: random initialisation).
        steps, batch_size, learning_rate, weight_decay, warmup_steps, grad_clip, seed: optimisation
            (AdamW; linear warm-up, then constant).
        crop_height, crop_width: sample size, px, multiples of 32 (smaller frames: the largest
            multiple of 32 that fits).
        hint_input_probability: share of samples with classical hints as network input.
        weights: the loss weights.
        hints: the classical matcher of the hints.
        model: the architecture (that of ``init_from``).
    """

    bag: str
    topics: StereoTopics = field(default_factory=StereoTopics)
    ground_truth_topic: str | None = GROUND_TRUTH_TOPIC
    rectify: bool = True
    approximate_sync: bool = False
    approximate_sync_tolerance_seconds: float = 0.01
    queue_size: int = 5
    lidar_topic: str | None = None
    lidar_frame_id: str = ""
    lidar_transform: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    lidar_stamp_tolerance_s: float = 0.05
    lidar_min_depth_m: float = 0.1
    lidar_max_depth_m: float = 100.0
    max_frames: int = 200
    holdout_every: int = 10
    eval_frames: int = 8
    init_from: str | None = None
    steps: int = 1000
    batch_size: int = 4
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    grad_clip: float = 1.0
    seed: int = 1
    crop_height: int = 256
    crop_width: int = 512
    hint_input_probability: float = 0.5
    weights: SelfSupervisedWeights = field(default_factory=SelfSupervisedWeights)
    hints: ClassicalHintConfig = field(default_factory=ClassicalHintConfig)
    model: StereoNetConfig = field(default_factory=StereoNetConfig)

    def __post_init__(self) -> None:
        for name in ("max_frames", "eval_frames", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.holdout_every < 0 or self.holdout_every == 1:
            raise ValueError(f"holdout_every must be 0 (none) or >= 2, got {self.holdout_every}")
        if self.crop_height < 32 or self.crop_width < 32 or self.crop_height % 32 or self.crop_width % 32:
            raise ValueError(f"crop must be multiples of 32 px, got {self.crop_width}x{self.crop_height}")
        if not 0.0 <= self.hint_input_probability <= 1.0:
            raise ValueError(f"hint_input_probability must be in [0, 1], got {self.hint_input_probability}")
        if not (self.learning_rate >= 0.0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a finite number >= 0, got {self.learning_rate}")


@dataclass(frozen=True)
class AdaptFrame:
    """One rectified frame in memory.

    Attributes:
        stamp_ns: header stamp of the left image, ns.
        left, right: (H, W, 3) uint8 RGB, rectified (grey images repeated in 3 channels).
        hints_px: (H, W) float16 hints, px; NaN = none: classical, and LiDAR points where they land.
        ground_truth_px: (H, W) float32 disparity d = x_left - x_right, px, NaN = unknown;
            None when the bag has no ground truth for this stamp.
    """

    stamp_ns: int
    left: np.ndarray
    right: np.ndarray
    hints_px: np.ndarray
    ground_truth_px: np.ndarray | None = None


@dataclass
class BagFrames:
    """What ``read_bag_frames`` kept and skipped.

    Attributes:
        frames: kept frames in bag order.
        pairs: stereo pairs the synchroniser made.
        stride: every stride-th pair was kept.
        skipped_calibration: pairs skipped for a bad CameraInfo or rig.
        skipped_images: pairs skipped for images that cannot be used (encoding, size).
        ground_truth_frames: kept frames with ground truth.
        lidar_frames: kept frames with LiDAR hints.
        lidar_rejected: kept frames whose nearest cloud was not used, by error type.
    """

    frames: list[AdaptFrame] = field(default_factory=list)
    pairs: int = 0
    stride: int = 1
    skipped_calibration: int = 0
    skipped_images: int = 0
    ground_truth_frames: int = 0
    lidar_frames: int = 0
    lidar_rejected: dict[str, int] = field(default_factory=dict)

    def split(self, holdout_every: int) -> tuple[list[AdaptFrame], list[AdaptFrame]]:
        """(training frames, held-out frames): kept frame k is held out when k % n == n - 1."""
        if holdout_every <= 0:
            return list(self.frames), []
        held = [k % holdout_every == holdout_every - 1 for k in range(len(self.frames))]
        return ([f for f, h in zip(self.frames, held) if not h], [f for f, h in zip(self.frames, held) if h])


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image)


def read_bag_frames(path: str | Path, config: AdaptConfig, *,
                    warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> BagFrames:
    """Read, rectify and hint at most ``config.max_frames`` frames of a bag, evenly spread.

    Raises:
        BagReadError: the bag is missing, not a bag, truncated or damaged; a topic is missing.
        NoStereoFramesError: not one left/right pair could be made.
        CalibrationError: every pair had a bad calibration.
        ImageShapeError: every pair had unusable images.
    """
    result = BagFrames()
    with BagReader(path) as reader, ExitStack() as stack:
        clouds = stack.enter_context(BagClouds(path, config.lidar_topic)) if config.lidar_topic else None
        lidar_settings = _lidar_settings(config)
        for problem in clouds.static_transform_problems if clouds is not None else ():
            warn(f"stereo_depth_adapt: /tf_static: {problem}")
        topics = config.topics
        reader_frames = StereoFrameReader(reader, topics, queue_size=config.queue_size,
                                          approximate=config.approximate_sync,
                                          tolerance_ns=round(config.approximate_sync_tolerance_seconds * 1e9))
        total = min(reader.topics[normalize_topic(topics.left_image)].message_count,
                    reader.topics[normalize_topic(topics.right_image)].message_count)
        result.stride = max(1, math.ceil(total / config.max_frames))
        rig_key: tuple[object, object] | None = None
        rig: StereoCameraModel | None = None
        last_error: Exception | None = None
        cx_offsets_px: dict[int, float] = {}
        for frame in reader_frames:
            result.pairs += 1
            if (result.pairs - 1) % result.stride:
                continue
            try:
                key = (frame.left_info, frame.right_info)
                if rig is None or rig_key is None or any(a != b for a, b in zip(key, rig_key)):
                    rig, rig_key = None, None   # stays unset if this calibration is bad
                    rig = StereoCameraModel.from_calibrations(calibration_from_camera_info(frame.left_info),
                                                              calibration_from_camera_info(frame.right_info),
                                                              rectified_input=not config.rectify)
                    rig_key = key
                left, right = rig.rectify(matching_image(frame.left_image), matching_image(frame.right_image))
            except CalibrationError as err:
                result.skipped_calibration += 1
                last_error = err
                _warn_skip(warn, frame, err, result.skipped_calibration + result.skipped_images)
                continue
            except (ImageShapeError, ImageConversionError) as err:
                result.skipped_images += 1
                last_error = err
                _warn_skip(warn, frame, err, result.skipped_calibration + result.skipped_images)
                continue
            if min(left.shape[:2]) < 32:
                raise ImageShapeError(f"{path}: images are {left.shape[1]}x{left.shape[0]} px; "
                                      "adaptation needs at least 32x32")
            hints = classical_hints(left, right, config.hints)
            if clouds is not None:
                hints = _with_lidar_hints(hints, clouds, rig, frame, lidar_settings, result, warn)
            hints = hints.astype(np.float16)
            result.frames.append(AdaptFrame(stamp_ns=frame.stamp_ns, left=_rgb(left), right=_rgb(right),
                                            hints_px=hints))
            cx_offsets_px[frame.stamp_ns] = rig.cx_offset_px
            if len(result.frames) >= config.max_frames:
                break
        if result.skipped_calibration or result.skipped_images:
            warn(f"stereo_depth_adapt: skipped {result.skipped_calibration} frame(s) with a bad calibration and "
                 f"{result.skipped_images} with unusable images")
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
        if config.ground_truth_topic and normalize_topic(config.ground_truth_topic) in reader.topics \
                and reader.topics[normalize_topic(config.ground_truth_topic)].msgtype == DISPARITY_TYPE:
            _attach_ground_truth(reader, config.ground_truth_topic, result, cx_offsets_px)
    return result


def _lidar_settings(config: AdaptConfig) -> LidarHintSettings:
    """The lidar_ options as the node reads its parameters (validated there)."""
    return LidarHintSettings.from_settings(settings_from_values({
        "lidar_frame_id": config.lidar_frame_id, "lidar_transform": list(config.lidar_transform),
        "lidar_stamp_tolerance_s": config.lidar_stamp_tolerance_s, "lidar_min_depth_m": config.lidar_min_depth_m,
        "lidar_max_depth_m": config.lidar_max_depth_m}))


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


def _warn_skip(warn: Callable[[str], None], frame: StereoFrame, error: Exception, count: int) -> None:
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


# ------------------------------------------------------------------ samples

def crop_size(config: AdaptConfig, height: int, width: int) -> tuple[int, int]:
    """(crop height, crop width), px: the configured crop, shrunk to multiples of 32 that fit the frame."""
    return min(config.crop_height, height // 32 * 32), min(config.crop_width, width // 32 * 32)


def _light_photometric(left: np.ndarray, right: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shared gamma and brightness, small per-view colour gains and noise; (h, w, 3) float32 [0, 1]."""
    gamma, brightness = rng.uniform(0.9, 1.1), rng.uniform(-0.05, 0.05)
    views = []
    for image in (left, right):
        image = np.clip(image * rng.uniform(0.95, 1.05, 3).astype(np.float32) + brightness, 0.0, 1.0) ** gamma
        image = image + rng.normal(0.0, rng.uniform(0.0, 0.01), image.shape).astype(np.float32)
        views.append(np.clip(image, 0.0, 1.0).astype(np.float32))
    return views[0], views[1]


def make_adapt_sample(frame: AdaptFrame, rng: np.random.Generator, config: AdaptConfig) -> dict[str, np.ndarray]:
    """One training sample of a frame.

    Returns:
        ``left``, ``right``: (3, h, w) float32 [0, 1], the crop the loss compares (no augmentation);
        ``left_input``, ``right_input``: the same, photometrically augmented, for the network;
        ``hints``: (1, h, w) float32 px, every classical hint of the crop, NaN = none (loss target);
        ``hint_disparity`` (1, h, w) float32 px, 0 = none, and ``hint_mask`` (1, h, w) float32
        {0, 1}: the network's hint input (a random subset of ``hints``, or none).
    """
    height, width = frame.left.shape[:2]
    crop_h, crop_w = crop_size(config, height, width)
    top = int(rng.integers(0, height - crop_h + 1))
    start = int(rng.integers(0, width - crop_w + 1))
    window = np.s_[top:top + crop_h, start:start + crop_w]
    left = frame.left[window].astype(np.float32) / 255.0
    right = frame.right[window].astype(np.float32) / 255.0
    hints = frame.hints_px[window].astype(np.float32)
    if rng.random() < 0.5:  # an upside-down rig is still a rectified rig
        left, right, hints = left[::-1], right[::-1], hints[::-1]
    left_input, right_input = _light_photometric(left, right, rng)
    mask = np.zeros(hints.shape, bool)
    if rng.random() < config.hint_input_probability:
        mask = np.isfinite(hints) & (rng.random(hints.shape) < rng.uniform(0.05, 1.0))

    def chw(image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image.transpose(2, 0, 1))

    return {"left": chw(left), "right": chw(right), "left_input": chw(left_input), "right_input": chw(right_input),
            "hints": np.ascontiguousarray(hints[None]),
            "hint_disparity": np.where(mask, hints, 0.0).astype(np.float32)[None],
            "hint_mask": mask.astype(np.float32)[None]}


def _batch(frames: Sequence[AdaptFrame], config: AdaptConfig, first_sample: int) -> dict[str, torch.Tensor]:
    samples = []
    for index in range(first_sample, first_sample + config.batch_size):
        rng = np.random.default_rng([config.seed, 11, index])
        samples.append(make_adapt_sample(frames[int(rng.integers(len(frames)))], rng, config))
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}


# ------------------------------------------------------------------ evaluation

def _spread(frames: Sequence[AdaptFrame], count: int) -> list[AdaptFrame]:
    if len(frames) <= count:
        return list(frames)
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, count).round()]


def _tensor_image(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


@torch.no_grad()
def evaluate_frames(net: StereoNet, frames: Sequence[AdaptFrame],
                    weights: SelfSupervisedWeights) -> dict[str, float]:
    """Self-supervised loss and, where there is ground truth, bad-2 and EPE, on whole frames.

    The loss is measured on the top-left crop of each frame to multiples of 32 px,
    without (``loss``) and with (``loss_with_hints``) the classical hints as input; its
    terms without hints are ``photometric``, ``smoothness``, ``hints``. Ground truth is
    scored on the whole frame (``training.train.predict``), with bad-2 (%, missing
    counted as bad) and EPE (px) pooled over the frames' pixels, without
    (``*_no_hints``) and with (``*_classical_hints``) hints.

    Returns:
        the means over ``frames`` (``frames`` and ``ground_truth_frames`` count them);
        {} for no frames.
    """
    if not frames:
        return {}
    was_training = net.training
    net.eval()
    sums: dict[str, float] = {}
    scored: dict[str, list[StereoMetrics]] = {"no_hints": [], "classical_hints": []}
    for frame in frames:
        height, width = (size // 32 * 32 for size in frame.left.shape[:2])
        left = _tensor_image(frame.left[:height, :width])
        right = _tensor_image(frame.right[:height, :width])
        hints = torch.from_numpy(frame.hints_px[:height, :width].astype(np.float32))[None, None]
        mask = torch.isfinite(hints).float()
        zeros = torch.zeros_like(hints)
        plain = self_supervised_loss(net(left, right, zeros, zeros), left, right, hints, weights)
        hinted = self_supervised_loss(net(left, right, torch.nan_to_num(hints, nan=0.0), mask), left, right, hints,
                                      weights)
        for key, value in (("loss", plain["total"]), ("photometric", plain["photometric"]),
                           ("smoothness", plain["smoothness"]), ("hints", plain["hints"]),
                           ("loss_with_hints", hinted["total"])):
            sums[key] = sums.get(key, 0.0) + float(value)
        if frame.ground_truth_px is not None:
            full_hints = frame.hints_px.astype(np.float32)
            for name, hint_input in (("no_hints", None), ("classical_hints", full_hints)):
                prediction = predict(net, frame.left, frame.right, hint_input)
                scored[name].append(evaluate_disparity(prediction, frame.ground_truth_px, thresholds_px=(2.0,)))
    net.train(was_training)
    result = {key: value / len(frames) for key, value in sums.items()}
    result.update(frames=float(len(frames)), ground_truth_frames=float(len(scored["no_hints"])))
    for name, metrics in scored.items():
        if metrics:
            pooled = combine(metrics)
            result[f"bad2_{name}"] = pooled.bad(2.0)
            result[f"epe_{name}"] = pooled.epe_px
    return result


def _evaluate_splits(net: StereoNet, train_frames: Sequence[AdaptFrame], held_out: Sequence[AdaptFrame],
                     config: AdaptConfig) -> dict[str, dict[str, float]]:
    return {"train": evaluate_frames(net, _spread(train_frames, config.eval_frames), config.weights),
            "held_out": evaluate_frames(net, _spread(held_out, config.eval_frames), config.weights)}


def format_report(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> list[str]:
    """Lines comparing the evaluations before and after adaptation."""
    lines = []
    for split, label in (("train", "training frames"), ("held_out", "held-out frames")):
        old, new = before.get(split, {}), after.get(split, {})
        if not old or not new:
            lines.append(f"{label}: none")
            continue
        lines.append(f"{label} ({int(new['frames'])}): self-supervised loss without hints {old['loss']:.4f} -> "
                     f"{new['loss']:.4f}, with classical hints {old['loss_with_hints']:.4f} -> "
                     f"{new['loss_with_hints']:.4f} (photometric {old['photometric']:.4f} -> "
                     f"{new['photometric']:.4f}, hint term {old['hints']:.3f} -> {new['hints']:.3f})")
        for name, text in (("no_hints", "without hints"), ("classical_hints", "with classical hints")):
            if f"bad2_{name}" in old and f"bad2_{name}" in new:
                lines.append(f"  ground truth ({int(new['ground_truth_frames'])} frame(s)) {text}: bad-2 "
                             f"{old[f'bad2_{name}']:.2f} % -> {new[f'bad2_{name}']:.2f} %, EPE "
                             f"{old[f'epe_{name}']:.3f} px -> {new[f'epe_{name}']:.3f} px")
    return lines


# ------------------------------------------------------------------ training

def _learning_rate(step: int, config: AdaptConfig) -> float:
    """Linear warm-up over ``warmup_steps`` (from 5 %), then constant."""
    if step < config.warmup_steps:
        return config.learning_rate * max(step / config.warmup_steps, 0.05)
    return config.learning_rate


def _load_weights(net: StereoNet, config: AdaptConfig) -> None:
    if config.init_from is None:
        return
    state = torch.load(config.init_from, map_location="cpu", weights_only=False)
    model_config = state.get("config", {}).get("model")
    if model_config != asdict(config.model):
        raise UsageError(f"{config.init_from} holds a model {model_config}, not the configured {asdict(config.model)}")
    net.load_state_dict(state["model"])


def adapt(config: AdaptConfig, run_dir: Path, *, threads: int = 1, checkpoint_minutes: float = 5.0,
          log_every: int = 10, max_minutes: float | None = None, evaluate: bool = True,
          out: Callable[[str], None] = lambda text: print(text, flush=True)) -> Path:
    """Adapt (or resume) until ``config.steps`` or ``max_minutes``; returns ``last.pt``.

    The checkpoint's ``metrics`` hold ``before`` (measured once, before the first
    step) and ``after`` (at the end of every invocation), each ``{"train": ...,
    "held_out": ...}`` as ``evaluate_frames`` returns them; ``evaluate=False`` skips both.

    Raises:
        UsageError: ``run_dir`` holds a run of another configuration, or ``init_from``
            holds another architecture.
        and what ``read_bag_frames`` raises.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "last.pt"
    try:
        net, optimiser, step, metrics = open_run(checkpoint_path, config)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if step > 0:
        out(f"resumed at step {step}")
    else:
        _load_weights(net, config)
        out(f"starting from {config.init_from or 'random weights'}")
    started = time.monotonic()
    loaded = read_bag_frames(config.bag, config)
    train_frames, held_out = loaded.split(config.holdout_every)
    out(f"{len(loaded.frames)} frame(s) of {loaded.pairs} pairs (every {loaded.stride}): {len(train_frames)} for "
        f"training, {len(held_out)} held out, {loaded.ground_truth_frames} with ground truth "
        f"({time.monotonic() - started:.1f} s to read, rectify and hint)")
    if config.lidar_topic:
        rejected = "".join(f", {count} {kind}" for kind, count in sorted(loaded.lidar_rejected.items()))
        out(f"LiDAR hints from {normalize_topic(config.lidar_topic)}: {loaded.lidar_frames} frame(s){rejected}")
    with open(run_dir / "log.jsonl", "a") as log:
        def record(entry: dict[str, object]) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()

        if evaluate and "before" not in metrics:
            metrics = {"before": _evaluate_splits(net, train_frames, held_out, config)}
            record({"step": step, "eval": "before", **metrics["before"]})
        started = last_checkpoint = time.monotonic()
        net.train()
        try:
            while step < config.steps:
                for group in optimiser.param_groups:
                    group["lr"] = _learning_rate(step, config)
                batch = _batch(train_frames, config, step * config.batch_size)
                outputs = net(batch["left_input"], batch["right_input"], batch["hint_disparity"], batch["hint_mask"])
                losses = self_supervised_loss(outputs, batch["left"], batch["right"], batch["hints"], config.weights)
                optimiser.zero_grad(set_to_none=True)
                if torch.isfinite(losses["total"]):
                    losses["total"].backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                    optimiser.step()
                else:
                    out(f"step {step}: non-finite loss, batch skipped")
                step += 1
                elapsed = time.monotonic() - started
                if step % log_every == 0 or step == config.steps:
                    entry = {"step": step, "lr": optimiser.param_groups[0]["lr"], "minutes": elapsed / 60,
                             **{key: value.item() for key, value in losses.items()}}
                    record(entry)
                    out(f"step {step}/{config.steps} loss {entry['total']:.4f} photometric {entry['photometric']:.4f} "
                        f"hints {entry['hints']:.3f} smoothness {entry['smoothness']:.4f} {elapsed / 60:.1f} min")
                out_of_time = max_minutes is not None and elapsed > max_minutes * 60
                if time.monotonic() - last_checkpoint > checkpoint_minutes * 60:
                    save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
                    last_checkpoint = time.monotonic()
                if out_of_time:
                    out(f"stopping at step {step}: --max-minutes reached (resume with the same command)")
                    break
        except KeyboardInterrupt:
            save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
            out(f"interrupted at step {step}; saved {checkpoint_path} (resume with the same command)")
            raise
        if evaluate:
            metrics = {**metrics, "after": _evaluate_splits(net, train_frames, held_out, config), "after_step": step}
            record({"step": step, "eval": "after", **metrics["after"]})
        save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
    if evaluate and "before" in metrics:
        out(f"before (initial weights) -> after (step {step}):")
        for line in format_report(metrics["before"], metrics["after"]):
            out(line)
    return checkpoint_path


# ------------------------------------------------------------------ command line

def _parse_crop(text: str) -> tuple[int, int]:
    """'512x256' -> (width, height), multiples of 32."""
    try:
        width, height = (int(value) for value in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 32 or height < 32 or width % 32 or height % 32:
        raise argparse.ArgumentTypeError(f"crop {text} must be a multiple of 32 in both directions")
    return width, height


def _resolve_init_from(text: str) -> Path:
    path = Path(text)
    if path.is_file():
        return path.resolve()
    checkout = Path(__file__).resolve().parents[2] / text
    if not path.is_absolute() and checkout.is_file():
        return checkout
    raise UsageError(f"--init-from {text}: no such checkpoint")


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_depth_adapt."""
    defaults = AdaptConfig(bag="")
    weights = SelfSupervisedWeights()
    parser = argparse.ArgumentParser(
        prog="stereo_depth_adapt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 ok, 2 usage (or a run directory of another configuration), 3 input bag unreadable, "
               "4 topics or frames missing, 5 bad images or calibration in every frame, 130 interrupted "
               "(last.pt saved).")
    parser.add_argument("bag", help="input bag (directory, or .db3 / .mcap file) with stereo images and camera_info")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/adapt"),
                        help="where last.pt and log.jsonl go (default runs/adapt)")
    parser.add_argument("--init-from", default=DEFAULT_INIT_FROM,
                        help=f"checkpoint to adapt (default {DEFAULT_INIT_FROM}, the bundled stage-1 weights)")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"optimiser steps (default {defaults.steps})")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"crops per step (default {defaults.batch_size})")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                        help=f"AdamW, after warm-up (default {defaults.learning_rate:g})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"sample seed (default {defaults.seed})")
    parser.add_argument("--crop", type=_parse_crop, default=(defaults.crop_width, defaults.crop_height),
                        metavar="WxH", help="sample size, px, multiples of 32 (default 512x256)")
    parser.add_argument("--hint-input-probability", type=float, default=defaults.hint_input_probability,
                        help="share of samples that get classical hints as network input (default 0.5)")
    parser.add_argument("--photometric-weight", type=float, default=weights.photometric,
                        help=f"weight of the photometric reconstruction loss (default {weights.photometric:g})")
    parser.add_argument("--smoothness-weight", type=float, default=weights.smoothness,
                        help=f"weight of the edge-aware smoothness (default {weights.smoothness:g})")
    parser.add_argument("--hint-weight", type=float, default=weights.hints,
                        help=f"weight of the supervised term on the classical hints (default {weights.hints:g})")
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames,
                        help="frames kept in memory, spread evenly over the bag (default 200)")
    parser.add_argument("--holdout-every", type=int, default=defaults.holdout_every,
                        help="hold out every N-th frame for the before/after evaluation (default 10; 0 = none)")
    parser.add_argument("--eval-frames", type=int, default=defaults.eval_frames,
                        help="frames per split scored before and after (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0,
                        help="minutes between rewrites of last.pt (default 5)")
    parser.add_argument("--namespace", default="",
                        help="namespace put in front of the relative topic names below, e.g. stereo (default none)")
    parser.add_argument("--left-image-topic", default=StereoTopics.left_image)
    parser.add_argument("--right-image-topic", default=StereoTopics.right_image)
    parser.add_argument("--left-info-topic", default=StereoTopics.left_info)
    parser.add_argument("--right-info-topic", default=StereoTopics.right_info)
    parser.add_argument("--ground-truth-topic", default=GROUND_TRUTH_TOPIC,
                        help=f"DisparityImage scored when present (default {GROUND_TRUTH_TOPIC}; '' = never)")
    parser.add_argument("--lidar-topic", default=None,
                        help="PointCloud2 topic whose clouds become hints (the cloud nearest in stamp to each frame; "
                        "see the --lidar_* options and the bag's /tf_static)")
    add_parameter_options(parser, [PARAMETERS_BY_NAME[name] for name in _NODE_OPTIONS])
    return parser


def config_from_args(args: argparse.Namespace) -> AdaptConfig:
    """The run's configuration; the architecture comes from the ``--init-from`` checkpoint.

    Raises:
        UsageError: out-of-range values, or a missing checkpoint.
    """
    try:
        settings = settings_from_values({name: getattr(args, f"param_{name}") for name in _NODE_OPTIONS
                                         if getattr(args, f"param_{name}") is not None})
    except RosLayerError as err:
        raise UsageError(str(err)) from err
    namespace = args.namespace.strip("/")

    def topic(name: str) -> str:
        return f"{namespace}/{name.strip('/')}" if namespace and not name.startswith("/") else name

    init_from = _resolve_init_from(args.init_from)
    state = torch.load(init_from, map_location="cpu", weights_only=False)
    model = StereoNetConfig(**state["config"]["model"])
    try:
        return AdaptConfig(
            bag=str(args.bag),
            topics=StereoTopics(topic(args.left_image_topic), topic(args.right_image_topic),
                                topic(args.left_info_topic), topic(args.right_info_topic)),
            ground_truth_topic=topic(args.ground_truth_topic) if args.ground_truth_topic else None,
            rectify=settings.rectify, approximate_sync=settings.approximate_sync,
            approximate_sync_tolerance_seconds=settings.approximate_sync_tolerance_seconds,
            queue_size=settings.queue_size, lidar_topic=topic(args.lidar_topic) if args.lidar_topic else None,
            lidar_frame_id=settings.lidar_frame_id, lidar_transform=tuple(settings.lidar_transform),
            lidar_stamp_tolerance_s=settings.lidar_stamp_tolerance_s, lidar_min_depth_m=settings.lidar_min_depth_m,
            lidar_max_depth_m=settings.lidar_max_depth_m, max_frames=args.max_frames, holdout_every=args.holdout_every,
            eval_frames=args.eval_frames, init_from=str(init_from), steps=args.steps, batch_size=args.batch_size,
            learning_rate=args.learning_rate, seed=args.seed, crop_width=args.crop[0], crop_height=args.crop[1],
            hint_input_probability=args.hint_input_probability,
            weights=SelfSupervisedWeights(photometric=args.photometric_weight, smoothness=args.smoothness_weight,
                                          hints=args.hint_weight),
            hints=ClassicalHintConfig(max_disparity_px=model.max_disparity), model=model)
    except ValueError as err:
        raise UsageError(str(err)) from err


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_minutes is not None and args.max_minutes < 0:
        raise UsageError(f"--max-minutes must be >= 0, got {args.max_minutes}")
    config = config_from_args(args)
    path = adapt(config, args.run_dir, threads=args.threads, checkpoint_minutes=args.checkpoint_minutes,
                 max_minutes=args.max_minutes)
    print(f"checkpoint: {path} (export: stereo_depth_export {path} --sizes WxH --out-dir DIR)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_adapt --help``."""
    return run_tool("stereo_depth_adapt", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
