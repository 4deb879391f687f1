"""The launch file: what it builds (with ROS 2 launch where installed, else with recording stand-ins); RViz config."""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import types
from pathlib import Path

import pytest
import yaml

from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "stereo_depth.launch.py"
RVIZ_FILE = ROOT / "config" / "stereo_depth.rviz"
OVERRIDES = ("backend", "model_path", "hints", "inference_width_px", "inference_height_px")
ARGUMENTS = {"namespace", "left_namespace", "right_namespace", "lidar_points", "params_file", "use_rviz",
             "rviz_fixed_frame", "use_sim_time", *OVERRIDES}


def test_launch_file_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(LAUNCH_FILE), doraise=True, cfile=str(tmp_path / "launch.pyc"))


def test_launch_file_declares_its_arguments_and_the_fast_dds_transport() -> None:
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


class _Recorded:
    """Stands in for a launch class: keeps its arguments."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context: dict[str, str]) -> str:
        return context[str(self.args[0])]


def _stub_launch_modules() -> dict[str, types.ModuleType]:
    """Modules named like ROS 2 launch's whose classes only record what the launch file builds."""
    classes = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "OpaqueFunction", "SetEnvironmentVariable"],
        "launch.conditions": ["IfCondition"],
        "launch.substitutions": ["PathJoinSubstitution"],
        "launch_ros.actions": ["Node"],
        "launch_ros.parameter_descriptions": ["ParameterValue"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    modules = {}
    for name, members in classes.items():
        module = types.ModuleType(name)
        for member in members:
            setattr(module, member, type(member, (_Recorded,), {}))
        modules[name] = module
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    return modules


def _described(monkeypatch: pytest.MonkeyPatch) -> list[_Recorded]:
    """The entities generate_launch_description() returns, built with the recording stand-ins."""
    for name, module in _stub_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("stereo_depth_launch_stubbed", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.generate_launch_description().args[0])


def test_launch_arguments_take_their_descriptions_from_the_schema_and_set_large_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entities = _described(monkeypatch)
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert set(declared) == ARGUMENTS
    for name in OVERRIDES:
        assert declared[name]["default_value"] == ""
        assert declared[name]["description"] == "Overrides params_file when set: " + PARAMETERS_BY_NAME[name].summary()
    environment = [e.args for e in entities if type(e).__name__ == "SetEnvironmentVariable"]
    assert environment == [("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")]


def test_the_node_gets_typed_overrides_only_where_given_and_its_topics_remapped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entities = _described(monkeypatch)
    opaque = next(e for e in entities if type(e).__name__ == "OpaqueFunction")
    context = {"backend": "sgbm", "model_path": "", "hints": "both", "inference_width_px": "512",
               "inference_height_px": "384"}
    (node,) = opaque.kwargs["function"](context)
    assert (node.kwargs["package"], node.kwargs["executable"]) == ("stereo_depth_ros", "stereo_depth_node")
    parameters = node.kwargs["parameters"]
    assert parameters[0].args == ("params_file",)
    assert parameters[1] == {"backend": "sgbm", "hints": "both", "inference_width_px": 512, "inference_height_px": 384}
    remapped = {source: target for source, target in node.kwargs["remappings"]}
    assert set(remapped) == {"left/image_raw", "left/camera_info", "right/image_raw", "right/camera_info",
                             "hints/points"}
    assert [part if isinstance(part, str) else part.args[0] for part in remapped["right/camera_info"]] == [
        "right_namespace", "/camera_info"]
    assert remapped["hints/points"].args == ("lidar_points",)
    for name in OVERRIDES:  # schema entries of a type the launch file converts from text
        assert PARAMETERS_BY_NAME[name].type in ("string", "integer"), name


def test_rviz_shows_the_node_topics_in_the_left_optical_frame() -> None:
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
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "left_camera_optical_frame"
