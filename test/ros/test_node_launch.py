"""The launch file: its arguments are checked before anything starts (``ros.launch_arguments``, tested here without
ROS 2 launch), it declares them from the schema, it shuts down when the node exits, and RViz shows the node's topics
in the frame the tools write.

ROS 2 ``launch`` is not on PyPI, so the launch description itself is only built where launch and launch_ros are
installed (a colcon workspace); elsewhere those tests skip and the file's text is checked instead.
"""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

import pytest
import yaml

from stereo_depth_ros.ros.launch_arguments import (
    DEFAULT_RVIZ_FIXED_FRAME,
    OVERRIDES,
    LaunchArgumentError,
    launch_bool,
    parameter_overrides,
    rviz_executable,
)
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME
from stereo_depth_ros.tools.calibration_io import DEFAULT_FRAME_IDS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "stereo_depth.launch.py"
RVIZ_FILE = ROOT / "config" / "stereo_depth.rviz"
ARGUMENTS = {"namespace", "left_namespace", "right_namespace", "lidar_points", "params_file", "use_rviz",
             "rviz_fixed_frame", "use_sim_time", *OVERRIDES}


def test_launch_file_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(LAUNCH_FILE), doraise=True, cfile=str(tmp_path / "launch.pyc"))


def test_overrides_are_converted_by_the_schema_and_only_when_given() -> None:
    given = {"backend": "sgbm", "model_path": "", "hints": " classical ", "inference_width_px": "512",
             "inference_height_px": "384", "input_qos": "reliable", "output_qos_depth": "10"}
    assert parameter_overrides(given) == {"backend": "sgbm", "hints": "classical", "inference_width_px": 512,
                                          "inference_height_px": 384, "input_qos": "reliable",
                                          "output_qos_depth": 10}
    assert parameter_overrides(dict.fromkeys(OVERRIDES, "")) == {}
    assert {"input_qos", "output_qos_depth"} <= set(OVERRIDES)


@pytest.mark.parametrize(("given", "message"), [
    ({"inference_width_px": "abc", "inference_height_px": "384"},
     "launch argument inference_width_px:='abc' is not an integer"),
    ({"output_qos_depth": "0"}, "launch argument output_qos_depth:='0': output_qos_depth"),
    ({"input_qos": "fast"}, "launch argument input_qos:='fast': "),
    ({"backend": "magic"}, "launch argument backend:='magic': "),
    ({"inference_width_px": "512"}, "launch argument inference_width_px needs the other of"),
    ({"inference_width_px": "500", "inference_height_px": "384"},
     "launch arguments inference_width_px:='500' inference_height_px:='384': "),
])
def test_a_bad_value_names_the_argument(given: dict[str, str], message: str) -> None:
    with pytest.raises(LaunchArgumentError) as raised:
        parameter_overrides(given)
    assert str(raised.value).startswith(message), str(raised.value)


def test_booleans_accept_launch_spellings_and_name_a_bad_one() -> None:
    assert launch_bool("use_rviz", "True") and launch_bool("use_rviz", "1")
    assert not launch_bool("use_rviz", "false") and not launch_bool("use_sim_time", "0")
    with pytest.raises(LaunchArgumentError, match=r"launch argument use_rviz:='maybe' is not true or false"):
        launch_bool("use_rviz", "maybe")


def test_rviz_is_found_only_where_it_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "ws"))
    assert rviz_executable() is None  # the launch then logs that and starts the node alone
    executable = tmp_path / "ws" / "lib" / "rviz2" / "rviz2"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    (tmp_path / "ws" / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (tmp_path / "ws" / "share" / "ament_index" / "resource_index" / "packages" / "rviz2").write_text("")
    if importlib.util.find_spec("ament_index_python") is not None:
        assert rviz_executable() == executable


def test_launch_file_validates_first_shuts_down_with_the_node_and_selects_the_profile() -> None:
    text = LAUNCH_FILE.read_text()
    setup = text[text.index("def _launch_setup"):text.index("def generate_launch_description")]
    # Validation comes before any action is made, so a bad value leaves nothing running.
    assert setup.index("parameter_overrides(") < setup.index("Node(")
    assert "OnProcessExit(target_action=node" in setup and "Shutdown(" in setup
    assert "if rviz_executable() is None:" in setup
    assert "SetEnvironmentVariable(PROFILES_FILE_VARIABLE, EnvironmentVariable(PROFILES_FILE_VARIABLE" in text
    assert "PARAMETERS_BY_NAME[name].summary()) for name in OVERRIDES" in text
    assert '("hints/points", LaunchConfiguration("lidar_points"))' in text
    for argument in ARGUMENTS - set(OVERRIDES):
        assert f'DeclareLaunchArgument("{argument}"' in text, argument
    for name in OVERRIDES:  # schema entries of a type the launch arguments convert from text
        assert PARAMETERS_BY_NAME[name].type in ("string", "integer"), name


def test_launch_file_declares_its_arguments() -> None:
    pytest.importorskip("launch.actions", reason="ROS 2 launch is not installed")
    pytest.importorskip("launch_ros.actions", reason="ROS 2 launch_ros is not installed")
    from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable

    spec = importlib.util.spec_from_file_location("stereo_depth_launch", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}
    assert declared == ARGUMENTS
    assert any(isinstance(entity, SetEnvironmentVariable) for entity in description.entities)


def test_rviz_shows_the_node_topics_in_the_left_optical_frame_the_tools_write() -> None:
    config = yaml.safe_load(RVIZ_FILE.read_text())
    displays = config["Visualization Manager"]["Displays"]
    topics = {display["Class"]: [] for display in displays}
    for display in displays:
        if "Topic" in display:
            topics[display["Class"]].append(display["Topic"]["Value"])
    assert sorted(topics["rviz_default_plugins/Image"]) == ["depth", "left/image_rect"]
    assert topics["rviz_default_plugins/PointCloud2"] == ["points2"]
    cloud = next(d for d in displays if d["Class"] == "rviz_default_plugins/PointCloud2")
    assert cloud["Color Transformer"] == "RGB8"
    fixed_frame = config["Visualization Manager"]["Global Options"]["Fixed Frame"]
    assert fixed_frame == DEFAULT_RVIZ_FIXED_FRAME == DEFAULT_FRAME_IDS[0] == "stereo_left_optical_frame"
