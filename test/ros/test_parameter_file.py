"""config/stereo_depth.yaml is the rendered schema; parameter files are read back with clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stereo_depth_ros.ros.parameter_file import ParameterFileError, render_yaml, values_from_file
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME, default_values

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "stereo_depth.yaml"


def test_config_file_is_the_rendered_schema() -> None:
    assert CONFIG.read_text() == render_yaml(), \
        "regenerate with: python -m stereo_depth_ros.ros.parameter_file > config/stereo_depth.yaml"


def test_config_file_values_equal_the_schema_defaults() -> None:
    loaded = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    expected = {name: list(value) if isinstance(value, tuple) else value for name, value in default_values().items()}
    assert loaded == expected
    for name, value in loaded.items():  # YAML types match the ROS types (1.0 stays a double)
        assert type(value) is {"bool": bool, "integer": int, "double": float, "string": str,
                               "string_array": list, "double_array": list}[PARAMETERS_BY_NAME[name].type], name
        if PARAMETERS_BY_NAME[name].type == "double_array":  # every item a double, or ROS declares an integer array
            assert all(type(item) is float for item in value), name


def test_the_shipped_file_reads_back_as_the_defaults_and_later_sections_win(tmp_path: Path) -> None:
    values = values_from_file(CONFIG)
    assert values["backend"] == "onnx" and values["lidar_transform"] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    both = tmp_path / "both.yaml"
    both.write_text("/**:\n  ros__parameters:\n    backend: sgbm\n    queue_size: 3\n"
                    "stereo_depth_node:\n  ros__parameters:\n    backend: bm\n")
    assert values_from_file(both) == {"backend": "bm", "queue_size": 3}


@pytest.mark.parametrize(("text", "fragment"), [
    ("other_node:\n  ros__parameters:\n    backend: sgbm\n", "no '/**:' or 'stereo_depth_node:' section"),
    ("/**: [unclosed\n", "cannot read the parameter file"),
])
def test_a_file_without_the_node_s_section_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParameterFileError, match=re.escape(fragment)) as info:
        values_from_file(path)
    assert str(path) in str(info.value)
