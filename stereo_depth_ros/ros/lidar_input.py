"""LiDAR clouds as disparity hints: the one code path of the node and ``stereo_bag_process``.

A stereo pair at stamp t is guided by the cloud whose header stamp is nearest
to t (``nearest_cloud``, or ``nearest_stamp_index`` over stamps alone), and
only when

* |cloud stamp - t| <= ``lidar_stamp_tolerance_s`` (else ``LidarStampError``),
* its frame is known (else ``LidarFrameError``; ``LidarHintSettings.camera_T_cloud``):
  the left camera's frame itself; or, when ``lidar_transform`` is set (not the
  identity), ``lidar_frame_id`` (any frame if that is empty) with that pose;
  or, when ``lidar_transform`` is the identity, any frame (``lidar_frame_id``
  if set) that /tf_static connects to the left camera's frame. A cloud in a
  LiDAR's own frame is never taken for one in the camera frame.
* its x, y, z fields can be read (else ``PointCloudConversionError``).

``lidar_hints_for_pair`` then maps the points into the left camera's raw
optical frame with that transform and projects them with the core's
``lidar_hints`` (which rotates them into the rectified frame with the left R).
A pair whose cloud is rejected is matched without LiDAR hints; the caller
reports why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from sensor_msgs.msg import PointCloud2

from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.frames import StaticTransforms, TransformError, transform_from_pose
from stereo_depth_ros.core.hints import lidar_hints
from stereo_depth_ros.core.stamps import seconds_to_ns
from stereo_depth_ros.ros.errors import LidarFrameError, LidarStampError, RosLayerError
from stereo_depth_ros.ros.parameters import NodeSettings
from stereo_depth_ros.ros.point_cloud_reading import point_cloud_xyz
from stereo_depth_ros.ros.stamps import stamp_ns as stamp_to_ns

__all__ = [
    "LIDAR_TOPIC",
    "POINT_CLOUD2_TYPE",
    "LidarHintSettings",
    "lidar_hints_for_pair",
    "nearest_cloud",
    "nearest_stamp_index",
    "uses_lidar",
]

#: The node's LiDAR input (relative, so it follows the namespace and can be remapped).
LIDAR_TOPIC: Final = "hints/points"
#: The message type on it, as a bag names it.
POINT_CLOUD2_TYPE: Final = "sensor_msgs/msg/PointCloud2"


def uses_lidar(hints: str) -> bool:
    """Whether the ``hints`` parameter value takes LiDAR hints (lidar or both)."""
    return hints in ("lidar", "both")


@dataclass(frozen=True, eq=False)
class LidarHintSettings:
    """The lidar_ parameters, ready to use.

    Attributes:
        frame_id: the frame_id clouds must have ("" = any, with a non-identity transform).
        camera_T_lidar: (4, 4) float64, LiDAR frame -> left camera raw optical frame.
        stamp_tolerance_ns: largest |cloud stamp - image stamp|, ns.
        min_depth_m, max_depth_m: points outside this rectified depth range give no hint, m.
    """

    frame_id: str
    camera_T_lidar: np.ndarray
    stamp_tolerance_ns: int
    min_depth_m: float
    max_depth_m: float

    @classmethod
    def from_settings(cls, settings: NodeSettings) -> LidarHintSettings:
        """From the node's (validated) settings.

        Raises:
            RosLayerError: a lidar_transform that is not a pose (``core.frames.transform_from_pose``).
        """
        try:
            camera_T_lidar = transform_from_pose(settings.lidar_transform)
        except TransformError as err:
            raise RosLayerError(f"lidar_transform: {err}") from err
        return cls(frame_id=settings.lidar_frame_id, camera_T_lidar=camera_T_lidar,
                   stamp_tolerance_ns=seconds_to_ns(settings.lidar_stamp_tolerance_s),
                   min_depth_m=settings.lidar_min_depth_m, max_depth_m=settings.lidar_max_depth_m)

    @property
    def is_identity(self) -> bool:
        """Whether the clouds are taken to be in the left camera's raw optical frame already."""
        return bool(np.allclose(self.camera_T_lidar, np.eye(4), rtol=0.0, atol=1e-12))

    def camera_T_cloud(self, frame_id: str, *, camera_frame_id: str,
                       static_transforms: StaticTransforms | None = None) -> np.ndarray | None:
        """The transform from a cloud's frame to the left camera's raw optical frame (module docstring).

        Args:
            frame_id: the cloud's header frame_id.
            camera_frame_id: the left camera's frame_id (its camera_info's).
            static_transforms: what /tf_static said, if it is read.

        Returns:
            (4, 4) float64 ``camera_T_cloud``, or None when the cloud is in the camera's frame already.

        Raises:
            LidarFrameError: the frame is not accepted, or /tf_static does not connect it to the camera.
        """
        if self.is_identity and frame_id == camera_frame_id:
            return None
        if self.frame_id and frame_id != self.frame_id:
            raise LidarFrameError(
                f"the cloud is in frame {frame_id!r}, expected {self.frame_id!r} (lidar_frame_id)"
                + (f" or the left camera's {camera_frame_id!r}" if self.is_identity else ""))
        if not self.is_identity:
            return self.camera_T_lidar
        found = None if static_transforms is None else static_transforms.lookup(camera_frame_id, frame_id)
        if found is None:
            source = ("/tf_static connects no such frame to it" if static_transforms is not None
                      else "/tf_static is not read")
            raise LidarFrameError(
                f"the cloud is in frame {frame_id!r}, not the left camera's {camera_frame_id!r}, and {source}: "
                "publish the LiDAR's static transform, or set lidar_transform to its pose in the left camera's "
                "optical frame")
        return found


