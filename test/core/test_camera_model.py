"""StereoCameraModel against a virtual verged, distorted rig whose geometry the test constructs.

The rig is deliberately asymmetric: non-square images, fx != fy, cx != cy, different
intrinsics and distortion per camera, a toe-in rotation, and a rectified right
principal point shifted away from the left one (cx_left != cx_right).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from stereo_depth_ros.core import (
    BaselineError,
    BaselineSignError,
    CalibrationError,
    CalibrationShapeError,
    CameraCalibration,
    DistortionError,
    FocalLengthError,
    ImageShapeError,
    ImageSizeMismatchError,
    NonFiniteCalibrationError,
    PrincipalPointError,
    ProjectionMismatchError,
    RotationError,
    StereoCameraModel,
    UnsupportedDistortionModelError,
    disparity_to_depth,
)

WIDTH, HEIGHT = 384, 272
K_LEFT = np.array([[410.0, 0.0, 197.5], [0.0, 402.0, 141.0], [0.0, 0.0, 1.0]])
K_RIGHT = np.array([[405.0, 0.0, 189.0], [0.0, 409.0, 133.5], [0.0, 0.0, 1.0]])
DISTORTION = {
    "plumb_bob": ([-0.21, 0.06, 0.0012, -0.0007, -0.004], [-0.18, 0.04, -0.0009, 0.0011, 0.0]),
    "rational_polynomial": ([-0.3, 0.1, 0.001, -0.0005, 0.0, -0.05, 0.02, 0.0],
                            [-0.25, 0.08, -0.0008, 0.0006, 0.0, -0.03, 0.01, 0.0]),
    "equidistant": ([-0.02, 0.005, -0.001, 0.0002], [-0.015, 0.004, 0.0008, -0.0003]),
}
# x_right = R_RIGHT_LEFT @ x_left + T_RIGHT_LEFT: right camera 0.12 m to the right, toed in.
R_RIGHT_LEFT = cv2.Rodrigues(np.array([0.01, -0.06, 0.008]))[0]
T_RIGHT_LEFT = np.array([[-0.12], [0.004], [0.003]])
CX_RIGHT_SHIFT_PX = 9.0
FY_STRETCH = 1.03
# Textured plane in the left raw camera frame: origin, in-plane axes, checker square.
PLANE_ORIGIN_M = np.array([0.05, -0.02, 1.6])
PLANE_AXES = np.linalg.qr(cv2.Rodrigues(np.array([0.25, -0.35, 0.1]))[0])[0][:, :2]
SQUARE_M = 0.08
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True)
class VirtualRig:
    """A raw rig, its true extrinsics, and the model built from its rectification."""

    model: StereoCameraModel
    distortion_model: str
    d_left: np.ndarray
    d_right: np.ndarray
    r_left: np.ndarray  # rotation raw left -> rectified left

    def rectified_point_m(self, points_left_m: np.ndarray) -> np.ndarray:
        """(N, 3) points in the left raw frame -> (N, 3) in the left rectified frame."""
        return points_left_m @ self.r_left.T


def make_rig(distortion_model: str) -> VirtualRig:
    d_left, d_right = (np.array(d) for d in DISTORTION[distortion_model])
    pinhole = distortion_model != "equidistant"
    r1, r2, p1, p2, _, _, _ = cv2.stereoRectify(
        K_LEFT, d_left if pinhole else np.zeros(5), K_RIGHT, d_right if pinhole else np.zeros(5),
        (WIDTH, HEIGHT), R_RIGHT_LEFT, T_RIGHT_LEFT, flags=0, alpha=0.0)
    for p in (p1, p2):
        p[1, :] *= FY_STRETCH  # fx != fy in the rectified images
    p2[0, 2] += CX_RIGHT_SHIFT_PX  # a different rectified principal point (a pure x shift)
    left = CameraCalibration(WIDTH, HEIGHT, K_LEFT, d_left, r1, p1, distortion_model, "left_optical")
    right = CameraCalibration(WIDTH, HEIGHT, K_RIGHT, d_right, r2, p2, distortion_model, "right_optical")
    return VirtualRig(StereoCameraModel.from_calibrations(left, right), distortion_model, d_left, d_right, r1)


def undistort(pixels: np.ndarray, k: np.ndarray, d: np.ndarray, distortion_model: str,
              r: np.ndarray | None = None, p: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) raw pixels -> (N, 2) normalised coordinates (or pixels of P)."""
    points = pixels.reshape(-1, 1, 2).astype(np.float64)
    if distortion_model == "equidistant":
        return cv2.fisheye.undistortPoints(points, k, d, R=r, P=p, criteria=UNDISTORT_CRITERIA).reshape(-1, 2)
    return cv2.undistortPoints(points, k, d, R=r, P=p, criteria=UNDISTORT_CRITERIA).reshape(-1, 2)


