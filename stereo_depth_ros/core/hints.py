"""Sparse reliable disparity hints for guided matching (ROS-free).

Hints are an (H, W) float32 disparity map in pixels of the left rectified
image with NaN where there is no hint. The network takes them as
``hint_disparity`` (0 where none) plus ``hint_mask``.

Classical hints are the pixels where OpenCV's semi-global matcher is sure:
they pass its uniqueness test and its own left-right check (``disp12MaxDiff``).
The same function produces the hints used in training and at run time.
LiDAR hints are points projected into the left rectified image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stereo_depth_ros.backends.sgbm_backend import SgbmBackend, SgbmParams
from stereo_depth_ros.core.camera_model import StereoCameraModel


@dataclass(frozen=True)
class ClassicalHintConfig:
    """Settings of the classical matcher that produces hints.

    Attributes:
        max_disparity_px: search range in pixels of the full-size images (rounded up to a multiple of 16
            at the matching scale).
        block_size: matching window side in pixels (odd).
        uniqueness_ratio: percent margin the best cost must win by.
        lr_max_diff_px: largest left-right disagreement kept, pixels of the matching scale.
        scale: the images are matched at this fraction of their size, (0, 1]; each hint then covers
            the full-size pixels of its matched pixel (nearest neighbour), its value scaled back.
    """

    max_disparity_px: int = 192
    block_size: int = 5
    uniqueness_ratio: int = 15
    lr_max_diff_px: int = 1
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")


def classical_hints(left: np.ndarray, right: np.ndarray,
                    config: ClassicalHintConfig = ClassicalHintConfig()) -> np.ndarray:
    """Disparities the semi-global matcher is sure of.

    Args:
        left, right: (H, W) or (H, W, 3) uint8 rectified images (RGB or grey).
        config: matcher settings.
    Returns:
        (H, W) float32 disparity in pixels, NaN where the matcher is not sure.
    """
    height, width = left.shape[:2]
    size = (max(1, round(width * config.scale)), max(1, round(height * config.scale)))
    if config.scale < 1.0:
        left, right = (cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in (left, right))
    x_scale = size[0] / width  # the scale actually applied to disparities (rounded image width)
    params = SgbmParams(num_disparities=int(np.ceil(config.max_disparity_px * x_scale / 16.0)) * 16,
                        block_size=config.block_size, uniqueness_ratio=config.uniqueness_ratio,
                        disp12_max_diff=config.lr_max_diff_px, mode="3way")
    disparity_px = SgbmBackend(params).match(left, right).disparity_px
    if config.scale == 1.0:
        return disparity_px
    full = cv2.resize(disparity_px, (width, height), interpolation=cv2.INTER_NEAREST)  # NaN stays NaN
    return (full / np.float32(x_scale)).astype(np.float32)


def lidar_hints(points_m: np.ndarray, camera: StereoCameraModel, *,
                camera_T_lidar: np.ndarray | None = None, min_depth_m: float = 0.1,
                max_depth_m: float = 100.0) -> np.ndarray:
    """Project a LiDAR cloud into the left rectified image as disparity hints.

    Args:
        points_m: (N, 3) float, metres, in the LiDAR frame (or in the left camera's
            raw optical frame when ``camera_T_lidar`` is None); NaN rows are dropped.
        camera: the rectified rig; the left camera's R turns its raw optical frame
            into the rectified one.
        camera_T_lidar: (4, 4) rigid transform taking LiDAR-frame points into the left
            camera's raw optical frame (x right, y down, z forward).
        min_depth_m, max_depth_m: points outside this depth range are dropped.
    Returns:
        (H, W) float32 disparity in pixels (d = fx * B / Z + cx_left - cx_right), NaN
        where no point lands; where several points land on one pixel the nearest wins.
    """
    points = np.asarray(points_m, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points_m must be (N, 3), got {points.shape}")
    if camera_T_lidar is not None:
        transform = np.asarray(camera_T_lidar, dtype=np.float64)
        if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
            raise ValueError(f"camera_T_lidar must be a finite (4, 4) matrix, got {transform.shape}")
        points = points @ transform[:3, :3].T + transform[:3, 3]
    rectified = points @ camera.left.R.T
    depth = rectified[:, 2]
    keep = np.all(np.isfinite(rectified), axis=1) & (depth >= min_depth_m) & (depth <= max_depth_m)
    rectified, depth = rectified[keep], depth[keep]
    columns = np.rint(camera.fx * rectified[:, 0] / depth + camera.cx_left).astype(np.int64)
    rows = np.rint(camera.fy * rectified[:, 1] / depth + camera.cy).astype(np.int64)
    inside = (columns >= 0) & (columns < camera.width) & (rows >= 0) & (rows < camera.height)
    columns, rows, depth = columns[inside], rows[inside], depth[inside]
    disparity = (camera.fx * camera.baseline_m / depth + camera.cx_offset_px).astype(np.float32)
    flat = rows * camera.width + columns
    order = np.lexsort((disparity, flat))    # grouped by pixel, nearest (largest d) last
    flat, disparity = flat[order], disparity[order]
    nearest = np.ones(flat.size, bool)
    nearest[:-1] = flat[1:] != flat[:-1]
    hints = np.full(camera.height * camera.width, np.nan, np.float32)
    hints[flat[nearest]] = disparity[nearest]
    return hints.reshape(camera.height, camera.width)
