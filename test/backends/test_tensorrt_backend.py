"""TensorRT backend: pure cache/precision/availability logic here; engine runs need a GPU."""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stereo_depth_ros.backends.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ModelError,
)
from stereo_depth_ros.backends.tensorrt_backend import (
    EngineCacheKey,
    GpuInfo,
    TensorRtBackend,
    build_serialized_engine,
    builder_flags,
    engine_cache_path,
    gpu_has_fast_fp16,
    network_creation_flags,
    optimization_profile_shapes,
    probe_tensorrt,
    resolve_precision,
    sha256_file,
    tensorrt_major,
    unavailable_message,
)

ORIN = GpuInfo(name="Orin (nvgpu)", compute_capability=(8, 7))
PROBE = probe_tensorrt()
needs_gpu = pytest.mark.skipif(not PROBE.available, reason=PROBE.reason or "available")

KEY = EngineCacheKey(model_sha256="ab" * 32, input_hw=(480, 640), max_batch=2,
                     precision="fp16", tensorrt_version="10.3.0.30", gpu=ORIN)


# --- cache key and paths -----------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"model_sha256": "cd" * 32},
    {"input_hw": (480, 672)},
    {"input_hw": (448, 640)},
    {"max_batch": 1},
    {"precision": "fp32"},
    {"tensorrt_version": "10.3.0.31"},
    {"gpu": GpuInfo(name="Orin (nvgpu)", compute_capability=(8, 6))},
    {"gpu": GpuInfo(name="NVIDIA GeForce RTX 3060", compute_capability=(8, 7))},
    {"allow_tf32": True},
])
def test_cache_key_changes_with_each_component(change: dict) -> None:
    other = dataclasses.replace(KEY, **change)
    assert other.digest() != KEY.digest()
    assert other.file_name() != KEY.file_name()


def test_cache_key_is_deterministic_and_readable() -> None:
    same = EngineCacheKey(model_sha256="ab" * 32, input_hw=(480, 640), max_batch=2,
                          precision="fp16", tensorrt_version="10.3.0.30",
                          gpu=GpuInfo(name="Orin (nvgpu)", compute_capability=(8, 7)))
    assert same.digest() == KEY.digest()
    name = KEY.file_name()
    assert name.startswith("stereo_640x480_n2_fp16_trt10.3.0.30_orin-nvgpu_sm87_")
    assert name.endswith(f"{KEY.digest()[:16]}.engine")


def test_engine_cache_path_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert engine_cache_path(KEY) == (tmp_path / "home/.cache/stereo_depth_ros/engines"
                                      / KEY.file_name())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert engine_cache_path(KEY).parent == tmp_path / "xdg/stereo_depth_ros/engines"
    assert engine_cache_path(KEY, tmp_path / "mine").parent == tmp_path / "mine"


