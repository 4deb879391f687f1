"""The node's output messages for one processed frame, shared by the node and ``stereo_bag_process``.

``output_messages`` turns a ``StereoOutput`` into every message the node
publishes (subject to the ``publish_*`` parameters), keyed by relative topic;
the node publishes them, the bag tool writes them, so for the same frame,
settings and calibration (chosen by the same rule, ``ros.calibration``) live
and offline outputs are the same bytes (a test compares the disparity of a
stream with a bad CameraInfo mid-stream). ``disparity_range_px`` states the backend's disparity range
as DisparityImage reports it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, TypeAlias

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.backends.base import StereoBackend
from stereo_depth_ros.backends.sgbm_backend import OpenCvStereoBackend
from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.pipeline.stereo_pipeline import StereoOutput
from stereo_depth_ros.ros.image_conversion import numpy_to_image
from stereo_depth_ros.ros.messages import (
    camera_info_message,
    depth_image_message,
    disparity_image_message,
    left_rectified_header,
    point_cloud2_message,
)
from stereo_depth_ros.ros.parameters import NodeSettings

__all__ = ["OPENCV_DISPARITY_STEP_PX", "OUTPUT_TOPICS", "OutputMessage", "disparity_range_px", "output_messages"]

#: The node's output topics (relative names), by role, in publishing order.
OUTPUT_TOPICS: Final = {"disparity": "disparity", "depth": "depth", "depth_info": "depth/camera_info",
                        "confidence": "confidence", "points": "points2", "rectified": "left/image_rect"}
#: Disparity step of OpenCV's fixed-point matchers, px.
OPENCV_DISPARITY_STEP_PX: Final = 1.0 / 16.0

#: What ``output_messages`` returns per topic.
OutputMessage: TypeAlias = DisparityImage | Image | CameraInfo | PointCloud2


def disparity_range_px(backend: StereoBackend, rig: StereoCameraModel) -> tuple[float, float, float]:
    """(min, max, step) of the disparities ``backend`` reports on ``rig``'s images, px (d = x_left - x_right).

    The OpenCV matchers (``OpenCvStereoBackend``, its ``params``): their search range
    [min_disparity, min_disparity + num_disparities] in 1/16 px steps. Any other backend (a
    regression network; a ``FittedBackend``, whose result is resized): [0,
    ``max_disparity_px_for`` this image size]; its output is continuous, so the step is the
    finest one float32 resolves over the whole range of the DisparityImage's values
    (d - (cx_left - cx_right)): ``np.spacing`` at the largest magnitude, e.g. 1.5e-5 px at
    192 px. (0 would read as "unknown" to consumers.)
    """
    if isinstance(backend, OpenCvStereoBackend):
        low = float(backend.params.min_disparity)
        return low, low + float(backend.params.num_disparities), OPENCV_DISPARITY_STEP_PX
    high = float(backend.max_disparity_px_for((rig.height, rig.width)))
    largest = max(abs(0.0 - rig.cx_offset_px), abs(high - rig.cx_offset_px))
    return 0.0, high, float(np.spacing(np.float32(largest)))


def output_messages(output: StereoOutput, *, stamp: Time, settings: NodeSettings,
                    disparity_range: tuple[float, float, float],
                    wanted: Collection[str] | None = None) -> dict[str, OutputMessage]:
    """The messages the node publishes for one processed frame, keyed by relative topic (``OUTPUT_TOPICS``).

    Args:
        output: the pipeline's result; all messages are in its rig's left rectified frame.
        stamp: the left image's stamp, stamped on every message.
        settings: depth encoding, point padding, and which outputs exist (``publish_*``;
            points2 also needs ``output.points``).
        disparity_range: (min, max, step) px, from ``disparity_range_px``.
        wanted: build only these topics (the node passes those with a subscriber, as
            image_transport's lazy publishers do); None builds every enabled one.

    Returns:
        {topic: message} in publishing order: disparity; depth and depth/camera_info,
        confidence (32FC1, 0 where invalid), points2, left/image_rect as enabled.
    """
    def want(role: str) -> bool:
        return wanted is None or OUTPUT_TOPICS[role] in wanted

    rig = output.camera
    header = left_rectified_header(rig, stamp)
    low, high, step = disparity_range
    messages: dict[str, OutputMessage] = {}
    if want("disparity"):
        messages[OUTPUT_TOPICS["disparity"]] = disparity_image_message(
            output.disparity_px, rig, stamp=stamp, min_disparity_px=low, max_disparity_px=high, delta_d_px=step)
    if settings.publish_depth and want("depth"):
        messages[OUTPUT_TOPICS["depth"]] = depth_image_message(output.depth_m, header=header,
                                                               encoding=settings.depth_encoding)
    if settings.publish_depth and want("depth_info"):
        messages[OUTPUT_TOPICS["depth_info"]] = camera_info_message(rig, stamp=stamp)
    if settings.publish_confidence and want("confidence"):
        messages[OUTPUT_TOPICS["confidence"]] = numpy_to_image(output.confidence.astype(np.float32), "32FC1",
                                                               header=header)
    if settings.publish_points and output.points is not None and want("points"):
        messages[OUTPUT_TOPICS["points"]] = point_cloud2_message(
            output.points.xyz_m, output.points.rgb, header=header, avoid_padding=settings.avoid_point_cloud_padding)
    if settings.publish_rectified and want("rectified"):
        encoding = "rgb8" if output.left_rect.ndim == 3 else "mono8"
        messages[OUTPUT_TOPICS["rectified"]] = numpy_to_image(np.ascontiguousarray(output.left_rect), encoding,
                                                              header=header)
    return messages
