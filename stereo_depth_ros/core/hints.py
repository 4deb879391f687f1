"""LiDAR hints for guided matching: points projected into the left rectified image (ROS-free).

Hints are an (H, W) float32 disparity map in pixels of the left rectified
image with NaN where there is no hint. The network takes them as
``hint_disparity`` (0 where none) plus ``hint_mask``. Classical hints (from
the semi-global matcher) live a layer up, in
``stereo_depth_ros.pipeline.classical_hints``, since they need a backend.
"""

from __future__ import annotations

import numpy as np

from stereo_depth_ros.core.camera_model import StereoCameraModel


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
