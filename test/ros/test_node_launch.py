"""The launch file: its arguments are checked before anything starts (``ros.launch_arguments``, tested here without
ROS 2 launch), what it builds (with ROS 2 launch where installed, else with recording stand-ins: the arguments
declared from the schema, the Fast DDS profile, the node's typed overrides and remappings, the shutdown when the node
exits, RViz only where it is installed), and RViz showing the node's topics in the frame the tools write.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stereo_depth_ros.ros.dds import PROFILE_FILE_NAME, PROFILES_FILE_VARIABLE
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


def _without_rviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No rviz2 on PATH nor in the ament index."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "ws"))


def test_rviz_is_found_only_where_it_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_rviz(tmp_path, monkeypatch)
    assert rviz_executable() is None  # the launch then logs that and starts the node alone
    executable = tmp_path / "ws" / "lib" / "rviz2" / "rviz2"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    (tmp_path / "ws" / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (tmp_path / "ws" / "share" / "ament_index" / "resource_index" / "packages" / "rviz2").write_text("")
    if importlib.util.find_spec("ament_index_python") is not None:
        assert rviz_executable() == executable


def test_launch_file_declares_its_arguments_and_the_fast_dds_profile() -> None:
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
    """Stands in for a launch class: keeps its arguments, and itself in its class's ``made`` list."""

    made: list[_Recorded]

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs
        self.made.append(self)


class _LaunchConfiguration(_Recorded):
    def perform(self, context: dict[str, str]) -> str:
        return context[str(self.args[0])]


def _stub_launch_modules(made: list[_Recorded]) -> dict[str, types.ModuleType]:
    """Modules named like ROS 2 launch's whose classes only record what the launch file builds (into ``made``)."""
    classes = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "EmitEvent", "LogInfo", "OpaqueFunction", "RegisterEventHandler",
                           "SetEnvironmentVariable"],
        "launch.event_handlers": ["OnProcessExit"],
        "launch.events": ["Shutdown"],
        "launch.substitutions": ["EnvironmentVariable", "PathJoinSubstitution"],
        "launch_ros.actions": ["Node"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    modules = {}
    for name, members in classes.items():
        module = types.ModuleType(name)
        for member in members:
            setattr(module, member, type(member, (_Recorded,), {"made": made}))
        modules[name] = module
    modules["launch.substitutions"].LaunchConfiguration = type("LaunchConfiguration", (_LaunchConfiguration,),
                                                               {"made": made})
    return modules


def _described(monkeypatch: pytest.MonkeyPatch) -> tuple[list[_Recorded], list[_Recorded]]:
    """The entities generate_launch_description() returns, built with the recording stand-ins, and the list of
    every stand-in made so far (it grows as the entities' functions run)."""
    made: list[_Recorded] = []
    for name, module in _stub_launch_modules(made).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("stereo_depth_launch_stubbed", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.generate_launch_description().args[0]), made


def _context(**given: str) -> dict[str, str]:
    """Launch argument texts: every override empty (the parameter file decides), no RViz, no sim time."""
    return {**dict.fromkeys(OVERRIDES, ""), "use_sim_time": "false", "use_rviz": "false", **given}


def _setup(entities: list[_Recorded]) -> Callable[[dict[str, str]], list[_Recorded]]:
    """The launch file's set-up function (what its OpaqueFunction runs once the arguments are known)."""
    function = next(e for e in entities if type(e).__name__ == "OpaqueFunction").kwargs["function"]
    assert callable(function)
    return function


def test_launch_arguments_take_their_descriptions_from_the_schema_and_select_the_dds_profile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entities, _ = _described(monkeypatch)
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert set(declared) == ARGUMENTS
    for name in OVERRIDES:
        assert declared[name]["default_value"] == ""
        assert declared[name]["description"] == "Overrides params_file when set: " + PARAMETERS_BY_NAME[name].summary()
    assert declared["rviz_fixed_frame"]["default_value"] == DEFAULT_RVIZ_FIXED_FRAME
    (environment,) = [e for e in entities if type(e).__name__ == "SetEnvironmentVariable"]
    variable, value = environment.args
    # The shipped profile, unless the user's environment names a profiles file already.
    assert variable == PROFILES_FILE_VARIABLE and type(value).__name__ == "EnvironmentVariable"
    assert value.args == (PROFILES_FILE_VARIABLE,)  # type: ignore[attr-defined]
    (share, *path), = value.kwargs["default_value"].args  # type: ignore[attr-defined]
    assert share.args == ("stereo_depth_ros",) and path == ["config", PROFILE_FILE_NAME]


def test_the_node_gets_typed_overrides_only_where_given_its_topics_remapped_and_its_exit_ends_the_launch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entities, _ = _described(monkeypatch)
    actions = _setup(entities)(_context(backend="sgbm", hints="both", inference_width_px="512",
                                        inference_height_px="384", output_qos_depth="10"))
    node, on_exit = actions  # no RViz asked for
    assert (node.kwargs["package"], node.kwargs["executable"]) == ("stereo_depth_ros", "stereo_depth_node")
    parameters = node.kwargs["parameters"]
    assert parameters[0].args == ("params_file",)
    assert parameters[1] == {"backend": "sgbm", "hints": "both", "inference_width_px": 512,
                             "inference_height_px": 384, "output_qos_depth": 10}
    assert parameters[2] == {"use_sim_time": False}
    remapped = {source: target for source, target in node.kwargs["remappings"]}
    assert set(remapped) == {"left/image_raw", "left/camera_info", "right/image_raw", "right/camera_info",
                             "hints/points"}
    assert [part if isinstance(part, str) else part.args[0] for part in remapped["right/camera_info"]] == [
        "right_namespace", "/camera_info"]
    assert remapped["hints/points"].args == ("lidar_points",)
    (handler,) = on_exit.args
    assert type(handler).__name__ == "OnProcessExit" and handler.kwargs["target_action"] is node
    (shutdown,) = handler.kwargs["on_exit"]
    assert type(shutdown).__name__ == "EmitEvent" and type(shutdown.kwargs["event"]).__name__ == "Shutdown"
    for name in OVERRIDES:  # schema entries of a type the launch arguments convert from text
        assert PARAMETERS_BY_NAME[name].type in ("string", "integer"), name


def test_a_bad_value_stops_the_launch_before_any_process_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    entities, made = _described(monkeypatch)
    with pytest.raises(LaunchArgumentError, match="launch argument inference_width_px:='abc' is not an integer"):
        _setup(entities)(_context(inference_width_px="abc", inference_height_px="384", use_rviz="true"))
    assert not [e for e in made if type(e).__name__ == "Node"]


def test_rviz_starts_only_where_it_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entities, _ = _described(monkeypatch)
    _without_rviz(tmp_path, monkeypatch)
    node, _, note = _setup(entities)(_context(use_rviz="true"))
    assert node.kwargs["executable"] == "stereo_depth_node"
    assert type(note).__name__ == "LogInfo" and "rviz2 is not installed" in note.kwargs["msg"]
    executable = tmp_path / "rviz2"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    _, _, rviz = _setup(entities)(_context(use_rviz="true"))
    assert (rviz.kwargs["package"], rviz.kwargs["executable"]) == ("rviz2", "rviz2")
    arguments = rviz.kwargs["arguments"]
    assert arguments[0] == "-d" and arguments[1].args[0][1:] == ["config", "stereo_depth.rviz"]
    assert arguments[2] == "-f" and arguments[3].args == ("rviz_fixed_frame",)


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
