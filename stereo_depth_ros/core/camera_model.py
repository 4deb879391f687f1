"""Calibrated stereo rig: per-camera calibration, validation, rectification, Q.

Conventions, written once here and used everywhere in the package:

* Pixels: x right, y down, pixel centres at integer coordinates (OpenCV).
* Frames: the left rectified optical frame, x right, y down, z forward, metres.
  The right rectified camera sits at X = +baseline_m in that frame, so its
  projection has ``P_right[0, 3] = -fx * baseline_m`` (negative).
* Rectified projection: ``x = fx * X / Z + cx``, ``y = fy * Y / Z + cy``.
* Disparity ``d = x_left - x_right`` in pixels of the rectified images. With the
  projection above:

      x_left  = fx * X / Z + cx_left
      x_right = fx * (X - baseline_m) / Z + cx_right
      d       = fx * baseline_m / Z + (cx_left - cx_right)

  so ``Z = fx * baseline_m / (d - cx_offset_px)`` with
  ``cx_offset_px = cx_left - cx_right``. A disparity ``d <= cx_offset_px`` lies
  at or beyond infinity and is invalid (NaN).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import cv2
import numpy as np

from stereo_depth_ros.core.errors import (
    BaselineError,
    BaselineSignError,
    CalibrationShapeError,
    DistortionError,
    FocalLengthError,
    ImageShapeError,
    ImageSizeMismatchError,
    NonFiniteCalibrationError,
    PrincipalPointError,
    ProjectionMismatchError,
    RotationError,
    UnsupportedDistortionModelError,
)

#: Optical frame ids of the left and right camera when none is given (the bag tools write them; RViz's fixed frame).
DEFAULT_FRAME_IDS: Final = ("stereo_left_optical_frame", "stereo_right_optical_frame")
#: Accepted ``distortion_model`` values and the lengths of D each allows (0 = no distortion).
DISTORTION_MODELS: Final[dict[str, tuple[int, ...]]] = {
    "plumb_bob": (0, 5),
    "rational_polynomial": (0, 8),
    "equidistant": (0, 4),
}

# Relative tolerance when comparing the two projection matrices; calibration
# files often carry only a few decimals.
_RELATIVE_TOLERANCE: Final = 1e-6
_MIN_BASELINE_M: Final = 1e-6
#: R must be orthonormal to this (largest |R R^T - I| entry) with det(R) = +1; calibration files carry ~6 decimals.
ROTATION_TOLERANCE: Final = 1e-3
#: Largest |D| coefficient accepted. Real calibrations stay well below (plumb_bob k1..k3 and rational_polynomial
#: k1..k6 within tens, equidistant within units); larger values are uninitialised memory or wrong units.
MAX_DISTORTION_COEFFICIENT: Final = 1000.0
#: P's principal point may lie outside the image (verged or cropped rectification) by this many image sizes.
PRINCIPAL_POINT_MARGIN: Final = 1.0

# (map1, map2) as returned by cv2.initUndistortRectifyMap.
RectificationMap = tuple[np.ndarray, np.ndarray]


def _read_only_matrix(name: str, value: object, shape: tuple[int, ...] | None) -> np.ndarray:
    """A finite, read-only float64 copy of ``value``, checked against ``shape`` (None = 1-D)."""
    array = np.array(value, dtype=np.float64)
    if (array.ndim != 1) if shape is None else (array.shape != shape):
        expected = "a 1-D vector" if shape is None else f"shape {shape}"
        raise CalibrationShapeError(f"{name} must be {expected}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise NonFiniteCalibrationError(f"{name} contains NaN or inf: {array.tolist()}")
    array.setflags(write=False)
    return array


def _pixel_scaling(sx: float, sy: float) -> np.ndarray:
    """(3, 3) float64 map from pixels of an image to pixels of it resized by (sx, sy).

    Pixel centres stay centres, as with cv2.resize: x' = sx * (x + 0.5) - 0.5.
    """
    return np.array([[sx, 0.0, (sx - 1.0) / 2.0], [0.0, sy, (sy - 1.0) / 2.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, eq=False)
class CameraCalibration:
    """Calibration of one camera of the rig, with the fields of sensor_msgs/CameraInfo.

    Plain numpy, so the core never sees a ROS message; the ROS layer builds it
    from CameraInfo. Arrays are copied to read-only float64 and validated on
    construction.

    Attributes:
        width: raw image width, px (> 0).
        height: raw image height, px (> 0).
        K: (3, 3) float64, raw intrinsics, px.
        D: (N,) float64 distortion coefficients of ``distortion_model``
            (N = 5 plumb_bob, 8 rational_polynomial, 4 equidistant); an empty D
            (no distortion) is stored as N zeros.
        R: (3, 3) float64 rotation from the raw camera frame to the rectified frame.
        P: (3, 4) float64 rectified projection, px; ``P[0, 3] = -fx * baseline_m``
            for the right camera, 0 for the left.
        distortion_model: one of ``DISTORTION_MODELS``.
        frame_id: name of this camera's optical frame (ROS tf frame).

    Raises:
        CalibrationShapeError: a matrix or D has the wrong size, or width/height <= 0.
        NonFiniteCalibrationError: any value is NaN or inf.
        UnsupportedDistortionModelError: unknown ``distortion_model``.
        FocalLengthError: fx or fy of K or P is <= 0 (uncalibrated camera).
        DistortionError: a D coefficient exceeds +-``MAX_DISTORTION_COEFFICIENT``.
        RotationError: R is not orthonormal (``ROTATION_TOLERANCE``) or is a reflection.
        PrincipalPointError: K's (cx, cy) lies outside [0, width] x [0, height] px, or P's
            outside that range widened by ``PRINCIPAL_POINT_MARGIN`` image sizes on each side.
    """

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray
    R: np.ndarray
    P: np.ndarray
    distortion_model: str = "plumb_bob"
    frame_id: str = ""

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            size = operator.index(getattr(self, name))
            if size <= 0:
                raise CalibrationShapeError(f"{name} must be > 0 px, got {size}")
            object.__setattr__(self, name, size)
        for name, shape in (("K", (3, 3)), ("R", (3, 3)), ("P", (3, 4)), ("D", None)):
            object.__setattr__(self, name, _read_only_matrix(name, getattr(self, name), shape))
        lengths = DISTORTION_MODELS.get(self.distortion_model)
        if lengths is None:
            raise UnsupportedDistortionModelError(
                f"distortion_model {self.distortion_model!r} is not one of {sorted(DISTORTION_MODELS)}")
        if self.D.size not in lengths:
            raise CalibrationShapeError(
                f"{self.distortion_model} needs D of length {' or '.join(map(str, lengths))}, got {self.D.size}")
        if self.D.size == 0:
            object.__setattr__(self, "D", _read_only_matrix("D", np.zeros(max(lengths)), None))
        for name, value in (("K[0,0] (fx)", self.K[0, 0]), ("K[1,1] (fy)", self.K[1, 1]),
                            ("P[0,0] (fx)", self.P[0, 0]), ("P[1,1] (fy)", self.P[1, 1])):
            if value <= 0.0:
                raise FocalLengthError(f"{name} must be > 0 px, got {value} (camera {self.frame_id!r} uncalibrated?)")
        _check_distortion(self.D, self.frame_id)
        _check_rotation(self.R, self.frame_id)
        _check_principal_points(self)

    def scaled(self, width: int, height: int) -> CameraCalibration:
        """This calibration for images resized to (width, height) px.

        Focal lengths scale with the image; principal points follow cv2.resize's
        pixel-centre convention (cx' = sx * (cx + 0.5) - 0.5); D and R are unchanged.
        """
        scaling = _pixel_scaling(width / self.width, height / self.height)
        return CameraCalibration(width=width, height=height, K=scaling @ self.K, D=self.D, R=self.R,
                                 P=scaling @ self.P, distortion_model=self.distortion_model,
                                 frame_id=self.frame_id)

    def rectification_map(self) -> RectificationMap:
        """Fixed-point maps (CV_16SC2) from rectified pixels to raw pixels, for cv2.remap."""
        size = (self.width, self.height)
        if self.distortion_model == "equidistant":
            return cv2.fisheye.initUndistortRectifyMap(self.K, self.D, self.R, self.P[:, :3], size, cv2.CV_16SC2)
        return cv2.initUndistortRectifyMap(self.K, self.D, self.R, self.P[:, :3], size, cv2.CV_16SC2)


def _check_distortion(distortion: np.ndarray, frame_id: str) -> None:
    """Raise DistortionError when a coefficient exceeds ``MAX_DISTORTION_COEFFICIENT`` in magnitude."""
    largest = int(np.argmax(np.abs(distortion))) if distortion.size else 0
    if distortion.size and abs(distortion[largest]) > MAX_DISTORTION_COEFFICIENT:
        raise DistortionError(f"D[{largest}] = {distortion[largest]} exceeds +-{MAX_DISTORTION_COEFFICIENT:g} "
                              f"(camera {frame_id!r}): not a distortion coefficient")


def _check_rotation(rotation: np.ndarray, frame_id: str) -> None:
    """Raise RotationError unless R is orthonormal (within ``ROTATION_TOLERANCE``) with det(R) = +1."""
    error = float(np.max(np.abs(rotation @ rotation.T - np.eye(3))))
    if error > ROTATION_TOLERANCE:
        raise RotationError(f"R is not orthonormal (camera {frame_id!r}): largest |R R^T - I| entry is {error:.3g}, "
                            f"more than {ROTATION_TOLERANCE:g}; R = {rotation.tolist()}")
    determinant = float(np.linalg.det(rotation))
    if determinant < 0.0:
        raise RotationError(f"R is a reflection, not a rotation (camera {frame_id!r}): det(R) = {determinant:.4g}")


def _check_principal_points(calibration: CameraCalibration) -> None:
    """Raise PrincipalPointError when K's principal point is outside the image, or P's far outside it."""
    width, height = calibration.width, calibration.height
    margin = PRINCIPAL_POINT_MARGIN
    for name, matrix, low, high in (("K", calibration.K, 0.0, 1.0), ("P", calibration.P, -margin, 1.0 + margin)):
        for (row, col), axis, size in (((0, 2), "cx", width), ((1, 2), "cy", height)):
            value = float(matrix[row, col])
            if not low * size <= value <= high * size:
                raise PrincipalPointError(
                    f"{name}[{row},{col}] ({axis}) = {value} px is outside [{low * size:g}, {high * size:g}] for "
                    f"the {width}x{height} px image (camera {calibration.frame_id!r}): a calibration of another "
                    "image size?")


def _require_close(name: str, actual: float, expected: float, scale: float) -> None:
    """Raise ProjectionMismatchError unless |actual - expected| <= tolerance * scale."""
    if abs(actual - expected) > _RELATIVE_TOLERANCE * scale:
        raise ProjectionMismatchError(f"{name} is {actual}, expected {expected} for a horizontally rectified pair")


def _validate_pair(left: CameraCalibration, right: CameraCalibration) -> None:
    """Check that left and right form a horizontally rectified stereo rig."""
    if (left.width, left.height) != (right.width, right.height):
        raise ImageSizeMismatchError(
            f"left is {left.width}x{left.height} px but right is {right.width}x{right.height} px")
    p_left, p_right = left.P, right.P
    scale = abs(p_left[0, 0]) + abs(p_left[0, 2]) + abs(p_left[1, 2])
    for camera, p in (("left", p_left), ("right", p_right)):
        for (row, col), expected in (((0, 1), 0.0), ((1, 0), 0.0), ((2, 0), 0.0), ((2, 1), 0.0),
                                     ((2, 2), 1.0), ((2, 3), 0.0), ((1, 3), 0.0)):
            _require_close(f"P_{camera}[{row},{col}]", p[row, col], expected, scale)
    _require_close("P_left[0,3]", p_left[0, 3], 0.0, scale)
    _require_close("P_right[0,0] (fx)", p_right[0, 0], p_left[0, 0], scale)
    _require_close("P_right[1,1] (fy)", p_right[1, 1], p_left[1, 1], scale)
    _require_close("P_right[1,2] (cy)", p_right[1, 2], p_left[1, 2], scale)
    baseline_m = -p_right[0, 3] / p_right[0, 0]
    if abs(baseline_m) < _MIN_BASELINE_M:
        raise BaselineError(f"baseline -P_right[0,3]/P_right[0,0] is {baseline_m} m: the right P has no translation")
    if baseline_m < 0.0:
        raise BaselineSignError(
            f"P_right[0,3] = {p_right[0, 3]} must be negative (-fx * baseline_m); "
            f"it gives baseline {baseline_m} m: left and right swapped?")


@dataclass(frozen=True, eq=False)
class StereoCameraModel:
    """A horizontally rectified stereo rig; the one place that knows its geometry.

    Build it with ``from_calibrations``; construction validates the pair. All
    derived quantities are in the left rectified optical frame and in pixels of
    the rectified images (see the module docstring for the conventions).

    Attributes:
        left: calibration of the left (reference) camera.
        right: calibration of the right camera.
        rectified_input: True when the images arrive already rectified; then
            ``rectify`` passes them through and only P matters.
    """

    left: CameraCalibration
    right: CameraCalibration
    rectified_input: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        _validate_pair(self.left, self.right)

    @classmethod
    def from_calibrations(cls, left: CameraCalibration, right: CameraCalibration, *,
                          rectified_input: bool = False) -> StereoCameraModel:
        """Validated model of the rig made of ``left`` and ``right``.

        Raises:
            ImageSizeMismatchError: left and right image sizes differ.
            ProjectionMismatchError: the P matrices disagree on fx, fy or cy, the left P
                has a translation, or the right P translates along anything but x.
            BaselineError: the baseline is zero.
            BaselineSignError: ``P_right[0, 3]`` is positive (cameras swapped).
        """
        return cls(left, right, rectified_input=rectified_input)

    @property
    def width(self) -> int:
        """Rectified image width, px."""
        return self.left.width

    @property
    def height(self) -> int:
        """Rectified image height, px."""
        return self.left.height

    @property
    def fx(self) -> float:
        """Rectified horizontal focal length, px (P_left[0, 0] = P_right[0, 0])."""
        return float(self.left.P[0, 0])

    @property
    def fy(self) -> float:
        """Rectified vertical focal length, px."""
        return float(self.left.P[1, 1])

    @property
    def cx_left(self) -> float:
        """Principal point x of the left rectified image, px."""
        return float(self.left.P[0, 2])

    @property
    def cx_right(self) -> float:
        """Principal point x of the right rectified image, px."""
        return float(self.right.P[0, 2])

    @property
    def cy(self) -> float:
        """Principal point y shared by both rectified images, px."""
        return float(self.left.P[1, 2])

    @property
    def baseline_m(self) -> float:
        """Distance between the optical centres, metres (-P_right[0, 3] / P_right[0, 0] > 0)."""
        return float(-self.right.P[0, 3] / self.right.P[0, 0])

    @property
    def cx_offset_px(self) -> float:
        """cx_left - cx_right, px: the disparity of a point at infinity."""
        return self.cx_left - self.cx_right

    @cached_property
    def Q(self) -> np.ndarray:
        """(4, 4) float64 reprojection matrix: Q @ (x, y, d, 1) = (X, Y, Z, W), metres = (X, Y, Z) / W.

        Derivation, with the conventions of the module docstring:
            X = x - cx_left, Y = (fx / fy) * (y - cy), Z = fx,
            W = (d - (cx_left - cx_right)) / baseline_m,
        so Z / W = fx * baseline_m / (d - cx_offset_px), X / W = (x - cx_left) * Z / fx and
        Y / W = (y - cy) * Z / fy. With fx = fy this is OpenCV's stereoRectify Q
        including its (cx_left - cx_right) / Tx term.
        """
        aspect = self.fx / self.fy
        q = np.array([
            [1.0, 0.0, 0.0, -self.cx_left],
            [0.0, aspect, 0.0, -self.cy * aspect],
            [0.0, 0.0, 0.0, self.fx],
            [0.0, 0.0, 1.0 / self.baseline_m, -self.cx_offset_px / self.baseline_m],
        ])
        q.setflags(write=False)
        return q

    @cached_property
    def rectification_maps(self) -> tuple[RectificationMap, RectificationMap]:
        """Left and right remap tables, computed on first use and kept with the model."""
        return self.left.rectification_map(), self.right.rectification_map()

    def rectify(self, left: np.ndarray, right: np.ndarray, *,
                interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
        """Rectified copies of a raw pair (or the pair itself when ``rectified_input``).

        Args:
            left: (H, W) or (H, W, C) raw left image, any dtype cv2.remap takes.
            right: same shape and dtype as ``left``.
            interpolation: cv2 interpolation flag.

        Returns:
            (left, right) rectified, same shape and dtype; pixels that map outside
            the raw image are 0.

        Raises:
            ImageShapeError: the images differ in shape or are not (height, width) of the model.
        """
        if left.shape != right.shape or left.shape[:2] != (self.height, self.width) or left.dtype != right.dtype:
            raise ImageShapeError(
                f"expected left and right of shape ({self.height}, {self.width}[, C]) and one dtype, "
                f"got {left.shape} {left.dtype} and {right.shape} {right.dtype}")
        if self.rectified_input:
            return left, right
        (left_map1, left_map2), (right_map1, right_map2) = self.rectification_maps
        return (cv2.remap(left, left_map1, left_map2, interpolation),
                cv2.remap(right, right_map1, right_map2, interpolation))

    def scaled(self, width: int, height: int) -> StereoCameraModel:
        """The model for images resized to (width, height) px.

        fx, cx (and cx_offset_px, and so disparities) scale with width / self.width,
        fy and cy with height / self.height; baseline_m is unchanged, so depth is too.
        """
        return StereoCameraModel(self.left.scaled(width, height), self.right.scaled(width, height),
                                 rectified_input=self.rectified_input)