def project(points_left_m: np.ndarray, k: np.ndarray, d: np.ndarray, distortion_model: str,
            r_cam_left: np.ndarray, t_cam_left: np.ndarray) -> np.ndarray:
    """(N, 3) points in the left raw frame -> (N, 2) raw distorted pixels of a camera."""
    rvec = cv2.Rodrigues(r_cam_left)[0]
    points = points_left_m.reshape(-1, 1, 3)
    if distortion_model == "equidistant":
        return cv2.fisheye.projectPoints(points, rvec, t_cam_left, k, d)[0].reshape(-1, 2)
    return cv2.projectPoints(points, rvec, t_cam_left, k, d)[0].reshape(-1, 2)


def render_plane(k: np.ndarray, d: np.ndarray, distortion_model: str,
                 r_cam_left: np.ndarray, t_cam_left: np.ndarray) -> np.ndarray:
    """(H, W) uint8 raw image of the smooth checker plane, by ray casting every pixel."""
    u, v = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    rays = np.column_stack([undistort(np.column_stack([u.ravel(), v.ravel()]), k, d, distortion_model),
                            np.ones(u.size)])
    normal_cam = r_cam_left @ np.cross(PLANE_AXES[:, 0], PLANE_AXES[:, 1])
    origin_cam = r_cam_left @ PLANE_ORIGIN_M + np.ravel(t_cam_left)
    points_cam = rays * ((origin_cam @ normal_cam) / (rays @ normal_cam))[:, None]
    plane_ab = (points_cam - origin_cam) @ (r_cam_left @ PLANE_AXES) / SQUARE_M
    texture = np.tanh(2.5 * np.sin(np.pi * plane_ab[:, 0]) * np.sin(np.pi * plane_ab[:, 1]))
    return np.clip(128.0 + 100.0 * texture, 0, 255).astype(np.uint8).reshape(HEIGHT, WIDTH)


def checker_corners_m() -> np.ndarray:
    """(N, 3) checker corners in the left raw frame, metres."""
    a, b = np.meshgrid(np.arange(-5, 6), np.arange(-3, 4))
    return PLANE_ORIGIN_M + SQUARE_M * (a.reshape(-1, 1) * PLANE_AXES[:, 0] + b.reshape(-1, 1) * PLANE_AXES[:, 1])


def _quadric_fit() -> np.ndarray:
    """(6, 49) least squares from a 7x7 window to (1, x, y, x^2, xy, y^2) coefficients."""
    y, x = (g.ravel() for g in np.meshgrid(np.arange(-3.0, 4.0), np.arange(-3.0, 4.0), indexing="ij"))
    return np.linalg.pinv(np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y]))


QUADRIC_FIT = _quadric_fit()


