"""Parameter schema: the YAML file, the ROS descriptors and PipelineConfig all come from it."""

from __future__ import annotations

import array
import math
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterType

from stereo_depth_ros.backends.errors import ConfigurationError
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig
from stereo_depth_ros.ros.errors import RosLayerError
from stereo_depth_ros.ros.parameters import (
    BUNDLED_MODEL_NAME,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    NodeSettings,
    ParameterSpec,
    bundled_model_path,
    bundled_model_sizes,
    choose_model_file,
    default_values,
    descriptor,
    inference_hw,
    model_file_name,
    pipeline_config,
    problems,
    render_yaml,
    resolve_model_path,
    settings_from_values,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "stereo_depth.yaml"

DYNAMIC = {"hints", "classical_hint_uniqueness_ratio", "classical_hint_lr_max_diff_px", "classical_hint_scale",
           "lidar_frame_id", "lidar_transform", "lidar_stamp_tolerance_s", "lidar_min_depth_m",
           "lidar_max_depth_m", "lr_check", "lr_max_diff_px", "confidence_threshold", "min_depth_m", "max_depth_m",
           "use_color", "avoid_point_cloud_padding", "point_cloud_decimation", "publish_points", "publish_confidence",
           "publish_depth", "publish_rectified"}


def test_config_file_is_the_rendered_schema() -> None:
    assert CONFIG.read_text() == render_yaml(), \
        "regenerate with: python -m stereo_depth_ros.ros.parameters > config/stereo_depth.yaml"


def test_config_file_values_equal_the_schema_defaults() -> None:
    loaded = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    expected = {name: list(value) if isinstance(value, tuple) else value for name, value in default_values().items()}
    assert loaded == expected
    for name, value in loaded.items():  # YAML types match the ROS types (1.0 stays a double)
        assert type(value) is {"bool": bool, "integer": int, "double": float, "string": str,
                               "string_array": list, "double_array": list}[PARAMETERS_BY_NAME[name].type], name
        if PARAMETERS_BY_NAME[name].type == "double_array":  # every item a double, or ROS declares an integer array
            assert all(type(item) is float for item in value), name


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
    assert isinstance(config, PipelineConfig)
    assert (config.lr_check, config.lr_max_diff_px, config.confidence_threshold) == (True, 1.0, 0.0)
    assert (config.min_depth_m, config.max_depth_m, config.hints) == (0.0, 100.0, "none")
    assert (config.compute_points, config.point_cloud_decimation, config.use_color) == (True, 1, True)
    assert settings.execution_providers == ("auto",)


def test_values_reach_the_pipeline_config() -> None:
    settings = settings_from_values({"lr_check": False, "lr_max_diff_px": 2, "confidence_threshold": 0.25,
                                     "min_depth_m": 0.5, "max_depth_m": 8.0, "hints": "classical",
                                     "publish_points": False, "point_cloud_decimation": 4, "use_color": False})
    config = pipeline_config(settings)
    assert config == PipelineConfig(lr_check=False, lr_max_diff_px=2.0, confidence_threshold=0.25, min_depth_m=0.5,
                                    max_depth_m=8.0, hints="classical", compute_points=False,
                                    point_cloud_decimation=4, use_color=False)
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


def test_empty_model_path_means_the_bundled_model() -> None:
    path = resolve_model_path(settings_from_values({}))
    assert path == bundled_model_path()
    assert path.name == BUNDLED_MODEL_NAME and path.is_file()
    assert resolve_model_path(settings_from_values({"model_path": "/tmp/other.onnx"})) == Path("/tmp/other.onnx")


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


def test_classical_backends_take_any_inference_size_and_zero_means_none() -> None:
    settings = settings_from_values({"backend": "sgbm", "inference_width_px": 500, "inference_height_px": 301})
    assert inference_hw(settings) == (301, 500)
    assert inference_hw(settings_from_values({})) is None
    assert PARAMETERS_BY_NAME["inference_width_px"].unit == "px"
    assert not PARAMETERS_BY_NAME["inference_height_px"].dynamic


BUNDLED = Path("/share/models") / BUNDLED_MODEL_NAME
FILES = ("stereo_net_640x480.onnx", "stereo_net_768x512.onnx", "stereo_net_512x384.onnx", "stereo_net.json",
         "other.onnx")


def test_model_choice_explicit_path_wins_then_default_then_the_bundled_size() -> None:
    assert choose_model_file(model_path="~/m.onnx", input_hw=(384, 512), bundled_default=BUNDLED,
                             bundled_files=()) == Path("~/m.onnx").expanduser()
    assert choose_model_file(model_path="", input_hw=None, bundled_default=BUNDLED, bundled_files=()) == BUNDLED
    assert choose_model_file(model_path="", input_hw=(384, 512), bundled_default=BUNDLED,
                             bundled_files=FILES) == Path("/share/models/stereo_net_512x384.onnx")
    assert model_file_name((480, 640)) == "stereo_net_640x480.onnx"
    assert bundled_model_sizes(FILES) == ((384, 512), (480, 640), (512, 768))


def test_a_missing_bundled_size_names_the_bundled_sizes_and_the_export_command() -> None:
    with pytest.raises(ConfigurationError) as info:
        choose_model_file(model_path="", input_hw=(240, 320), bundled_default=BUNDLED, bundled_files=FILES)
    message = str(info.value)
    assert "no bundled model for inference size 320x240 px" in message
    assert "bundled sizes (WxH): 512x384, 640x480, 768x512" in message
    # The checkpoint where the models are (installed with them), not a path relative to a checkout.
    assert "stereo_depth_export /share/models/checkpoints/stereo_net.pt --sizes 320x240 --out-dir DIR" in message
    assert "model_path:=DIR/stereo_net_320x240.onnx" in message


def test_every_bundled_size_resolves_to_a_file() -> None:
    sizes = bundled_model_sizes(path.name for path in bundled_model_path().parent.glob("*.onnx"))
    assert {(384, 512), (480, 640), (512, 768)} <= set(sizes)
    for height, width in sizes:
        path = resolve_model_path(settings_from_values({"inference_width_px": width, "inference_height_px": height}))
        assert path.is_file() and path.name == f"stereo_net_{width}x{height}.onnx"


def test_backend_from_settings_applies_the_inference_size() -> None:
    from stereo_depth_ros.backends import FittedBackend
    from stereo_depth_ros.ros.node import backend_from_settings

    sgbm = backend_from_settings(settings_from_values(
        {"backend": "sgbm", "inference_width_px": 320, "inference_height_px": 240, "max_disparity_px": 96}))
    assert isinstance(sgbm, FittedBackend) and sgbm.fit_hw == (240, 320) and sgbm.name == "sgbm"
    assert sgbm.max_disparity_px_for((480, 640)) == pytest.approx(96.0)
    assert not isinstance(backend_from_settings(settings_from_values({"backend": "bm"})), FittedBackend)
    onnx = backend_from_settings(settings_from_values({"inference_width_px": 512, "inference_height_px": 384}))
    assert onnx.model_hw == (384, 512)  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="takes 768x512 px input but the inference size is 640x480 px"):
        backend_from_settings(settings_from_values({
            "model_path": str(bundled_model_path().parent / "stereo_net_768x512.onnx"),
            "inference_width_px": 640, "inference_height_px": 480}))
    with pytest.raises(ConfigurationError, match="no bundled model for inference size 320x256 px"):
        backend_from_settings(settings_from_values({"inference_width_px": 320, "inference_height_px": 256}))
