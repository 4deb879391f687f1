"""The launch file compiles (and describes itself where ROS 2 launch is installed); RViz shows the node's topics."""

from __future__ import annotations

import importlib.util
import py_compile
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


def test_launch_file_takes_descriptions_from_the_schema_and_sets_large_data() -> None:
    text = LAUNCH_FILE.read_text()
    assert 'SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")' in text
    assert "PARAMETERS_BY_NAME[name].summary()) for name in OVERRIDES" in text
    assert "OVERRIDES = (" + ", ".join(f'"{name}"' for name in OVERRIDES) + ")" in text
    assert '("hints/points", LaunchConfiguration("lidar_points"))' in text
    for argument in ARGUMENTS - set(OVERRIDES):
        assert f'DeclareLaunchArgument("{argument}"' in text, argument
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