def find_saddles(image: np.ndarray, guesses_px: np.ndarray) -> np.ndarray:
    """(N, 2) sub-pixel saddle points (checker corners) near whole-pixel guesses.

    Fits a quadric to a 7x7 window resampled around the estimate and steps to its
    stationary point; a few rounds centre the window on the saddle, which keeps
    the fit unbiased. Corners of the smooth checker are exact saddles.
    """
    found = np.round(guesses_px).astype(np.float64)
    for _ in range(6):
        for corner in found:
            window = cv2.getRectSubPix(image.astype(np.float32), (7, 7), (corner[0], corner[1]))
            _, gx, gy, hxx, hxy, hyy = QUADRIC_FIT @ window.ravel()
            corner += np.linalg.solve([[2 * hxx, hxy], [hxy, 2 * hyy]], [-gx, -gy])
    return found


def homogeneous_projection(p: np.ndarray, points_m: np.ndarray) -> np.ndarray:
    """(N, 2) pixels of (N, 3) points through a (3, 4) projection."""
    projected = np.column_stack([points_m, np.ones(len(points_m))]) @ p.T
    return projected[:, :2] / projected[:, 2:]


@pytest.mark.parametrize("distortion_model", sorted(DISTORTION))
def test_rectification_aligns_rows_of_a_verged_distorted_rig(distortion_model: str) -> None:
    rig = make_rig(distortion_model)
    raw_left = render_plane(K_LEFT, rig.d_left, distortion_model, np.eye(3), np.zeros(3))
    raw_right = render_plane(K_RIGHT, rig.d_right, distortion_model, R_RIGHT_LEFT, T_RIGHT_LEFT)
    rect_left, rect_right = rig.model.rectify(raw_left, raw_right)

    corners_rect_m = rig.rectified_point_m(checker_corners_m())
    expected_left = homogeneous_projection(rig.model.left.P, corners_rect_m)
    expected_right = homogeneous_projection(rig.model.right.P, corners_rect_m)
    inside = np.all((expected_right > 8) & (expected_right < [WIDTH - 8, HEIGHT - 8]), axis=1)
    inside &= np.all((expected_left > 8) & (expected_left < [WIDTH - 8, HEIGHT - 8]), axis=1)
    assert inside.sum() >= 30
    found_left = find_saddles(rect_left, expected_left[inside])
    found_right = find_saddles(rect_right, expected_right[inside])

    raw_rows_px = [project(checker_corners_m(), k, d, distortion_model, r, t)[:, 1]
                   for k, d, r, t in ((K_LEFT, rig.d_left, np.eye(3), np.zeros(3)),
                                      (K_RIGHT, rig.d_right, R_RIGHT_LEFT, T_RIGHT_LEFT))]
    assert np.max(np.abs(raw_rows_px[0] - raw_rows_px[1])) > 5.0
    assert np.max(np.abs(found_left[:, 1] - found_right[:, 1])) < 0.1
    assert np.max(np.abs(found_left - expected_left[inside])) < 0.1
    assert np.max(np.abs(found_right - expected_right[inside])) < 0.1


@pytest.mark.parametrize("distortion_model", sorted(DISTORTION))
def test_depth_from_the_true_disparity_of_a_verged_rig_matches_the_true_depth(distortion_model: str) -> None:
    rig = make_rig(distortion_model)
    corners_m = checker_corners_m()
    raw_left = project(corners_m, K_LEFT, rig.d_left, distortion_model, np.eye(3), np.zeros(3))
    raw_right = project(corners_m, K_RIGHT, rig.d_right, distortion_model, R_RIGHT_LEFT, T_RIGHT_LEFT)
    # OpenCV's own raw -> rectified chain gives the true rectified positions.
    rect_left = undistort(raw_left, K_LEFT, rig.d_left, distortion_model, rig.model.left.R, rig.model.left.P)
    rect_right = undistort(raw_right, K_RIGHT, rig.d_right, distortion_model, rig.model.right.R, rig.model.right.P)

    assert np.max(np.abs(rect_left[:, 1] - rect_right[:, 1])) < 1e-6
    depth_m = disparity_to_depth(rect_left[:, 0] - rect_right[:, 0], rig.model)
    true_depth_m = rig.rectified_point_m(corners_m)[:, 2]
    np.testing.assert_allclose(depth_m, true_depth_m, rtol=1e-3)


