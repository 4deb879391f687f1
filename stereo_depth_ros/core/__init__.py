"""ROS-free core: camera model and rectification, depth and point geometry.

Takes numpy arrays and frozen calibration dataclasses, never ROS messages.
Conventions (d = x_left - x_right in px; depth in metres in the left rectified
optical frame; NaN = invalid) are stated in ``camera_model``.
"""

from stereo_depth_ros.core.camera_model import DISTORTION_MODELS, CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.errors import (
    BaselineError,
    BaselineSignError,
    CalibrationError,
    CalibrationShapeError,
    DistortionError,
    FocalLengthError,
    ImageShapeError,
    ImageSizeMismatchError,
    NonFiniteCalibrationError,
    PrincipalPointError,
    ProjectionMismatchError,
    RotationError,
    StereoDepthError,
    UnsupportedDistortionModelError,
)
from stereo_depth_ros.core.geometry import (
    UINT16_DEPTH_MAX_MM,
    OrganizedPointCloud,
    check_image_shape,
    depth_to_uint16_mm,
    disparity_to_depth,
    points_from_depth,
)

__all__ = [
    "DISTORTION_MODELS",
    "UINT16_DEPTH_MAX_MM",
    "BaselineError",
    "BaselineSignError",
    "CalibrationError",
    "CalibrationShapeError",
    "CameraCalibration",
    "DistortionError",
    "FocalLengthError",
    "ImageShapeError",
    "ImageSizeMismatchError",
    "NonFiniteCalibrationError",
    "OrganizedPointCloud",
    "PrincipalPointError",
    "ProjectionMismatchError",
    "RotationError",
    "StereoCameraModel",
    "StereoDepthError",
    "UnsupportedDistortionModelError",
    "check_image_shape",
    "depth_to_uint16_mm",
    "disparity_to_depth",
    "points_from_depth",
]
