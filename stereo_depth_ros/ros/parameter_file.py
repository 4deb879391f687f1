"""ROS 2 parameter files of the node: written from the schema, read for the offline tools.

``config/stereo_depth.yaml`` is ``render_yaml()`` (a test checks it); regenerate it with
``python -m stereo_depth_ros.ros.parameter_file > config/stereo_depth.yaml``.
``values_from_file`` reads such a file (or a user's) for ``stereo_bag_process --params-file``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import yaml

from stereo_depth_ros.ros.errors import RosLayerError
from stereo_depth_ros.ros.parameters import PARAMETERS, Value

__all__ = ["NODE_SECTIONS", "ParameterFileError", "render_yaml", "values_from_file"]

#: Sections of a parameter file that hold the node's parameters (``ros__parameters`` under each).
NODE_SECTIONS: Final = ("/**", "stereo_depth_node", "/stereo_depth_node")


class ParameterFileError(RosLayerError):
    """A parameter file is unreadable or has no section for the node; the message names the file."""


def values_from_file(path: str | Path) -> dict[str, object]:
    """Parameter values from a ROS 2 parameter file (``NODE_SECTIONS``, ``ros__parameters``), later sections winning.

    Raises:
        ParameterFileError: unreadable file or no such section.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ParameterFileError(f"{path}: cannot read the parameter file: {err}") from err
    values: dict[str, object] = {}
    found = False
    for section in NODE_SECTIONS:
        entry = document.get(section) if isinstance(document, Mapping) else None
        if isinstance(entry, Mapping) and isinstance(entry.get("ros__parameters"), Mapping):
            values.update(entry["ros__parameters"])
            found = True
    if not found:
        raise ParameterFileError(f"{path}: no '/**:' or 'stereo_depth_node:' section with ros__parameters")
    return values


def _yaml_scalar(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_yaml_scalar(item) for item in value) + "]"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_yaml(node_name: str = "/**") -> str:
    """The parameter file with every default, each preceded by its summary as a comment.

    Args:
        node_name: the node the file applies to; ``/**`` (default) matches any
            node name and namespace, so remapping and namespaces need no edit.
    """
    lines = ["# Parameters of stereo_depth_node, with their defaults.",
             "# Generated from the schema (stereo_depth_ros/ros/parameters.py); regenerate with",
             "#   python -m stereo_depth_ros.ros.parameter_file > config/stereo_depth.yaml",
             f"{node_name}:", "  ros__parameters:"]
    for spec in PARAMETERS:
        lines.append(f"    # {spec.summary()}")
        lines.append(f"    {spec.name}: {_yaml_scalar(spec.default)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_yaml())
