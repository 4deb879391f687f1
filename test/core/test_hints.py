"""LiDAR hints: projection checked against hand-computed pixels."""

import numpy as np
import pytest

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.hints import lidar_hints

FX, FY, CX_LEFT, CX_RIGHT, CY, BASELINE_M = 420.0, 410.0, 150.5, 158.5, 95.0, 0.12
WIDTH, HEIGHT = 320, 200


def _rig(R_left: np.ndarray = np.eye(3)) -> StereoCameraModel:
    K = np.array([[FX, 0, CX_LEFT], [0, FY, CY], [0, 0, 1.0]])
    P_left = np.array([[FX, 0, CX_LEFT, 0], [0, FY, CY, 0], [0, 0, 1, 0]])
    P_right = np.array([[FX, 0, CX_RIGHT, -FX * BASELINE_M], [0, FY, CY, 0], [0, 0, 1, 0]])
    left = CameraCalibration(WIDTH, HEIGHT, K, [], R_left, P_left)
    right = CameraCalibration(WIDTH, HEIGHT, K, [], np.eye(3), P_right)
    return StereoCameraModel.from_calibrations(left, right)


def test_lidar_point_lands_on_the_hand_computed_pixel_with_its_disparity():
    point = np.array([[0.3, -0.2, 2.5]])
    hints = lidar_hints(point, _rig())
    column = round(FX * 0.3 / 2.5 + CX_LEFT)     # 200.9 -> 201
    row = round(FY * -0.2 / 2.5 + CY)            # 62.2 -> 62
    expected = FX * BASELINE_M / 2.5 + (CX_LEFT - CX_RIGHT)
    assert np.isclose(hints[row, column], expected, atol=1e-4)
    assert np.isfinite(hints).sum() == 1


def test_lidar_transform_and_rectifying_rotation_are_applied():
    # LiDAR x forward, y left, z up (REP 103) mounted 0.1 m above the camera.
    camera_T_lidar = np.array([[0, -1, 0, 0], [0, 0, -1, -0.1], [1, 0, 0, 0], [0, 0, 0, 1.0]])
    angle = np.deg2rad(2.0)
    R_left = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    lidar_point = np.array([[3.0, 0.25, 0.05]])   # camera frame: (-0.25, -0.15, 3.0)
    hints = lidar_hints(lidar_point, _rig(R_left), camera_T_lidar=camera_T_lidar)
    rectified = R_left @ np.array([-0.25, -0.15, 3.0])
    column = round(FX * rectified[0] / rectified[2] + CX_LEFT)
    row = round(FY * rectified[1] / rectified[2] + CY)
    assert np.isclose(hints[row, column], FX * BASELINE_M / rectified[2] + CX_LEFT - CX_RIGHT, atol=1e-4)


def test_lidar_drops_points_behind_outside_beyond_range_and_nan():
    points = np.array([[0.0, 0.0, -2.0],      # behind
                       [50.0, 0.0, 2.0],      # outside the image
                       [0.0, 0.0, 150.0],     # beyond max range
                       [np.nan, 0.0, 2.0],    # broken
                       [0.0, 0.0, 0.05]])     # nearer than min range
    assert not np.isfinite(lidar_hints(points, _rig(), max_depth_m=100.0)).any()


def test_lidar_keeps_the_nearest_of_points_sharing_a_pixel():
    points = np.array([[0.0, 0.0, 4.0], [0.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    hints = lidar_hints(points, _rig())
    assert np.isclose(np.nanmax(hints), FX * BASELINE_M / 2.0 + CX_LEFT - CX_RIGHT)
    assert np.isfinite(hints).sum() == 1


def test_lidar_rejects_malformed_input():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        lidar_hints(np.zeros((5, 2)), _rig())
    with pytest.raises(ValueError, match="camera_T_lidar"):
        lidar_hints(np.zeros((5, 3)), _rig(), camera_T_lidar=np.full((4, 4), np.nan))
