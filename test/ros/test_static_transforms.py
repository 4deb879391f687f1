"""/tf_static messages into StaticTransforms (a bag's /tf_static: test/tools/test_bag_process_lidar.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stereo_depth_ros.core.frames import StaticTransforms, transform_from_pose
from stereo_depth_ros.ros.bag_io import BagReader, BagWriter
from stereo_depth_ros.ros.static_transforms import (
    add_transforms,
    static_transforms_from_bag,
)

CAMERA_POSE = [0.2, -0.1, 0.5, -0.5, 0.5, -0.5, 0.5]  # x y z qx qy qz qw of the optical frame in base_link
LIDAR_POSE = [0.0, 0.0, 0.8, 0.0, 0.0, 0.38268343, 0.92387953]  # 45 degrees of yaw


def stamped(parent: str, child: str, pose: list[float]) -> TransformStamped:
    x, y, z, qx, qy, qz, qw = pose
    return TransformStamped(header=Header(frame_id=parent), child_frame_id=child,
                            transform=Transform(translation=Vector3(x=x, y=y, z=z),
                                                rotation=Quaternion(x=qx, y=qy, z=qz, w=qw)))


def expected_camera_T_lidar() -> np.ndarray:
    return np.linalg.inv(transform_from_pose(CAMERA_POSE)) @ transform_from_pose(LIDAR_POSE)


def test_transform_messages_are_added_and_bad_ones_named() -> None:
    tree = StaticTransforms()
    problems = add_transforms(tree, [stamped("base_link", "camera_optical", CAMERA_POSE),
                                     stamped("base_link", "lidar", LIDAR_POSE),
                                     stamped("base_link", "broken", [0.0] * 7),
                                     stamped("base_link", "base_link", CAMERA_POSE)])
    assert len(tree) == 2
    assert len(problems) == 2 and "'broken'" in problems[0] and "zero norm" in problems[0]
    assert "two different frame names" in problems[1]
    np.testing.assert_allclose(tree.lookup("camera_optical", "lidar"), expected_camera_T_lidar(), atol=1e-12)


def test_a_bag_without_a_usable_tf_static_gives_an_empty_tree(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "none") as writer:
        writer.write("/left/camera_info", CameraInfo(), 1)
    with BagWriter(tmp_path / "wrong_type") as writer:
        writer.write("/tf_static", CameraInfo(), 1)
    with BagReader(tmp_path / "none") as reader:
        assert [len(part) for part in static_transforms_from_bag(reader)] == [0, 0]
    with BagReader(tmp_path / "wrong_type") as reader:
        tree, problems = static_transforms_from_bag(reader)
    assert len(tree) == 0 and problems == ["/tf_static has type sensor_msgs/msg/CameraInfo, not "
                                           "tf2_msgs/msg/TFMessage: not read"]
