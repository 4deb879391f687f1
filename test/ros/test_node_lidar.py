"""StereoDepthNode with LiDAR hints (hints:=lidar) as a process: clouds used; bad clouds rejected, output going on.

SGBM ignores hints, so the node's matching is cheap and its outputs do not
depend on them; what the cloud did is read from /diagnostics: the counters of
clouds used and rejected, and the number of hint pixels of the last pair,
compared with the core's projection of the same points. The LiDAR frame is
rotated and offset from the camera (lidar_transform is not the identity), so a
cloud in the camera's own frame is a wrong-frame cloud here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from stereo_node_harness import (
    NodeProcess,
    Rig,
    RosPeer,
    image_message,
    scene,
    to_time,
    wait_for,
)

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.frames import transform_from_pose
from stereo_depth_ros.core.hints import lidar_hints
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.ros.static_transforms import tf_message_class

RIG = Rig()
LIDAR_FRAME = "lidar_top"
# LiDAR x forward, y left, z up, 0.15 m above and 0.04 m left of the left camera, yawed 2 degrees.
_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
_ROTATION = _AXES @ cv2.Rodrigues(np.array([0.0, 0.0, math.radians(2.0)]))[0]
_VECTOR = cv2.Rodrigues(_ROTATION)[0].reshape(3)
_ANGLE = float(np.linalg.norm(_VECTOR))
LIDAR_POSE = [-0.04, -0.15, 0.0, *(_VECTOR / _ANGLE * math.sin(_ANGLE / 2.0)).tolist(), math.cos(_ANGLE / 2.0)]
PARAMETERS = {"backend": "sgbm", "rectify": False, "max_disparity_px": 64, "lr_check": False, "hints": "lidar",
              "lidar_frame_id": LIDAR_FRAME, "lidar_transform": LIDAR_POSE, "lidar_stamp_tolerance_s": 0.05,
              "diagnostics_period_seconds": 0.5}
STEP_NS = 10_000_000_000  # each exchange 10 s after the previous one: older clouds never fit a new pair


def rig_model() -> StereoCameraModel:
    left, right = RIG.rectified_infos()
    calibrations = [CameraCalibration(RIG.width, RIG.height, np.reshape(info.k, (3, 3)), [], np.eye(3),
                                      np.reshape(info.p, (3, 4)), frame_id=info.header.frame_id)
                    for info in (left, right)]
    return StereoCameraModel.from_calibrations(*calibrations, rectified_input=True)


def scene_points_in_lidar_frame() -> np.ndarray:
    """(N, 3) points of scene 0 on a sparse grid, from its true disparity, in the LiDAR frame, m."""
    truth = scene(0)
    rows, columns = np.mgrid[4:RIG.height:9, 3:RIG.width:7]
    depth_m = RIG.depth_m(truth.disparity_px[rows, columns])
    keep = np.isfinite(depth_m) & ~truth.occluded[rows, columns]
    u, v, z = columns[keep], rows[keep], depth_m[keep]
    camera = np.stack([(u - RIG.cx_left) * z / RIG.fx, (v - RIG.cy) * z / RIG.fy, z], axis=1)
    transform = transform_from_pose(LIDAR_POSE)
    return (camera - transform[:3, 3]) @ transform[:3, :3]


POINTS = scene_points_in_lidar_frame()


def cloud_message(frame_id: str = LIDAR_FRAME, points: np.ndarray = POINTS) -> PointCloud2:
    with_invalid = np.vstack([points, np.full((5, 3), np.nan)])  # NaN points, as drivers send them
    return point_cloud2_message(with_invalid.astype(np.float32).reshape(1, -1, 3), header=Header(frame_id=frame_id))


def without_z(cloud: PointCloud2) -> PointCloud2:
    cloud.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, name in enumerate(("x", "y", "intensity"))]
    return cloud


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, ros_environment: dict[str, str]) -> Iterator[NodeProcess]:
    process = NodeProcess(tmp_path_factory.mktemp("stereo_node_lidar"), PARAMETERS)
    yield process
    process.close()


class LidarPeer:
    """The test peer plus a publisher of hints/points."""

    def __init__(self, peer: RosPeer) -> None:
        self.peer = peer
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.cloud_pub = peer.node.create_publisher(PointCloud2, "hints/points", reliable)
        self.images = (image_message(scene(0).left, "rgb8", RIG.frame_id),
                       image_message(scene(0).right, "rgb8", "stereo_right_optical"))

    def exchange(self, cloud: PointCloud2, *, cloud_offset_ns: int = 0, timeout_s: float = 60.0) -> int:
        """Publish ``cloud`` stamped the pair's stamp + ``cloud_offset_ns``, then the pair; returns the pair's stamp.

        Lost messages are sent again with a new stamp (clouds of earlier stamps are then stale).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stamp = self.peer.next_stamp(STEP_NS)
            cloud.header.stamp = to_time(stamp + cloud_offset_ns)
            self.cloud_pub.publish(cloud)
            time.sleep(0.2)
            self.peer.send_pair(*self.images, stamp=stamp, infos=RIG.rectified_infos())
            try:
                self.peer.outputs(stamp, ("disparity", "depth"), timeout_s=5.0)
            except AssertionError:
                continue
            return stamp
        raise AssertionError(f"no output within {timeout_s} s")

    def counters(self) -> dict[str, int]:
        values = self.peer.wait_for_diagnostics(lambda d: "input" in d, "the input status")["input"].values
        return {key: int(values[key]) for key in ("lidar_clouds_total", "lidar_clouds_used_total",
                                                   "lidar_clouds_rejected_total")}


