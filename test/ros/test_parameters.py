"""Parameter schema: the ROS descriptors, validation and PipelineConfig all come from it."""

from __future__ import annotations

import array
import math
from dataclasses import fields
from pathlib import Path

import pytest
from rcl_interfaces.msg import ParameterType

from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig
from stereo_depth_ros.ros.errors import RosLayerError
from stereo_depth_ros.ros.parameters import (
    PARAMETERS,
    PARAMETERS_BY_NAME,
    NodeSettings,
    ParameterSpec,
    descriptor,
    pipeline_config,
    problems,
    settings_from_values,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "stereo_depth.yaml"

DYNAMIC = {"hints", "classical_hint_uniqueness_ratio", "classical_hint_lr_max_diff_px", "classical_hint_scale",
           "lidar_frame_id", "lidar_transform", "lidar_stamp_tolerance_s", "lidar_min_depth_m",
           "lidar_max_depth_m", "lr_check", "lr_max_diff_px", "lr_hint_max_diff_px", "confidence_threshold",
           "min_depth_m", "max_depth_m", "use_color", "avoid_point_cloud_padding", "point_cloud_decimation",
           "publish_points", "publish_confidence", "publish_depth", "publish_rectified"}


def test_schema_names_are_unique_and_match_the_settings_fields() -> None:
    names = [spec.name for spec in PARAMETERS]
    assert len(names) == len(set(names))
    assert names == [f.name for f in fields(NodeSettings)]


def test_exactly_the_post_processing_parameters_are_dynamic() -> None:
    assert {spec.name for spec in PARAMETERS if spec.dynamic} == DYNAMIC


def test_every_description_states_unit_range_and_mutability() -> None:
    for spec in PARAMETERS:
        summary = spec.summary()
        if spec.unit:
            assert f"Unit: {spec.unit}." in summary
        if spec.minimum is not None:
            assert "Range: [" in summary
        assert ("Dynamic." if spec.dynamic else "Read-only") in summary
    assert "Unit: m." in PARAMETERS_BY_NAME["max_depth_m"].summary()
    assert "Range: [0.1, 64.0]" in PARAMETERS_BY_NAME["lr_max_diff_px"].summary()


def test_descriptors_carry_type_range_and_read_only_flag() -> None:
    lr = descriptor(PARAMETERS_BY_NAME["lr_max_diff_px"])
    assert lr.type == ParameterType.PARAMETER_DOUBLE and not lr.read_only
    assert (lr.floating_point_range[0].from_value, lr.floating_point_range[0].to_value) == (0.1, 64.0)
    assert "px" in lr.description
    decimation = descriptor(PARAMETERS_BY_NAME["point_cloud_decimation"])
    assert decimation.type == ParameterType.PARAMETER_INTEGER
    assert (decimation.integer_range[0].from_value, decimation.integer_range[0].to_value,
            decimation.integer_range[0].step) == (1, 16, 1)
    backend = descriptor(PARAMETERS_BY_NAME["backend"])
    assert backend.read_only and backend.type == ParameterType.PARAMETER_STRING
    assert "onnx" in backend.additional_constraints
    providers = descriptor(PARAMETERS_BY_NAME["execution_providers"])
    assert providers.type == ParameterType.PARAMETER_STRING_ARRAY
    transform = descriptor(PARAMETERS_BY_NAME["lidar_transform"])
    assert transform.type == ParameterType.PARAMETER_DOUBLE_ARRAY and not transform.read_only
    assert "7 values" in transform.description and "qx qy qz qw" in transform.description


def test_lidar_transform_is_a_tuple_of_seven_floats() -> None:
    assert settings_from_values({}).lidar_transform == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    settings = settings_from_values({"lidar_transform": array.array("d", [0.1, -0.2, 0.3, 0.0, 0.0, 0.6, 0.8])})
    assert settings.lidar_transform == (0.1, -0.2, 0.3, 0.0, 0.0, 0.6, 0.8)
    assert all(isinstance(item, float) for item in settings_from_values(
        {"lidar_transform": [0, 0, 1, 0, 0, 0, 1]}).lidar_transform)


def test_defaults_convert_to_the_pipeline_config() -> None:
    settings = settings_from_values({})
    config = pipeline_config(settings)
    # The defaults the benchmark chose (README "Defaults"): classical hints matched at half size, no LR check.
    assert (config.lr_check, config.lr_max_diff_px, config.confidence_threshold) == (False, 1.0, 0.0)
    assert config.lr_hint_max_diff_px == 2.0
    assert (config.min_depth_m, config.max_depth_m, config.hints) == (0.0, 100.0, "classical")
    assert config.classical_hints.scale == 0.5
    assert (config.compute_points, config.point_cloud_decimation, config.use_color) == (True, 1, True)
    assert settings.execution_providers == ("auto",)


def test_values_reach_the_pipeline_config() -> None:
    settings = settings_from_values({"lr_check": False, "lr_max_diff_px": 2, "lr_hint_max_diff_px": 0,
                                     "confidence_threshold": 0.25, "min_depth_m": 0.5, "max_depth_m": 8.0,
                                     "hints": "classical", "publish_points": False, "point_cloud_decimation": 4,
                                     "use_color": False})
    config = pipeline_config(settings)
    assert config == PipelineConfig(lr_check=False, lr_max_diff_px=2.0, lr_hint_max_diff_px=0.0,
                                    confidence_threshold=0.25, min_depth_m=0.5,
                                    max_depth_m=8.0, hints="classical", compute_points=False,
                                    point_cloud_decimation=4, use_color=False,
                                    classical_hints=ClassicalHintConfig(scale=0.5))
    assert isinstance(settings.lr_max_diff_px, float)


@pytest.mark.parametrize(("values", "fragment"), [
    ({"backend": "cuda"}, "not one of"),
    ({"lr_max_diff_px": 0.0}, "outside"),
    ({"confidence_threshold": 1.5}, "outside"),
    ({"point_cloud_decimation": 0}, "outside"),
    ({"max_depth_m": math.nan}, "finite"),
    ({"depth_encoding": "16UC3"}, "not one of"),
    ({"lr_check": 1}, "must be a bool"),
    ({"queue_size": True}, "must be a integer"),
    ({"execution_providers": []}, "non-empty"),
    ({"execution_providers": ["auto", "cuda"]}, "cannot be combined"),
    ({"min_depth_m": 5.0, "max_depth_m": 2.0}, "less than"),
    ({"min_depth_m": 200.0}, "less than"),
    ({"lidar_min_depth_m": 5.0, "lidar_max_depth_m": 2.0}, "lidar_min_depth_m=5.0 m must be less than"),
    ({"lidar_stamp_tolerance_s": -0.1}, "outside"),
    ({"lidar_transform": [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]}, "must have 7 values, got 6"),
    ({"lidar_transform": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}, "has norm 0; it must be a unit quaternion"),
    ({"lidar_transform": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.inf]}, "finite"),
    ({"lidar_transform": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True]}, "list of numbers"),
    ({"lidar_transform": 1.0}, "must be a double_array"),
    ({"no_such_parameter": 1}, "unknown"),
])
def test_invalid_values_are_reported_with_the_offending_value(values: dict[str, object], fragment: str) -> None:
    found = problems(values)
    assert found and fragment in found[0]
    with pytest.raises(RosLayerError, match=fragment):
        settings_from_values(values)


def test_a_schema_default_outside_its_own_range_is_a_coding_error() -> None:
    with pytest.raises(RosLayerError, match="schema default"):
        ParameterSpec("x_m", 5.0, "double", "test", unit="m", minimum=0.0, maximum=1.0)


@pytest.mark.parametrize(("values", "fragment"), [
    ({"inference_width_px": 320}, "inference_width_px=320 px and inference_height_px=0 px must be both 0"),
    ({"inference_height_px": 240, "backend": "sgbm"}, "must be both 0 (full size) or both > 0"),
    ({"inference_width_px": 500, "inference_height_px": 384},
     "inference size 500x384 px (inference_width_px x inference_height_px) must be multiples of 32 px for "
     "backend 'onnx'"),
    ({"inference_width_px": 512, "inference_height_px": 380, "backend": "tensorrt"}, "multiples of 32 px"),
])
def test_inference_size_must_be_both_set_and_fit_the_network(values: dict[str, object], fragment: str) -> None:
    found = problems(values)
    assert len(found) == 1 and fragment in found[0], found
    with pytest.raises(RosLayerError, match="inference"):
        settings_from_values(values)
