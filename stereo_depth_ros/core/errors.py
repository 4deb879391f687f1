"""Errors raised by the ROS-free core.

Every error is a ``StereoDepthError``; calibration problems are a
``CalibrationError`` subclass that says which check failed, and their messages
name the offending value. All of them are also ``ValueError`` so generic
callers can catch bad input the usual way.
"""

from __future__ import annotations


class StereoDepthError(ValueError):
    """Base of every error the core raises."""


class CalibrationError(StereoDepthError):
    """A camera calibration cannot describe a usable stereo rig."""


class CalibrationShapeError(CalibrationError):
    """A matrix or distortion vector has the wrong size, or an image size is not positive."""


class NonFiniteCalibrationError(CalibrationError):
    """A calibration value is NaN or infinite."""


class UnsupportedDistortionModelError(CalibrationError):
    """The distortion model is not plumb_bob, rational_polynomial or equidistant."""


class FocalLengthError(CalibrationError):
    """A focal length (fx or fy, in K or P) is zero or negative: the camera is uncalibrated."""


class RotationError(CalibrationError):
    """The rectification rotation R is not a rotation: not orthonormal, or a reflection (det -1)."""


class DistortionError(CalibrationError):
    """A distortion coefficient is implausibly large (not a calibration: uninitialised or mis-scaled values)."""


class PrincipalPointError(CalibrationError):
    """A principal point lies outside the image (K) or far outside it (P): a calibration of another size?"""


class BaselineError(CalibrationError):
    """The baseline -P_right[0, 3] / P_right[0, 0] is zero."""


class BaselineSignError(BaselineError):
    """P_right[0, 3] = -fx * baseline_m is positive: left and right are swapped."""


class ImageSizeMismatchError(CalibrationError):
    """Left and right calibrations are for different image sizes."""


class ProjectionMismatchError(CalibrationError):
    """The projection matrices do not form a horizontally rectified pair.

    Left and right must share fx, fy and cy; the left P has no translation and the
    right P translates along x only.
    """


class ImageShapeError(StereoDepthError):
    """An array argument does not have the shape or dtype its docstring requires."""
