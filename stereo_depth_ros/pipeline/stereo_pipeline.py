"""The stereo depth pipeline, shared by the ROS node and the offline bag tools.

    raw pair ──rectify──► rectified pair ──(hints)──► backend ──► left-right check
        (and hint check) ──► confidence threshold ──► depth (metres) ──► organised point cloud

Everything is in the left rectified optical frame (x right, y down, z forward),
disparity in pixels of the rectified input (d = x_left - x_right), NaN = invalid.
No ROS here: callers convert messages to arrays and a StereoCameraModel first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from stereo_depth_ros.backends.base import SparseHints, StereoBackend
from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.consistency import hint_check
from stereo_depth_ros.core.geometry import OrganizedPointCloud, disparity_to_depth, points_from_depth
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints

HINT_SOURCES = ("none", "classical", "lidar", "both")


@dataclass(frozen=True)
class PipelineConfig:
    """Post-processing settings (all changeable between frames).

    Attributes:
        lr_check: invalidate pixels whose left and right disparities disagree.
        lr_max_diff_px: largest disagreement kept, pixels.
        lr_hint_max_diff_px: with ``lr_check`` and hints, also invalidate pixels whose disparity differs
            from their hint by more than this, pixels (``core.consistency.hint_check``); 0 = off.
        confidence_threshold: pixels with lower confidence become invalid, [0, 1].
        min_depth_m, max_depth_m: depth and points outside this range are NaN, metres.
        hints: sparse hints fed to the network: none, classical, lidar or both.
        classical_hints: the classical matcher behind classical hints (its search range follows the
            backend's per frame); its uniqueness ratio and left-right tolerance set how many pixels,
            and how sure, become hints.
        compute_points: build the organised point cloud.
        point_cloud_decimation: keep every n-th row and column of the cloud (>= 1).
        use_color: attach the left rectified colour to the cloud.
    """

    lr_check: bool = True
    lr_max_diff_px: float = 1.0
    lr_hint_max_diff_px: float = 2.0
    confidence_threshold: float = 0.0
    min_depth_m: float = 0.0
    max_depth_m: float = math.inf
    hints: str = "none"
    classical_hints: ClassicalHintConfig = ClassicalHintConfig()
    compute_points: bool = True
    point_cloud_decimation: int = 1
    use_color: bool = True

    def __post_init__(self) -> None:
        if self.hints not in HINT_SOURCES:
            raise ValueError(f"hints must be one of {HINT_SOURCES}, got {self.hints!r}")
        if self.point_cloud_decimation < 1:
            raise ValueError(f"point_cloud_decimation must be >= 1, got {self.point_cloud_decimation}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold}")
        if self.lr_max_diff_px <= 0.0:
            raise ValueError(f"lr_max_diff_px must be > 0, got {self.lr_max_diff_px}")
        if not self.lr_hint_max_diff_px >= 0.0:
            raise ValueError(f"lr_hint_max_diff_px must be >= 0, got {self.lr_hint_max_diff_px}")


@dataclass(frozen=True)
class StereoOutput:
    """One processed frame, all maps (H, W) of the rectified input.

    Attributes:
        camera: the rectified rig the outputs refer to.
        left_rect: (H, W[, 3]) uint8 rectified left image.
        disparity_px: float32 px, NaN = invalid (after the checks).
        confidence: float32 in [0, 1]; 0 where the disparity is invalid.
        depth_m: float32 metres along z, NaN = invalid or out of range.
        points: organised cloud (decimated), or None when not computed.
        lr_rejected_fraction: share of pixels the left-right check (with its hint check) removed.
        hint_fraction: share of pixels the matcher was given a hint for (0 without hints).
        timings_ms: milliseconds per stage.
    """

    camera: StereoCameraModel
    left_rect: np.ndarray
    disparity_px: np.ndarray
    confidence: np.ndarray
    depth_m: np.ndarray
    points: OrganizedPointCloud | None
    lr_rejected_fraction: float
    hint_fraction: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)


class StereoPipeline:
    """Rectify, match, check and convert one stereo pair at a time."""

    def __init__(self, backend: StereoBackend, config: PipelineConfig = PipelineConfig()) -> None:
        self.backend = backend
        self.config = config

    def process(self, left: np.ndarray, right: np.ndarray, camera: StereoCameraModel, *,
                lidar_hints_px: np.ndarray | None = None, points_wanted: bool = True) -> StereoOutput:
        """Run the whole pipeline on one raw (or already rectified) pair.

        Args:
            left, right: (H, W) or (H, W, 3) uint8 RGB images of the camera's size.
            camera: the rig; with ``rectified_input`` the images are used as they are.
            lidar_hints_px: optional (H, W) float32 disparity hints from a LiDAR in the
                left rectified frame, px, NaN = none (used when ``hints`` is lidar/both).
            points_wanted: False skips the point cloud for this frame even where
                ``compute_points`` is on (the node: nobody subscribes to points2).
        """
        config = self.config
        timings: dict[str, float] = {}
        with _timed(timings, "rectify"):
            left_rect, right_rect = camera.rectify(left, right)
        with _timed(timings, "hints"):
            hints = self._hints(left_rect, right_rect, lidar_hints_px)
        with _timed(timings, "match"):   # with the left-right check where it is on
            if config.lr_check:
                checked = self.backend.match_checked(left_rect, right_rect, hints=hints,
                                                     max_diff_px=config.lr_max_diff_px)
                left_result, lr_rejected = checked.result, checked.rejected_fraction
            else:
                left_result, lr_rejected = self.backend.match(left_rect, right_rect, hints=hints), 0.0
            disparity = left_result.disparity_px
            if config.lr_check and hints is not None and config.lr_hint_max_diff_px > 0.0:
                hint_checked = hint_check(disparity, hints.disparity_px, max_diff_px=config.lr_hint_max_diff_px)
                lr_rejected += float((np.isfinite(disparity) & ~hint_checked.keep_mask).mean())
                disparity = hint_checked.disparity_px
            confidence = left_result.confidence
            if config.confidence_threshold > 0.0:
                disparity = np.where(confidence >= config.confidence_threshold, disparity, np.nan)
            confidence = np.where(np.isfinite(disparity), confidence, 0.0).astype(np.float32)
        with _timed(timings, "depth"):
            depth = disparity_to_depth(disparity, camera, min_depth_m=config.min_depth_m,
                                       max_depth_m=config.max_depth_m)
        points = None
        if config.compute_points and points_wanted:
            with _timed(timings, "points"):
                points = self._points(depth, left_rect, camera)
        return StereoOutput(camera=camera, left_rect=left_rect, disparity_px=disparity.astype(np.float32),
                            confidence=confidence, depth_m=depth, points=points,
                            lr_rejected_fraction=lr_rejected,
                            hint_fraction=0.0 if hints is None else float(hints.mask.mean()), timings_ms=timings)

    def _hints(self, left_rect: np.ndarray, right_rect: np.ndarray,
               lidar_hints_px: np.ndarray | None) -> SparseHints | None:
        source = self.config.hints
        if source == "none" or not self.backend.accepts_hints:   # a classical backend ignores hints
            return None
        hints = np.full(left_rect.shape[:2], np.nan, np.float32)
        if source in ("classical", "both"):
            hints = classical_hints(left_rect, right_rect, replace(
                self.config.classical_hints, max_disparity_px=self._max_disparity_px(left_rect.shape[:2])))
        if source in ("lidar", "both") and lidar_hints_px is not None:
            lidar_valid = np.isfinite(lidar_hints_px)
            hints = np.where(lidar_valid, lidar_hints_px, hints).astype(np.float32)
        return SparseHints(hints) if np.isfinite(hints).any() else None

    def _max_disparity_px(self, image_hw: tuple[int, int]) -> int:
        """The backend's search range in pixels of images of this size."""
        return int(math.ceil(self.backend.max_disparity_px_for(image_hw)))

    def _points(self, depth: np.ndarray, left_rect: np.ndarray,
                camera: StereoCameraModel) -> OrganizedPointCloud:
        step = self.config.point_cloud_decimation
        xyz = points_from_depth(depth, camera)[::step, ::step]
        rgb = None
        if self.config.use_color and left_rect.ndim == 3:
            rgb = np.ascontiguousarray(left_rect[::step, ::step])
        return OrganizedPointCloud(xyz_m=np.ascontiguousarray(xyz), rgb=rgb)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = (time.perf_counter() - start) * 1000.0
