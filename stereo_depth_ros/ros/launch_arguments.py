"""The launch file's arguments, checked in plain Python (no ROS 2 ``launch`` needed, so they are tested anywhere).

``launch/stereo_depth.launch.py`` hands every argument's text here before it starts a process: a bad value
stops the launch with a message naming the argument (``launch argument inference_width_px:='abc' is not an
integer``), and nothing is left running.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from stereo_depth_ros.core.camera_model import DEFAULT_FRAME_IDS
from stereo_depth_ros.ros.errors import RosLayerError
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME, problems

__all__ = ["DEFAULT_RVIZ_FIXED_FRAME", "OVERRIDES", "LaunchArgumentError", "launch_bool", "parameter_overrides",
           "rviz_executable"]

#: Node parameters that a launch argument of the same name overrides when it is not empty.
OVERRIDES: Final = ("backend", "model_path", "hints", "inference_width_px", "inference_height_px", "input_qos",
                    "output_qos_depth")
#: RViz's fixed frame: the left optical frame the bag tools write (the node's outputs are in it).
DEFAULT_RVIZ_FIXED_FRAME: Final = DEFAULT_FRAME_IDS[0]
_INFERENCE_SIZE: Final = ("inference_width_px", "inference_height_px")
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class LaunchArgumentError(RosLayerError):
    """A launch argument's value is not acceptable; the message names the argument and the value."""


def launch_bool(name: str, text: str) -> bool:
    """The boolean a launch argument's text means (true/false, 1/0, yes/no, on/off; any case).

    Raises:
        LaunchArgumentError: any other text.
    """
    value = text.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise LaunchArgumentError(f"launch argument {name}:={text!r} is not true or false")


def parameter_overrides(given: Mapping[str, str]) -> dict[str, object]:
    """The node parameters that the non-empty ``OVERRIDES`` arguments set, converted and checked by the schema.

    Args:
        given: {argument: text} as launch hands them over ("" = not given: the parameter file decides).

    Returns:
        {parameter: value} of the given arguments only.

    Raises:
        LaunchArgumentError: a value of the wrong type, out of range or not a choice (the message names the
            argument and gives the parameter's description), or only one of inference_width_px and
            inference_height_px.
    """
    overrides: dict[str, object] = {}
    for name in OVERRIDES:
        text = given.get(name, "").strip()
        if not text:
            continue
        spec = PARAMETERS_BY_NAME[name]
        if spec.type == "integer":
            try:
                overrides[name] = int(text)
            except ValueError:
                raise LaunchArgumentError(f"launch argument {name}:={text!r} is not an integer "
                                          f"({spec.summary()})") from None
        else:
            overrides[name] = text
        if name not in _INFERENCE_SIZE:
            found = problems({name: overrides[name]})
            if found:
                raise LaunchArgumentError(f"launch argument {name}:={text!r}: {'; '.join(found)}")
    size = {name: overrides[name] for name in _INFERENCE_SIZE if name in overrides}
    if len(size) == 1:
        raise LaunchArgumentError(f"launch argument {next(iter(size))} needs the other of "
                                  f"{' and '.join(_INFERENCE_SIZE)} too (both 0, or both set)")
    found = problems(size) if size else []
    if found:
        shown = " ".join(f"{name}:={given[name].strip()!r}" for name in size)
        raise LaunchArgumentError(f"launch arguments {shown}: {'; '.join(found)}")
    return overrides


def rviz_executable() -> Path | None:
    """RViz 2's executable where ``ros2 launch`` would find it (the ament index, else PATH), or None."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        pass
    else:
        try:
            candidate = Path(get_package_prefix("rviz2")) / "lib" / "rviz2" / "rviz2"
        except (PackageNotFoundError, OSError, ValueError):  # OSError: AMENT_PREFIX_PATH is not set
            candidate = None
        if candidate is not None and candidate.is_file():
            return candidate
    found = shutil.which("rviz2")
    return Path(found) if found else None