def test_sha256_file_changes_with_one_byte(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00" * 3_000_000)
    first = sha256_file(path, chunk_bytes=1 << 16)
    assert first == sha256_file(path)  # chunk size does not matter
    path.write_bytes(b"\x00" * 2_999_999 + b"\x01")
    assert sha256_file(path) != first


# --- precision and builder options ---------------------------------------------------------

def test_gpu_has_fast_fp16_excludes_pascal_consumer_cards() -> None:
    assert gpu_has_fast_fp16((8, 7)) and gpu_has_fast_fp16((5, 3)) and gpu_has_fast_fp16((6, 2))
    assert not gpu_has_fast_fp16((6, 1)) and not gpu_has_fast_fp16((5, 2))


@pytest.mark.parametrize(("requested", "cc", "version", "fp16_file", "expected"), [
    ("auto", (8, 7), "10.3.0", False, "fp16"),
    ("auto", (6, 1), "10.3.0", False, "fp32"),
    ("fp32", (8, 7), "10.3.0", False, "fp32"),
    ("fp16", (6, 1), "10.3.0", False, "fp16"),  # honoured, with a warning
    ("auto", (8, 7), "11.4.0", False, "fp32"),  # strongly typed: the file decides
    ("auto", (8, 7), "11.4.0", True, "fp16"),
    ("fp16", (8, 7), "11.4.0", True, "fp16"),
])
def test_resolve_precision(requested: str, cc: tuple[int, int], version: str, fp16_file: bool,
                           expected: str) -> None:
    assert resolve_precision(requested, compute_capability=cc, tensorrt_version=version,
                             model_is_fp16=fp16_file) == expected


def test_resolve_precision_explains_fp16_from_an_fp32_file_on_tensorrt_11() -> None:
    with pytest.raises(BackendUnavailableError, match="strongly typed.*convert_float_to_float16"):
        resolve_precision("fp16", compute_capability=(8, 7), tensorrt_version="11.4.0.106",
                          model_is_fp16=False)
    with pytest.raises(ConfigurationError, match="'auto', 'fp16' or 'fp32'"):
        resolve_precision("int8", compute_capability=(8, 7),  # type: ignore[arg-type]
                          tensorrt_version="10.3", model_is_fp16=False)


def test_builder_flags_per_precision_and_version() -> None:
    assert builder_flags("fp16", tensorrt_version="10.3.0") == (("FP16",), ())
    assert builder_flags("fp16", tensorrt_version="11.4.0") == ((), ())
    assert builder_flags("fp32", tensorrt_version="10.3.0") == ((), ("TF32",))
    assert builder_flags("fp32", tensorrt_version="10.3.0", allow_tf32=True) == ((), ())


def test_network_creation_flags_use_explicit_batch_only_before_tensorrt_10() -> None:
    assert network_creation_flags("8.6.1", 0) == 1
    assert network_creation_flags("10.3.0", 0) == 0
    assert network_creation_flags("11.4.0", None) == 0
    assert tensorrt_major("10.3.0.30") == 10
    with pytest.raises(BackendUnavailableError, match="version"):
        tensorrt_major("unknown")


def test_optimization_profile_covers_batch_one_to_max() -> None:
    shapes = optimization_profile_shapes((480, 640), 2)
    assert set(shapes) == {"left", "right", "hint_disparity", "hint_mask", "right_view"}
    assert shapes["left"] == ((1, 3, 480, 640), (2, 3, 480, 640), (2, 3, 480, 640))
    assert shapes["hint_mask"][0] == (1, 1, 480, 640)
    assert shapes["right_view"] == ((1,), (2,), (2,))   # an engine always computes the right view


# --- availability --------------------------------------------------------------------------

def test_unavailable_message_names_each_missing_part_and_the_alternative() -> None:
    assert unavailable_message(tensorrt_error=None, cupy_error=None, gpu_count=1) is None
    message = unavailable_message(tensorrt_error="ModuleNotFoundError: tensorrt",
                                  cupy_error="ModuleNotFoundError: cupy", gpu_count=None)
    assert message is not None
    assert "tensorrt cannot be imported" in message and "cupy cannot be imported" in message
    assert "backend 'onnx'" in message and "pip install tensorrt-cu12" in message
    no_gpu = unavailable_message(tensorrt_error=None, cupy_error=None, gpu_count=0)
    assert no_gpu is not None and "no NVIDIA GPU found" in no_gpu


@pytest.mark.skipif(PROBE.available, reason="TensorRT and a GPU are present")
def test_backend_without_tensorrt_or_gpu_fails_with_a_clear_error(
        stereo_model: Callable[..., Path]) -> None:
    with pytest.raises(BackendUnavailableError, match="TensorRT backend unavailable.*'onnx'"):
        TensorRtBackend(stereo_model())


def test_a_file_with_n_fixed_at_1_refuses_a_larger_batch_profile_before_looking_for_a_gpu(
        stereo_model: Callable[..., Path]) -> None:
    with pytest.raises(ConfigurationError, match="N fixed at 1.*max_batch must be 1, got 2"):
        TensorRtBackend(stereo_model(batch=1), max_batch=2)


def _fake_cuda_modules(monkeypatch: pytest.MonkeyPatch, device_count: Callable[[], int]) -> None:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0.30"  # type: ignore[attr-defined]
    cupy = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(getDeviceCount=device_count,
                                    getDeviceProperties=lambda i: {"name": b"Orin", "major": 8,
                                                                   "minor": 7})
    cupy.cuda = types.SimpleNamespace(runtime=runtime)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "cupy", cupy)


def test_probe_reports_a_missing_gpu_when_the_libraries_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cuda_modules(monkeypatch, lambda: 0)
    probe = probe_tensorrt()
    assert not probe.available and "no NVIDIA GPU found" in probe.reason
    assert probe.tensorrt_version == "10.3.0.30"


def test_probe_reports_a_broken_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_driver() -> int:
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    _fake_cuda_modules(monkeypatch, no_driver)
    probe = probe_tensorrt()
    assert not probe.available and "InsufficientDriver" in probe.reason


def test_probe_finds_the_gpu_when_everything_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cuda_modules(monkeypatch, lambda: 1)
    probe = probe_tensorrt()
    assert probe.available and probe.reason == ""
    assert probe.gpu == GpuInfo(name="Orin", compute_capability=(8, 7))
    assert not probe_tensorrt(device_id=3).available


