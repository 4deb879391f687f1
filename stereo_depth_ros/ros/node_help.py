"""``stereo_depth_node --help``: usage, topics and every parameter from the schema, without starting ROS."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Final

from stereo_depth_ros.ros.parameters import PARAMETERS

__all__ = ["help_requested", "node_help"]

_HELP_FLAGS: Final = frozenset({"-h", "--help"})
_USAGE: Final = """\
usage: stereo_depth_node [--help] [--ros-args -p NAME:=VALUE ... --params-file FILE -r FROM:=TO ...]

Metric depth from a calibrated stereo camera: subscribes to left/image_raw, left/camera_info,
right/image_raw, right/camera_info (and hints/points with hints lidar or both); publishes
disparity, depth, depth/camera_info, confidence, points2, left/image_rect and /diagnostics, in the
left rectified optical frame (the left CameraInfo's frame_id).

Fast DDS: unless FASTRTPS_DEFAULT_PROFILES_FILE is set, the node uses the package's
config/fastdds_large_images.xml (images of 640x480 and more are lost with Fast DDS's defaults);
give the camera driver the same variable.

Exit status: 0 after Ctrl-C, 1 when it cannot start (bad parameter, model, provider).

parameters (-p NAME:=VALUE, or a --params-file such as config/stereo_depth.yaml):
"""


def help_requested(argv: Sequence[str]) -> bool:
    """True when ``-h`` or ``--help`` comes before any ``--ros-args`` (after it, arguments are ROS's)."""
    for arg in argv:
        if arg == "--ros-args":
            return False
        if arg in _HELP_FLAGS:
            return True
    return False


def node_help() -> str:
    """The help text: usage, topics, Fast DDS note, and each parameter with its default and summary."""
    lines = [_USAGE]
    for spec in PARAMETERS:
        default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        lines.append(f"  {spec.name} ({spec.type}, default {default!r})")
        lines.extend(textwrap.wrap(spec.summary(), width=96, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines) + "\n"
