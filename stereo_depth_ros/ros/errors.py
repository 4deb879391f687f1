"""Errors raised by the ROS layer.

Calibration problems found while reading a CameraInfo are the core's
``CalibrationError`` (or ``UnsupportedCameraInfoError``, a subclass), so one
``except CalibrationError`` covers both layers.
"""

from __future__ import annotations

from stereo_depth_ros.core.errors import CalibrationError


class RosLayerError(ValueError):
    """Base of the errors the ROS layer raises on its own."""


class ImageConversionError(RosLayerError):
    """A sensor_msgs/Image cannot be converted: unsupported encoding, bad step or size, truncated data."""


class UnsupportedCameraInfoError(CalibrationError):
    """A CameraInfo uses binning or a region of interest, which the pipeline does not support."""
