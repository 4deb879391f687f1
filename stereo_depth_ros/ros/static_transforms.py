"""/tf_static into the core's ``StaticTransforms``: live (the node) and from a bag (``stereo_bag_process``).

tf2_msgs is not a dependency: where it is installed (any ROS 2 install), the
node subscribes to /tf_static with tf2's static-listener QoS (reliable,
transient local, depth 100); where it is not, ``tf_message_class`` returns
None and the LiDAR transform comes from the ``lidar_transform`` parameter.
Bags are read with rosbags' own Jazzy definition of TFMessage, so a bag's
/tf_static works either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.typesys import Stores, get_typestore

from stereo_depth_ros.core.frames import StaticTransforms, TransformError, transform_from_pose
from stereo_depth_ros.ros.bag_io import BagReader

__all__ = ["TF_MESSAGE_TYPE", "TF_STATIC_QOS", "TF_STATIC_TOPIC", "add_transforms", "static_transforms_from_bag",
           "tf_message_class"]

TF_STATIC_TOPIC: Final = "/tf_static"
TF_MESSAGE_TYPE: Final = "tf2_msgs/msg/TFMessage"
#: As tf2's static listener: late joiners still get every broadcaster's latched message.
TF_STATIC_QOS: Final = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                                  durability=DurabilityPolicy.TRANSIENT_LOCAL)


def tf_message_class() -> type | None:
    """tf2_msgs' TFMessage class, or None where tf2_msgs is not installed."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage


def add_transforms(tree: StaticTransforms, transforms: Iterable[Any]) -> list[str]:
    """Add geometry_msgs/TransformStamped-like objects (a TFMessage's ``transforms``) to ``tree``.

    Returns:
        One line per transform that was left out (empty or equal frames, non-finite values, zero quaternion).
    """
    problems = []
    for stamped in transforms:
        t, q = stamped.transform.translation, stamped.transform.rotation
        try:
            tree.add(stamped.header.frame_id, stamped.child_frame_id,
                     transform_from_pose([t.x, t.y, t.z, q.x, q.y, q.z, q.w]))
        except TransformError as err:
            problems.append(f"{stamped.header.frame_id!r} -> {stamped.child_frame_id!r}: {err}")
    return problems


def static_transforms_from_bag(reader: BagReader) -> tuple[StaticTransforms, list[str]]:
    """Every transform on the bag's /tf_static (none when the bag has no such topic).

    Returns:
        The transforms, and one line per transform or message that was left out.
    """
    tree = StaticTransforms()
    topic = reader.topics.get(TF_STATIC_TOPIC)
    if topic is None:
        return tree, []
    if topic.msgtype != TF_MESSAGE_TYPE:
        return tree, [f"{TF_STATIC_TOPIC} has type {topic.msgtype}, not {TF_MESSAGE_TYPE}: not read"]
    typestore = get_typestore(Stores.ROS2_JAZZY)
    problems = []
    for item in reader.messages([TF_STATIC_TOPIC]):
        try:
            message = typestore.deserialize_cdr(item.data, item.msgtype)
        except Exception as err:  # noqa: BLE001  rosbags raises assorted errors on bad CDR
            problems.append(f"{TF_STATIC_TOPIC} message at {item.log_time_ns} ns does not decode ({err})")
            continue
        problems += add_transforms(tree, message.transforms)
    return tree, problems
