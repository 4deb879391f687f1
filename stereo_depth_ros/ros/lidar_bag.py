"""LiDAR clouds stored in a bag, as hints for its stereo frames (``stereo_bag_process``, ``stereo_depth_adapt``).

The same rules as the live node (``ros.lidar_input``): the cloud nearest in
stamp to a frame, wherever it is logged, checked against the stamp tolerance
and the frame rules, with the bag's own /tf_static for clouds outside the
camera's frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sensor_msgs.msg import PointCloud2

from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.ros.bag_io import BagReader, normalize_topic
from stereo_depth_ros.ros.errors import CorruptBagError, LidarHintError
from stereo_depth_ros.ros.lidar_input import (
    POINT_CLOUD2_TYPE,
    LidarHintSettings,
    lidar_hints_for_pair,
    nearest_stamp_index,
)
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.ros.static_transforms import static_transforms_from_bag

__all__ = ["BagClouds"]


class BagClouds:
    """The PointCloud2 messages of one bag topic, found by header stamp.

    On opening, every cloud is read once for its stamp (only the stamps are
    kept), and the bag's /tf_static, if any, into ``static_transforms``;
    ``nearest`` then reads the one cloud nearest to a stereo frame's stamp
    (``ros.lidar_input.nearest_stamp_index``, the node's rule) through its own
    reader, so it may lie before or after the frame in the bag.

    Args:
        path: the bag.
        topic: the cloud topic (with or without leading slash).

    Raises (constructor):
        MissingTopicError: the topic is not in the bag.
        TopicTypeError: it is not sensor_msgs/msg/PointCloud2.
        CorruptBagError: a cloud cannot be read.
    """

    def __init__(self, path: str | Path, topic: str) -> None:
        self.topic = normalize_topic(topic)
        self._reader = BagReader(path)
        try:
            self._reader.require_topics({self.topic: POINT_CLOUD2_TYPE})
            #: (log time ns, position among the clouds logged at that time) of each cloud, and its stamp.
            self._places: list[tuple[int, int]] = []
            stamps: list[int] = []
            previous_log_ns, position = None, 0
            for message in self._reader.messages([self.topic]):
                position = position + 1 if message.log_time_ns == previous_log_ns else 0
                previous_log_ns = message.log_time_ns
                self._places.append((message.log_time_ns, position))
                stamps.append(stamp_ns(message.deserialize().header.stamp))
            self.stamps_ns = tuple(stamps)
            #: The bag's /tf_static (for clouds not in the camera frame), and what of it was left out.
            self.static_transforms, self.static_transform_problems = static_transforms_from_bag(self._reader)
        except BaseException:
            self._reader.close()
            raise
        self._cached: tuple[int, PointCloud2] | None = None

    def __enter__(self) -> BagClouds:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the bag (idempotent)."""
        self._reader.close()

    def nearest(self, stamp_ns: int) -> PointCloud2 | None:
        """The cloud whose stamp is nearest to ``stamp_ns`` (not checked against any tolerance), None if none."""
        index = nearest_stamp_index(self.stamps_ns, stamp_ns)
        if index is None:
            return None
        if self._cached is None or self._cached[0] != index:  # frames faster than the LiDAR share a cloud
            log_time_ns, position = self._places[index]
            logged_then = self._reader.messages([self.topic], start_ns=log_time_ns, stop_ns=log_time_ns + 1)
            for count, message in enumerate(logged_then):
                if count == position:
                    self._cached = (index, message.deserialize())
                    break
            else:  # pragma: no cover  (the bag changed since it was opened)
                raise CorruptBagError(f"{self._reader.path}: the cloud on {self.topic} logged at {log_time_ns} ns "
                                      "cannot be read again")
        assert self._cached is not None
        return self._cached[1]

    def hints_for(self, camera: StereoCameraModel, *, image_stamp_ns: int,
                  settings: LidarHintSettings) -> np.ndarray:
        """Disparity hints from the cloud nearest to a stereo pair, checked as the node checks them.

        Returns:
            (H, W) float32 disparity in px of the left rectified image, NaN where no point lands.

        Raises:
            LidarHintError: no cloud at all, a stale cloud or an unknown frame (``lidar_hints_for_pair``).
            PointCloudConversionError: the cloud's x, y, z cannot be read.
        """
        cloud = self.nearest(image_stamp_ns)
        if cloud is None:
            raise LidarHintError(f"{self.topic} has no clouds")
        return lidar_hints_for_pair(cloud, camera, image_stamp_ns=image_stamp_ns, settings=settings,
                                    static_transforms=self.static_transforms)
