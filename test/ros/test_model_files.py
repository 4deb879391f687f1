"""Which ONNX file the node runs: an explicit path, the bundled default, or the bundled model of the inference size."""

from __future__ import annotations

from pathlib import Path

import pytest

from stereo_depth_ros.backends.errors import ConfigurationError
from stereo_depth_ros.ros.model_files import (
    BUNDLED_MODEL_NAME,
    bundled_model_path,
    bundled_model_sizes,
    choose_model_file,
    inference_hw,
    model_file_name,
    resolve_model_path,
)
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME, settings_from_values


def test_empty_model_path_means_the_bundled_model() -> None:
    path = resolve_model_path(settings_from_values({}))
    assert path == bundled_model_path()
    assert path.name == BUNDLED_MODEL_NAME and path.is_file()
    assert resolve_model_path(settings_from_values({"model_path": "/tmp/other.onnx"})) == Path("/tmp/other.onnx")


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
        choose_model_file(model_path="", input_hw=(224, 320), bundled_default=BUNDLED, bundled_files=FILES)
    message = str(info.value)
    assert "no bundled model for inference size 320x224 px" in message
    assert "bundled sizes (WxH): 512x384, 640x480, 768x512" in message
    # The checkpoint where the models are (installed with them), not a path relative to a checkout.
    assert "stereo_depth_export /share/models/checkpoints/stereo_net.pt --sizes 320x224 --out-dir DIR" in message
    assert "model_path:=DIR/stereo_net_320x224.onnx" in message


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