def nearest_stamp_index(stamps_ns: Sequence[int], stamp_ns: int) -> int | None:
    """Index of the stamp nearest to ``stamp_ns`` (the later one on a tie, then the first), or None when empty.

    Args:
        stamps_ns: cloud stamps in ns, in any order.
        stamp_ns: the stereo pair's stamp, ns.
    """
    if len(stamps_ns) == 0:
        return None
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    distance = np.abs(stamps - np.int64(stamp_ns))
    candidates = np.flatnonzero(distance == distance.min())
    return int(candidates[np.argmax(stamps[candidates])])


def nearest_cloud(clouds: Iterable[PointCloud2], stamp_ns: int) -> PointCloud2 | None:
    """The cloud whose stamp is nearest to ``stamp_ns`` (``nearest_stamp_index``), or None when there is none."""
    kept = list(clouds)
    index = nearest_stamp_index([stamp_to_ns(cloud.header.stamp) for cloud in kept], stamp_ns)
    return None if index is None else kept[index]


def lidar_hints_for_pair(cloud: PointCloud2, camera: StereoCameraModel, *, image_stamp_ns: int,
                         settings: LidarHintSettings,
                         static_transforms: StaticTransforms | None = None) -> np.ndarray:
    """The cloud as disparity hints for the stereo pair stamped ``image_stamp_ns``.

    Args:
        cloud: a PointCloud2 with x, y, z in metres in its header's frame.
        camera: the rectified rig of the pair; ``camera.left.frame_id`` is the left
            camera's raw optical frame.
        image_stamp_ns: the pair's (left image's) stamp, ns.
        settings: the lidar_ parameters.
        static_transforms: /tf_static's transforms, when read (``LidarHintSettings.camera_T_cloud``).

    Returns:
        (H, W) float32 disparity in px of the left rectified image (d = x_left - x_right),
        NaN where no point lands (``core.hints.lidar_hints``).

    Raises:
        LidarStampError: the stamps differ by more than the tolerance (both stamps named).
        LidarFrameError: the cloud's frame is not accepted or not connected to the camera's.
        PointCloudConversionError: the cloud's x, y, z cannot be read.
    """
    offset_ns = stamp_to_ns(cloud.header.stamp) - image_stamp_ns
    if abs(offset_ns) > settings.stamp_tolerance_ns:
        raise LidarStampError(
            f"the nearest cloud in time (stamp {stamp_to_ns(cloud.header.stamp) / 1e9:.3f} s) is "
            f"{abs(offset_ns) / 1e9:.3f} s {'after' if offset_ns > 0 else 'before'} the stereo pair "
            f"({image_stamp_ns / 1e9:.3f} s); lidar_stamp_tolerance_s is {settings.stamp_tolerance_ns / 1e9:g} s")
    camera_T_cloud = settings.camera_T_cloud(cloud.header.frame_id, camera_frame_id=camera.left.frame_id,
                                             static_transforms=static_transforms)
    points_m = point_cloud_xyz(cloud)
    return lidar_hints(points_m, camera, camera_T_lidar=camera_T_cloud,
                       min_depth_m=settings.min_depth_m, max_depth_m=settings.max_depth_m)