def test_model_exposes_the_rectified_geometry_of_the_rig() -> None:
    model = make_rig("plumb_bob").model
    p_left, p_right = model.left.P, model.right.P

    assert (model.width, model.height) == (WIDTH, HEIGHT)
    assert (model.fx, model.fy, model.cy) == (p_left[0, 0], p_left[1, 1], p_left[1, 2])
    assert model.fy == pytest.approx(model.fx * FY_STRETCH)
    assert (model.cx_left, model.cx_right) == (p_left[0, 2], p_right[0, 2])
    assert model.cx_offset_px == pytest.approx(p_left[0, 2] - p_right[0, 2])
    assert model.cx_offset_px != pytest.approx(0.0, abs=1.0)
    assert model.baseline_m == pytest.approx(np.linalg.norm(T_RIGHT_LEFT))


def test_q_equals_opencv_stereo_rectify_q_with_its_cx_offset_term() -> None:
    r1, r2, p1, p2, q_opencv, _, _ = cv2.stereoRectify(
        K_LEFT, np.zeros(5), K_RIGHT, np.zeros(5), (WIDTH, HEIGHT), R_RIGHT_LEFT, T_RIGHT_LEFT, flags=0, alpha=0.0)
    assert p1[0, 2] != pytest.approx(p2[0, 2], abs=1.0)  # OpenCV's Q has a cx_l - cx_r term here
    model = StereoCameraModel.from_calibrations(
        CameraCalibration(WIDTH, HEIGHT, K_LEFT, [], r1, p1), CameraCalibration(WIDTH, HEIGHT, K_RIGHT, [], r2, p2))

    np.testing.assert_allclose(model.Q, q_opencv, rtol=1e-9, atol=1e-12)


def test_q_reprojects_pixel_and_disparity_to_the_point_with_fx_not_fy() -> None:
    model = make_rig("plumb_bob").model
    points_m = np.array([[0.3, -0.2, 1.1], [-0.5, 0.4, 3.0], [0.0, 0.1, 7.5]])
    left_px = homogeneous_projection(model.left.P, points_m)
    disparity_px = left_px[:, 0] - homogeneous_projection(model.right.P, points_m)[:, 0]

    xyzw = np.column_stack([left_px, disparity_px, np.ones(3)]) @ model.Q.T
    np.testing.assert_allclose(xyzw[:, :3] / xyzw[:, 3:], points_m, rtol=1e-9)


def test_rectification_maps_are_computed_once_per_model() -> None:
    model = make_rig("plumb_bob").model
    assert model.rectification_maps is model.rectification_maps
    assert model.rectification_maps[0][0].shape[:2] == (HEIGHT, WIDTH)


