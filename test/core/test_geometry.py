"""Depth, disparity and point geometry against points the test projects through the rig's P matrices.

The rectified rig is asymmetric: 96x64 images, fx != fy, cx != cy and
cx_left - cx_right = 14.5 px, so a dropped offset or a swapped axis fails.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stereo_depth_ros.core import (
    UINT16_DEPTH_MAX_MM,
    CameraCalibration,
    ImageShapeError,
    StereoCameraModel,
    depth_to_uint16_mm,
    disparity_to_depth,
    points_from_depth,
)

WIDTH, HEIGHT = 96, 64
FX, FY, CX_LEFT, CX_RIGHT, CY, BASELINE_M = 80.0, 74.0, 50.5, 36.0, 29.25, 0.09


def make_model() -> StereoCameraModel:
    p_left = np.array([[FX, 0.0, CX_LEFT, 0.0], [0.0, FY, CY, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 2:] = CX_RIGHT, -FX * BASELINE_M
    return StereoCameraModel.from_calibrations(
        CameraCalibration(WIDTH, HEIGHT, p_left[:, :3], [], np.eye(3), p_left, frame_id="left"),
        CameraCalibration(WIDTH, HEIGHT, p_right[:, :3], [], np.eye(3), p_right, frame_id="right"),
        rectified_input=True)


def project_px(p: np.ndarray, points_m: np.ndarray) -> np.ndarray:
    """(..., 2) pixels of (..., 3) points in the left rectified frame through a (3, 4) P."""
    projected = points_m @ p[:, :3].T + p[:, 3]
    return projected[..., :2] / projected[..., 2:]


def slanted_plane_m(model: StereoCameraModel) -> np.ndarray:
    """(H, W, 3) points of a slanted plane seen through every left pixel, metres."""
    u, v = np.meshgrid(np.arange(model.width), np.arange(model.height))
    rays = np.stack([(u - model.cx_left) / model.fx, (v - model.cy) / model.fy, np.ones(u.shape)], axis=-1)
    depth_m = 2.0 + 0.01 * u - 0.015 * v
    return rays * depth_m[..., np.newaxis]


def true_disparity_px(model: StereoCameraModel, points_m: np.ndarray) -> np.ndarray:
    """x_left - x_right of points projected through both P matrices."""
    return project_px(model.left.P, points_m)[..., 0] - project_px(model.right.P, points_m)[..., 0]


def test_depth_from_disparity_follows_d_equals_fx_b_over_z_plus_cx_offset() -> None:
    model = make_model()
    points_m = np.array([[0.3, -0.2, 0.7], [-1.5, 0.4, 4.0], [2.0, 1.0, 25.0]])
    disparity_px = true_disparity_px(model, points_m)

    np.testing.assert_allclose(disparity_px, FX * BASELINE_M / points_m[:, 2] + (CX_LEFT - CX_RIGHT))
    depth_m = disparity_to_depth(disparity_px, model)
    assert depth_m.dtype == np.float32
    np.testing.assert_allclose(depth_m, points_m[:, 2], rtol=1e-6)


def test_disparity_at_or_below_the_cx_offset_or_not_finite_is_nan() -> None:
    offset_px = CX_LEFT - CX_RIGHT
    disparity_px = np.array([offset_px, offset_px - 3.0, 0.0, -5.0, np.nan, np.inf, -np.inf])

    assert np.all(np.isnan(disparity_to_depth(disparity_px, make_model())))


def test_depth_range_marks_points_outside_it_nan() -> None:
    model = make_model()
    depth_m = np.array([0.5, 1.0, 3.0, 9.0], dtype=np.float32)
    disparity_px = FX * BASELINE_M / depth_m + np.float32(CX_LEFT - CX_RIGHT)   # d of a point at Z

    filtered = disparity_to_depth(disparity_px, model, min_depth_m=0.9, max_depth_m=5.0)
    np.testing.assert_allclose(filtered, [np.nan, 1.0, 3.0, np.nan], rtol=1e-6)
    with pytest.raises(ValueError, match="5.0 and 1.0"):
        disparity_to_depth(disparity_px, model, min_depth_m=5.0, max_depth_m=1.0)


def test_uint16_depth_is_rounded_millimetres_with_zero_for_invalid_and_too_far() -> None:
    depth_m = np.array([1.2346, 0.0004, np.nan, np.inf, -1.0, 65.535, 65.5356, 70.0])

    depth_mm = depth_to_uint16_mm(depth_m)
    assert depth_mm.dtype == np.uint16
    assert depth_mm.tolist() == [1235, 0, 0, 0, 0, UINT16_DEPTH_MAX_MM, 0, 0]


def test_point_cloud_of_a_slanted_plane_reprojects_to_its_pixels_in_both_views() -> None:
    model = make_model()
    plane_m = slanted_plane_m(model)
    disparity_px = true_disparity_px(model, plane_m).astype(np.float32)

    xyz_m = points_from_depth(disparity_to_depth(disparity_px, model), model)
    assert xyz_m.shape == (HEIGHT, WIDTH, 3) and xyz_m.dtype == np.float32
    np.testing.assert_allclose(xyz_m, plane_m, rtol=2e-6, atol=1e-6)
    u, v = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    np.testing.assert_allclose(project_px(model.left.P, xyz_m), np.stack([u, v], -1), atol=1e-3)
    np.testing.assert_allclose(project_px(model.right.P, xyz_m)[..., 0], u - disparity_px, atol=1e-3)


def test_point_cloud_agrees_with_opencv_reproject_image_to_3d_through_q() -> None:
    model = make_model()
    disparity_px = true_disparity_px(model, slanted_plane_m(model)).astype(np.float32)

    reprojected = cv2.reprojectImageTo3D(disparity_px, model.Q.astype(np.float32))
    xyz_m = points_from_depth(disparity_to_depth(disparity_px, model), model)
    np.testing.assert_allclose(xyz_m, reprojected, rtol=1e-5, atol=1e-5)


def test_points_are_nan_exactly_where_the_depth_is_invalid_or_out_of_range() -> None:
    model = make_model()
    disparity_px = true_disparity_px(model, slanted_plane_m(model)).astype(np.float32)
    disparity_px[3, 7] = np.nan
    disparity_px[5, 9] = CX_LEFT - CX_RIGHT  # infinitely far

    xyz_m = points_from_depth(disparity_to_depth(disparity_px, model, max_depth_m=2.5), model)
    invalid = np.isnan(xyz_m)
    assert np.array_equal(invalid[..., 0], invalid[..., 2]) and np.array_equal(invalid[..., 1], invalid[..., 2])
    expected_invalid = np.isnan(disparity_to_depth(disparity_px, model, max_depth_m=2.5))
    assert invalid[3, 7, 2] and invalid[5, 9, 2] and invalid[..., 2].sum() > 2
    assert np.array_equal(invalid[..., 2], expected_invalid)


def test_points_reject_a_depth_image_that_does_not_fit_the_model() -> None:
    expected = rf"depth_m must be \({HEIGHT}, {WIDTH}\), got \({WIDTH}, {HEIGHT}\)"
    with pytest.raises(ImageShapeError, match=expected):
        points_from_depth(np.zeros((WIDTH, HEIGHT), np.float32), make_model())
