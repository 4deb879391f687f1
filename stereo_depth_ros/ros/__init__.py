"""Thin ROS 2 layer: message conversion, node, synchronisation, parameters.

Imports rclpy and message packages; turns messages into the core's arrays and
calibration dataclasses and back, and holds no geometry of its own.
"""

from stereo_depth_ros.ros.errors import (
    ImageConversionError,
    PointCloudConversionError,
    RosLayerError,
    UnsupportedCameraInfoError,
)
from stereo_depth_ros.ros.image_conversion import (
    ENCODINGS,
    byte_array,
    image_to_numpy,
    matching_image,
    numpy_to_image,
)
from stereo_depth_ros.ros.messages import (
    DEPTH_ENCODINGS,
    calibration_from_camera_info,
    camera_info_message,
    depth_image_message,
    disparity_image_message,
    left_rectified_header,
    point_cloud2_message,
)
from stereo_depth_ros.ros.point_cloud_reading import point_cloud_xyz

__all__ = [
    "DEPTH_ENCODINGS",
    "ENCODINGS",
    "ImageConversionError",
    "PointCloudConversionError",
    "RosLayerError",
    "UnsupportedCameraInfoError",
    "byte_array",
    "calibration_from_camera_info",
    "camera_info_message",
    "depth_image_message",
    "disparity_image_message",
    "image_to_numpy",
    "left_rectified_header",
    "matching_image",
    "numpy_to_image",
    "point_cloud2_message",
    "point_cloud_xyz",
]