def test_rectify_keeps_channels_and_dtype() -> None:
    model = make_rig("plumb_bob").model
    colour = np.full((HEIGHT, WIDTH, 3), (10, 20, 30), np.uint8)
    left, right = model.rectify(colour, colour)
    assert left.shape == right.shape == (HEIGHT, WIDTH, 3) and left.dtype == np.uint8
    assert tuple(left[HEIGHT // 2, WIDTH // 2]) == (10, 20, 30)


def test_pass_through_mode_returns_rectified_input_unchanged() -> None:
    rig = make_rig("plumb_bob").model
    model = StereoCameraModel.from_calibrations(rig.left, rig.right, rectified_input=True)
    left, right = np.zeros((HEIGHT, WIDTH), np.uint8), np.ones((HEIGHT, WIDTH), np.uint8)

    assert all(a is b for a, b in zip(model.rectify(left, right), (left, right), strict=True))
    assert "rectification_maps" not in vars(model)


@pytest.mark.parametrize("shapes", [((HEIGHT, WIDTH), (HEIGHT, WIDTH, 3)), ((WIDTH, HEIGHT), (WIDTH, HEIGHT))])
def test_rectify_rejects_images_that_do_not_fit_the_model(shapes: tuple[tuple[int, ...], ...]) -> None:
    model = make_rig("plumb_bob").model
    with pytest.raises(ImageShapeError, match=str(shapes[1])):
        model.rectify(np.zeros(shapes[0], np.uint8), np.zeros(shapes[1], np.uint8))


def test_scaled_model_keeps_depth_of_the_scaled_disparity_and_pixel_centres() -> None:
    model = make_rig("plumb_bob").model
    half = model.scaled(WIDTH // 2, HEIGHT // 2)
    disparity_px = np.array([20.0, 35.5, 61.0])

    assert (half.width, half.height, half.baseline_m) == (WIDTH // 2, HEIGHT // 2, model.baseline_m)
    assert (half.fx, half.fy) == pytest.approx((model.fx / 2, model.fy / 2))
    assert (half.cx_left, half.cy) == pytest.approx(((model.cx_left + 0.5) / 2 - 0.5, (model.cy + 0.5) / 2 - 0.5))
    assert half.cx_offset_px == pytest.approx(model.cx_offset_px / 2)
    np.testing.assert_allclose(disparity_to_depth(disparity_px / 2, half), disparity_to_depth(disparity_px, model),
                               rtol=1e-6)


def test_calibration_arrays_are_read_only_float64_copies_and_empty_d_is_zeros() -> None:
    k = K_LEFT.copy()
    calibration = CameraCalibration(WIDTH, HEIGHT, k, [], np.eye(3), np.hstack([k, np.zeros((3, 1))]))
    k[0, 0] = 1.0

    assert calibration.K[0, 0] == K_LEFT[0, 0]
    assert calibration.D.tolist() == [0.0] * 5
    with pytest.raises(ValueError, match="read-only"):
        calibration.P[0, 0] = 1.0


def _pair(**changes: object) -> tuple[dict[str, object], dict[str, object]]:
    """Keyword arguments of a valid rectified pair, with 'left_X' / 'right_X' overrides."""
    p_left = np.array([[400.0, 0.0, 190.0, 0.0], [0.0, 390.0, 130.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 2] = 180.0
    p_right[0, 3] = -400.0 * 0.1
    left = dict(width=WIDTH, height=HEIGHT, K=p_left[:, :3], D=np.zeros(5), R=np.eye(3), P=p_left)
    right = dict(left, K=p_right[:, :3], P=p_right)
    for key, value in changes.items():
        side, name = key.split("_", 1)
        (left if side == "left" else right)[name] = value
    return left, right


def _with(matrix: np.ndarray, index: tuple[int, int], value: float) -> np.ndarray:
    changed = np.array(matrix, dtype=np.float64)
    changed[index] = value
    return changed


_VALID_P_LEFT, _VALID_P_RIGHT = _pair()[0]["P"], _pair()[1]["P"]


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"right_P": _with(_VALID_P_RIGHT, (0, 3), 0.0)}, BaselineError, "baseline"),
    ({"right_P": _with(_VALID_P_RIGHT, (0, 3), 40.0)}, BaselineSignError, "40.0"),
    ({"left_P": _with(_VALID_P_LEFT, (0, 0), 0.0)}, FocalLengthError, r"P\[0,0\] \(fx\) must be > 0 px, got 0.0"),
    ({"right_K": _with(_VALID_P_RIGHT[:, :3], (1, 1), -3.0)}, FocalLengthError, "-3.0"),
    ({"right_width": WIDTH + 2}, ImageSizeMismatchError, f"{WIDTH + 2}x{HEIGHT}"),
    ({"left_K": np.eye(4)}, CalibrationShapeError, r"K must be shape \(3, 3\), got shape \(4, 4\)"),
    ({"left_P": _VALID_P_LEFT[:, :3]}, CalibrationShapeError, r"\(3, 3\)"),
    ({"right_D": np.zeros(7)}, CalibrationShapeError, "length 0 or 5, got 7"),
    ({"left_height": 0}, CalibrationShapeError, "height must be > 0 px, got 0"),
    ({"right_P": _with(_VALID_P_RIGHT, (1, 2), np.nan)}, NonFiniteCalibrationError, "nan"),
    ({"left_D": [0.1, np.inf, 0.0, 0.0, 0.0]}, NonFiniteCalibrationError, "inf"),
    ({"left_distortion_model": "kannala"}, UnsupportedDistortionModelError, "kannala"),
    ({"right_P": _with(_VALID_P_RIGHT, (1, 1), 395.0)}, ProjectionMismatchError, r"P_right\[1,1\] \(fy\) is 395.0"),
    ({"right_P": _with(_VALID_P_RIGHT, (1, 2), 131.0)}, ProjectionMismatchError, "cy"),
    ({"right_P": _with(_VALID_P_RIGHT, (1, 3), -12.0)}, ProjectionMismatchError, r"P_right\[1,3\] is -12.0"),
    ({"left_P": _with(_VALID_P_LEFT, (0, 3), 40.0)}, ProjectionMismatchError, r"P_left\[0,3\]"),
    ({"left_R": _with(np.eye(3), (0, 1), 0.1)}, RotationError,
     r"not orthonormal .*largest \|R R\^T - I\| entry is 0.1"),
    ({"right_R": np.diag([1.0, 1.0, -1.0])}, RotationError, r"reflection.*det\(R\) = -1"),
    ({"left_D": [0.1, 0.0, 0.0, 0.0, -2.5e6]}, DistortionError, r"D\[4\] = -2500000.0 exceeds \+-1000"),
    ({"left_K": _with(_VALID_P_LEFT[:, :3], (0, 2), 1520.0)}, PrincipalPointError,
     rf"K\[0,2\] \(cx\) = 1520.0 px is outside \[0, {WIDTH}\] for the {WIDTH}x{HEIGHT} px image"),
    ({"right_K": _with(_VALID_P_RIGHT[:, :3], (1, 2), -4.0)}, PrincipalPointError, r"K\[1,2\] \(cy\) = -4.0"),
    ({"left_P": _with(_VALID_P_LEFT, (0, 2), 3 * WIDTH)}, PrincipalPointError,
     rf"P\[0,2\] \(cx\) = {3.0 * WIDTH} px is outside \[-{WIDTH}, {2 * WIDTH}\]"),
])
def test_bad_calibration_raises_its_documented_error(changes: dict[str, object], error: type[CalibrationError],
                                                      message: str) -> None:
    left, right = _pair(**changes)
    with pytest.raises(error, match=message):
        StereoCameraModel.from_calibrations(CameraCalibration(**left), CameraCalibration(**right))


def test_a_near_rotation_and_a_principal_point_off_the_rectified_image_are_accepted() -> None:
    # R from a file with 6 decimals; a verged rectification puts the right principal point off the image.
    rounded = np.round(cv2.Rodrigues(np.array([0.01, -0.06, 0.008]))[0], 6)
    left, right = _pair(left_R=rounded, right_R=rounded, right_P=_with(_VALID_P_RIGHT, (0, 2), WIDTH + 40.0),
                        right_K=_with(_VALID_P_RIGHT[:, :3], (0, 2), WIDTH - 1.0))
    model = StereoCameraModel.from_calibrations(CameraCalibration(**left), CameraCalibration(**right))
    assert model.cx_right == WIDTH + 40.0


def test_valid_pair_fixture_builds() -> None:
    left, right = _pair()
    model = StereoCameraModel.from_calibrations(CameraCalibration(**left), CameraCalibration(**right))
    assert (model.baseline_m, model.cx_offset_px) == pytest.approx((0.1, 10.0))
