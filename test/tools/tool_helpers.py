"""Helpers of the tool tests (a module with a unique name, so test directories' conftests do not collide)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Small synthetic scenes: non-square, width > SGBM's 64-px search, fast to process.
SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT, SYNTHETIC_MAX_DISPARITY_PX = 320, 224, 40.0
START_TIME_NS = 1_700_000_000_250_000_000
RATE_HZ = 10.0


@dataclass(frozen=True)
class ToolResult:
    """What a tool subprocess returned."""

    returncode: int
    stdout: str
    stderr: str


def run_tool(module: str, args: Sequence[str | Path], *, env: dict[str, str] | None = None,
             timeout: float = 180.0) -> ToolResult:
    """Run ``python -m stereo_depth_ros.tools.<module> args`` to completion."""
    completed = subprocess.run([sys.executable, "-m", f"stereo_depth_ros.tools.{module}", *map(str, args)],
                               capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return ToolResult(completed.returncode, completed.stdout, completed.stderr)


def start_tool(module: str, args: Sequence[str | Path], *, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m stereo_depth_ros.tools.<module> args`` in the background."""
    return subprocess.Popen([sys.executable, "-m", f"stereo_depth_ros.tools.{module}", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def write_bag_with_unknown_type(path: Path) -> None:
    """A bag with /thing (my_pkg/msg/Thing: no Python package, not in rosbags' typestore) and /chatter (String)."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    from std_msgs.msg import String

    with Writer(path, version=9) as writer:
        thing = writer.add_connection("/thing", "my_pkg/msg/Thing", msgdef="int32 value\n",
                                      rihs01="RIHS01_" + "cd" * 32)
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=get_typestore(Stores.ROS2_JAZZY))
        writer.write(thing, 10, b"\x00\x01\x00\x00" + (7).to_bytes(4, "little"))
        writer.write(chatter, 20, serialize_message(String(data="hello")))


def messages_by_stamp(bag: Path, topics: Sequence[str]) -> dict[int, dict[str, Any]]:
    """{header stamp, ns: {fully qualified topic: deserialised message}} of the bag's messages on ``topics``."""
    from stereo_depth_ros.ros.bag_io import BagReader, normalize_topic
    from stereo_depth_ros.ros.stamps import stamp_ns

    groups: dict[int, dict[str, Any]] = {}
    with BagReader(bag) as reader:
        for item in reader.messages([normalize_topic(topic) for topic in topics]):
            message = item.deserialize()
            groups.setdefault(stamp_ns(message.header.stamp), {})[item.topic] = message
    return groups
