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


class BagError(RosLayerError):
    """Base of the errors raised while reading or writing a rosbag2 bag (``ros.bag_io``)."""


class BagReadError(BagError):
    """A bag cannot be read: the message names the bag and the problem."""


class BagNotFoundError(BagReadError):
    """The path is neither a rosbag2 directory (with metadata.yaml) nor a .db3 / .mcap file."""


class CorruptBagError(BagReadError):
    """The bag's metadata or storage file is truncated or damaged.

    Raised on opening, or while iterating after some messages were read; the
    message says how many were read before the damage.
    """


class MissingTopicError(BagReadError):
    """A topic a tool needs is not in the bag; the message lists the topics that are."""


class UnknownMessageTypeError(BagError):
    """A message type has no Python class (package not installed) or no known definition."""


class BagWriteError(BagError):
    """A bag cannot be written (the output exists, the disk is full, ...)."""


class StereoFrameError(RosLayerError):
    """The messages of one stereo frame do not fit together (size, calibration, encoding)."""


class TopicTypeError(BagReadError):
    """A topic holds another message type than the tool needs (e.g. CompressedImage for Image)."""


class PointCloudConversionError(RosLayerError):
    """A sensor_msgs/PointCloud2 cannot be read: missing x/y/z fields, unsupported datatypes, truncated data."""


class LidarHintError(RosLayerError):
    """A LiDAR cloud cannot guide this stereo pair (``ros.lidar_input``); the pair is matched without it."""


class LidarStampError(LidarHintError):
    """The cloud's stamp is farther from the image's than ``lidar_stamp_tolerance_s``."""


class LidarFrameError(LidarHintError):
    """The cloud's frame_id is not the one ``lidar_frame_id`` (or the identity ``lidar_transform``) expects."""
