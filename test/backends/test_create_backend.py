"""The backend factory: names, flat options, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from stereo_depth_ros.backends import (
    BmBackend,
    ConfigurationError,
    OnnxBackend,
    SgbmBackend,
    SgbmParams,
    create_backend,
    probe_tensorrt,
)
from stereo_depth_ros.backends.errors import BackendUnavailableError


def test_classical_backends_take_flat_parameters() -> None:
    sgbm = create_backend("sgbm", num_disparities=64, block_size=7, mode="sgbm")
    assert isinstance(sgbm, SgbmBackend)
    assert sgbm.params == SgbmParams(num_disparities=64, block_size=7, mode="sgbm")
    bm = create_backend("bm", num_disparities=32, min_input_hw=(16, 40))
    assert isinstance(bm, BmBackend) and bm.params.num_disparities == 32
    default = create_backend("sgbm", params=SgbmParams())
    # the protocol's facts for a classical matcher: any size as it is, hints ignored, its own search range
    assert (default.model_hw, default.accepts_hints) == (None, False)
    assert default.max_disparity_px_for((480, 640)) == default.params.min_disparity + default.params.num_disparities


def test_onnx_backend_is_built_from_a_model_path(stereo_model: Callable[..., Path]) -> None:
    backend = create_backend("onnx", model_path=stereo_model(kind="constant", value=4.0), intra_op_threads=1)
    assert isinstance(backend, OnnxBackend)
    assert (backend.model_hw, backend.accepts_hints) == ((64, 96), True)
    pair = np.zeros((64, 96, 3), np.uint8), np.zeros((64, 96, 3), np.uint8)
    assert np.all(backend.match(*pair).disparity_px == 4.0)            # the model's constant, model size = input


@pytest.mark.parametrize(("name", "options", "message"), [
    ("sift", {}, "unknown backend 'sift'"),
    ("sgbm", {"num_disparity": 64}, r"unknown option\(s\) \['num_disparity'\]"),
    ("sgbm", {"num_disparities": 60}, "num_disparities=60"),
    ("sgbm", {"params": SgbmParams(), "block_size": 3}, "either params="),
    ("onnx", {}, "needs model_path"),
    ("onnx", {"model": "x.onnx"}, r"unknown option\(s\) \['model'\]"),
])
def test_bad_names_and_options_are_configuration_errors(name: str, options: dict,
                                                        message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_backend(name, **options)


@pytest.mark.skipif(probe_tensorrt().available, reason="TensorRT and a GPU are present")
def test_tensorrt_without_gpu_is_unavailable(stereo_model: Callable[..., Path]) -> None:
    with pytest.raises(BackendUnavailableError, match="'onnx'"):
        create_backend("tensorrt", model_path=stereo_model())
