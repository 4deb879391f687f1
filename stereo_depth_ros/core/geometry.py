"""Depth and 3-D points from disparity, in the left rectified optical frame.

Conventions are those of ``stereo_depth_ros.core.camera_model``:
d = x_left - x_right (px), Z = fx * baseline_m / (d - cx_offset_px) (m), frame
x right, y down, z forward. Invalid is NaN in float outputs and 0 in 16-bit
millimetre depth (REP 118); never a small epsilon or a huge finite value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.errors import ImageShapeError

#: Largest depth a 16UC1 depth image can hold, mm; deeper points become 0 (invalid).
UINT16_DEPTH_MAX_MM: Final = 65535


@dataclass(frozen=True, eq=False)
class OrganizedPointCloud:
    """Points on the pixel grid of the left rectified image.

    Attributes:
        xyz_m: (H, W, 3) float32, metres, left rectified optical frame (x right,
            y down, z forward); all three NaN = invalid.
        rgb: (H, W, 3) uint8 colour of each pixel in R, G, B order, or None.
    """

    xyz_m: np.ndarray
    rgb: np.ndarray | None = None


def _check_depth_range(min_depth_m: float, max_depth_m: float) -> None:
    if not 0.0 <= min_depth_m < max_depth_m:
        raise ValueError(f"need 0 <= min_depth_m < max_depth_m, got {min_depth_m} and {max_depth_m}")


def check_image_shape(name: str, image: np.ndarray, model: StereoCameraModel) -> None:
    """Raise ImageShapeError naming ``name`` unless ``image`` is (model.height, model.width)."""
    if image.shape != (model.height, model.width):
        raise ImageShapeError(f"{name} must be ({model.height}, {model.width}), got {image.shape}")


def disparity_to_depth(disparity_px: np.ndarray, model: StereoCameraModel, *,
                       min_depth_m: float = 0.0, max_depth_m: float = math.inf) -> np.ndarray:
    """Depth along the left rectified optical axis from disparity.

    Args:
        disparity_px: any shape, typically (H, W), float, px of the images ``model``
            describes, d = x_left - x_right; NaN = invalid.
        model: the rectified rig (scaled to the disparity's image size).
        min_depth_m: depths below this become NaN, metres.
        max_depth_m: depths above this become NaN, metres.

    Returns:
        Same shape, float32, metres; NaN where the disparity is NaN or inf, where
        d <= cx_offset_px (at or beyond infinity), or outside [min_depth_m, max_depth_m].

    >>> from stereo_depth_ros.core.camera_model import CameraCalibration
    >>> K = np.diag([500.0, 500.0, 1.0]); P = np.hstack([K, np.zeros((3, 1))])
    >>> right_P = P.copy(); right_P[0, 3] = -500.0 * 0.1  # fx = 500 px, baseline 0.1 m
    >>> model = StereoCameraModel.from_calibrations(
    ...     CameraCalibration(64, 48, K, [], np.eye(3), P), CameraCalibration(64, 48, K, [], np.eye(3), right_P))
    >>> disparity_to_depth(np.array([25.0, 0.0, np.nan]), model).tolist()
    [2.0, nan, nan]
    """
    _check_depth_range(min_depth_m, max_depth_m)
    shifted_px = np.asarray(disparity_px, dtype=np.float32) - np.float32(model.cx_offset_px)
    depth_m = np.full(shifted_px.shape, np.nan, dtype=np.float32)
    with np.errstate(over="ignore"):
        np.divide(np.float32(model.fx * model.baseline_m), shifted_px, out=depth_m,
                  where=np.isfinite(shifted_px) & (shifted_px > 0.0))
    depth_m[~(np.isfinite(depth_m) & (depth_m >= min_depth_m) & (depth_m <= max_depth_m))] = np.nan
    return depth_m


def depth_to_uint16_mm(depth_m: np.ndarray) -> np.ndarray:
    """16-bit millimetre depth as REP 118 defines it for 16UC1 images.

    Args:
        depth_m: any shape, float, metres; NaN = invalid.

    Returns:
        Same shape, uint16, millimetres rounded to nearest; 0 = invalid, which covers
        NaN, inf, depths that round to <= 0 mm and depths beyond
        ``UINT16_DEPTH_MAX_MM`` (never clipped to a fake maximum).
    """
    depth_mm = np.rint(np.asarray(depth_m, dtype=np.float32) * np.float32(1000.0))
    valid = np.isfinite(depth_mm) & (depth_mm > 0.0) & (depth_mm <= UINT16_DEPTH_MAX_MM)
    return np.where(valid, depth_mm, 0.0).astype(np.uint16)


def points_from_depth(depth_m: np.ndarray, model: StereoCameraModel) -> np.ndarray:
    """Back-project a depth image through the left rectified camera.

    Args:
        depth_m: (H, W) float, metres, on the model's rectified pixel grid; NaN = invalid.
        model: the rectified rig; (H, W) must be (model.height, model.width).

    Returns:
        (H, W, 3) float32 xyz, metres, left rectified optical frame:
        X = (u - cx_left) Z / fx, Y = (v - cy) Z / fy; all three NaN where depth is NaN.

    Raises:
        ImageShapeError: ``depth_m`` is not (model.height, model.width).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    check_image_shape("depth_m", depth, model)
    ray_x = ((np.arange(model.width, dtype=np.float32) - np.float32(model.cx_left)) / np.float32(model.fx))
    ray_y = ((np.arange(model.height, dtype=np.float32) - np.float32(model.cy)) / np.float32(model.fy))
    xyz_m = np.empty((model.height, model.width, 3), dtype=np.float32)
    np.multiply(depth, ray_x[np.newaxis, :], out=xyz_m[..., 0])
    np.multiply(depth, ray_y[:, np.newaxis], out=xyz_m[..., 1])
    xyz_m[..., 2] = depth
    return xyz_m