class _RecordingTensorRt:
    """Stands in for the ``tensorrt`` module: records the builder calls, builds nothing."""

    def __init__(self, version: str, *, parses: bool = True, builds: bool = True) -> None:
        self.__version__ = version
        self.calls: list[tuple] = []
        calls, module = self.calls, self

        class Logger:
            WARNING = "warning"

            def __init__(self, severity: str) -> None:
                pass

        class Parser:
            num_errors = 0 if parses else 1

            def __init__(self, network: object, logger: object) -> None:
                pass

            def parse_from_file(self, path: str) -> bool:
                calls.append(("parse_from_file", Path(path).name))
                return parses

            def get_error(self, index: int) -> str:
                return "Unsupported ONNX op Foo"

        class Config:
            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                calls.append(("workspace", size))

            def set_flag(self, flag: str) -> None:
                calls.append(("set_flag", flag))

            def clear_flag(self, flag: str) -> None:
                calls.append(("clear_flag", flag))

            def add_optimization_profile(self, profile: object) -> None:
                calls.append(("add_profile",))

        class Profile:
            def set_shape(self, name: str, *shapes: tuple) -> None:
                calls.append(("set_shape", name, shapes))

        class Builder:
            def __init__(self, logger: object) -> None:
                pass

            def create_network(self, flags: int) -> str:
                calls.append(("create_network", flags))
                return "network"

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network: object, config: object) -> bytes | None:
                return b"engine-bytes" if module.builds else None

        self.Logger, self.Builder, self.OnnxParser = Logger, Builder, Parser
        self.builds = builds
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
        self.BuilderFlag = types.SimpleNamespace(FP16="FP16", TF32="TF32")
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)


def test_build_sets_fp16_the_workspace_and_a_batch_profile(tmp_path: Path) -> None:
    trt: Any = _RecordingTensorRt("10.3.0.30")
    data = build_serialized_engine(trt, tmp_path / "m.onnx", input_hw=(64, 96), max_batch=2,
                                   precision="fp16", workspace_bytes=1 << 28)
    assert data == b"engine-bytes"
    assert ("create_network", 0) in trt.calls
    assert ("workspace", 1 << 28) in trt.calls
    assert ("set_flag", "FP16") in trt.calls
    assert ("set_shape", "left", ((1, 3, 64, 96), (2, 3, 64, 96), (2, 3, 64, 96))) in trt.calls
    assert sum(call[0] == "set_shape" for call in trt.calls) == 5   # four images and maps, right_view


def test_build_on_tensorrt_8_uses_explicit_batch_and_strict_fp32(tmp_path: Path) -> None:
    trt: Any = _RecordingTensorRt("8.6.1")
    build_serialized_engine(trt, tmp_path / "m.onnx", input_hw=(64, 96), max_batch=1,
                            precision="fp32", workspace_bytes=1 << 28)
    assert ("create_network", 1) in trt.calls
    assert ("clear_flag", "TF32") in trt.calls
    assert not any(call[0] == "set_flag" for call in trt.calls)


def test_build_reports_parser_and_builder_failures(tmp_path: Path) -> None:
    unparsable: Any = _RecordingTensorRt("10.3", parses=False)
    with pytest.raises(ModelError, match="Unsupported ONNX op Foo"):
        build_serialized_engine(unparsable, tmp_path / "m.onnx", input_hw=(64, 96),
                                max_batch=2, precision="fp16", workspace_bytes=1 << 28)
    unbuildable: Any = _RecordingTensorRt("10.3", builds=False)
    with pytest.raises(BackendError, match="failed to build"):
        build_serialized_engine(unbuildable, tmp_path / "m.onnx", input_hw=(64, 96),
                                max_batch=2, precision="fp16", workspace_bytes=1 << 28)


# --- real engines (GPU only) ---------------------------------------------------------------

@needs_gpu
def test_engine_is_built_cached_and_matches_onnx_runtime(
        stereo_model: Callable[..., Path], tmp_path: Path) -> None:
    from stereo_depth_ros.backends.onnx_backend import OnnxBackend

    model = stereo_model(kind="matcher", num_disparities=10)
    first = TensorRtBackend(model, precision="fp32", cache_dir=tmp_path)
    assert first.describe()["engine_source"] == "built"
    assert first.engine_path.is_file() and first.engine_path.with_suffix(".json").is_file()
    second = TensorRtBackend(model, precision="fp32", cache_dir=tmp_path)
    assert second.describe()["engine_source"] == "cache"
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (100, 130, 3), dtype=np.uint8)
    right = np.roll(left, -5, axis=1)
    reference = OnnxBackend(model, providers=["cpu"])
    for run in (lambda b: b.match(left, right), lambda b: b.match_checked(left, right, max_diff_px=1.0).result):
        ours, theirs = run(second), run(reference)
        assert np.mean((ours.disparity_px == theirs.disparity_px)
                       | (np.isnan(ours.disparity_px) & np.isnan(theirs.disparity_px))) > 0.99