@pytest.fixture(scope="module")
def lidar_peer(node: NodeProcess) -> Iterator[LidarPeer]:
    peer = RosPeer()
    lidar = LidarPeer(peer)
    peer.wait_until_connected()
    wait_for(lambda: lidar.cloud_pub.get_subscription_count() > 0, 60.0, "the node's hints/points subscription")
    peer.wait_for_diagnostics(lambda d: "input" in d, "the first diagnostics")
    yield lidar
    peer.close()


def test_a_cloud_with_the_pair_stamp_guides_the_pair(lidar_peer: LidarPeer, node: NodeProcess) -> None:
    before = lidar_peer.counters()
    lidar_peer.exchange(cloud_message(), cloud_offset_ns=-30_000_000)  # within the 0.05 s tolerance
    expected_pixels = int(np.isfinite(lidar_hints(POINTS, rig_model(), camera_T_lidar=transform_from_pose(
        LIDAR_POSE), min_depth_m=0.1, max_depth_m=100.0)).sum())
    assert expected_pixels > 500
    shown = lidar_peer.peer.wait_for_diagnostics(
        lambda d: int(d["input"].values["lidar_clouds_used_total"]) > before["lidar_clouds_used_total"],
        "a cloud used")
    assert shown["input"].values["lidar_hints"] == "on"
    assert int(shown["input"].values["lidar_hint_pixels_last"]) == expected_pixels
    assert int(shown["input"].values["lidar_clouds_rejected_total"]) == before["lidar_clouds_rejected_total"]
    assert "LiDAR clouds from /hints/points" in node.log()
    # /tf_static is read where tf2_msgs is installed (a ROS install), not from the PyPI wheels used here.
    tf_static = "not read" if tf_message_class() is None else "0"
    assert shown["input"].values["tf_static_transforms"] == tf_static
    assert ("tf2_msgs is not installed" in node.log()) == (tf_message_class() is None)


@pytest.mark.parametrize(("case", "error"), [
    ("stale", "LidarStampError"),
    ("camera frame with a non-identity transform", "LidarFrameError"),
    ("no z field", "PointCloudConversionError"),
])
def test_a_bad_cloud_is_rejected_with_a_warning_and_output_goes_on(lidar_peer: LidarPeer, node: NodeProcess,
                                                                   case: str, error: str) -> None:
    before = lidar_peer.counters()
    cloud, offset_ns = {"stale": (cloud_message(), 300_000_000),
                        "camera frame with a non-identity transform": (cloud_message(RIG.frame_id), 0),
                        "no z field": (without_z(cloud_message()), 0)}[case]
    lidar_peer.exchange(cloud, cloud_offset_ns=offset_ns)  # returns once the pair's outputs arrived
    shown = lidar_peer.peer.wait_for_diagnostics(lambda d: error in d["input"].message, f"the {error}")
    assert shown["input"].level == 1  # a warning: output goes on
    assert int(shown["input"].values["lidar_clouds_rejected_total"]) > before["lidar_clouds_rejected_total"]
    assert int(shown["input"].values["lidar_clouds_used_total"]) == before["lidar_clouds_used_total"]
    wait_for(lambda: f"not used ({error}" in node.log(), 30.0, f"a log line about the {error}")
    assert node.alive()

    lidar_peer.exchange(cloud_message())  # a good cloud again: the warning clears
    lidar_peer.peer.wait_for_diagnostics(lambda d: d["input"].level == 0, "input OK again")
    assert "LiDAR hints from /hints/points used again" in node.log()


def test_lidar_parameters_change_at_run_time(lidar_peer: LidarPeer) -> None:
    peer = lidar_peer.peer
    rejected = {"lidar_transform": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "lidar_min_depth_m": 200.0}
    for name, value in rejected.items():
        result = peer.set_parameters(**{name: value})[0]
        assert not result.successful, name
    assert "unit quaternion" in peer.set_parameters(lidar_transform=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])[0].reason
    try:
        assert all(r.successful for r in peer.set_parameters(lidar_stamp_tolerance_s=0.5))
        before = lidar_peer.counters()
        lidar_peer.exchange(cloud_message(), cloud_offset_ns=300_000_000)  # stale at 0.05 s, fine at 0.5 s
        peer.wait_for_diagnostics(
            lambda d: int(d["input"].values["lidar_clouds_used_total"]) > before["lidar_clouds_used_total"],
            "the 0.3 s old cloud used")
    finally:
        assert all(r.successful for r in peer.set_parameters(lidar_stamp_tolerance_s=0.05))
