"""The stereo network as a native TensorRT engine built from the ONNX file.

The engine is built once per (model file, input size, batch profile,
precision, TensorRT version, GPU) and cached on disk under
``~/.cache/stereo_depth_ros/engines/`` (``$XDG_CACHE_HOME`` honoured); the
file name carries the readable parts of the key plus a digest of all of it,
and a ``.json`` sidecar lists the key. A TensorRT engine only runs on the
TensorRT version and GPU model it was built for, hence those in the key.

Device memory and the CUDA stream come from **CuPy** (``cupy-cuda12x``),
imported lazily like ``tensorrt``: CuPy gives device arrays with host
copies on a stream in a few lines, where ``cuda-python`` would need manual
``cudaMalloc``/``cudaMemcpyAsync`` with status tuples.

Precision:

* TensorRT < 11 (JetPack 6 ships 10.3): ``fp16`` sets ``BuilderFlag.FP16``
  (TensorRT may keep a layer in FP32 where that is faster or needed);
  ``fp32`` clears ``BuilderFlag.TF32`` unless ``allow_tf32``.
* TensorRT >= 11 builds every network strongly typed: the precision is the
  one of the ONNX file. ``fp16`` then needs an FP16 export (e.g.
  ``onnxconverter_common.float16.convert_float_to_float16(model,
  keep_io_types=True)``); an FP32 file cannot be built as FP16.
* ``auto`` picks FP16 where the GPU has fast FP16 (compute capability 5.3,
  6.0, 6.2 or >= 7.0) and the TensorRT version allows it for this file.

Everything that decides (cache key, paths, precision, builder flags,
optimisation profile, availability messages) is a pure function below and
is tested without a GPU; only :func:`build_serialized_engine` and
:class:`TensorRtBackend` need TensorRT, CuPy and a GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np

from stereo_depth_ros.backends.contract import (
    INPUT_CHANNELS,
    INPUT_RIGHT_VIEW,
    OUTPUT_CHANNELS,
    OUTPUT_NAMES,
    ModelMetadata,
    onnx_model_is_fp16,
    read_onnx_contract,
)
from stereo_depth_ros.backends.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    ModelError,
)
from stereo_depth_ros.backends.network import NetworkBackend
from stereo_depth_ros.backends.preprocessing import (
    MIN_INPUT_HW,
    NetworkBatch,
)
from stereo_depth_ros.core.paths import cache_root

__all__ = [
    "EngineCacheKey",
    "GpuInfo",
    "Precision",
    "TensorRtBackend",
    "TensorRtProbe",
    "build_serialized_engine",
    "builder_flags",
    "default_cache_root",
    "default_engine_cache_dir",
    "engine_cache_path",
    "gpu_has_fast_fp16",
    "network_creation_flags",
    "optimization_profile_shapes",
    "probe_tensorrt",
    "resolve_precision",
    "sha256_file",
    "tensorrt_major",
    "unavailable_message",
]

_LOG = logging.getLogger(__name__)

Precision = Literal["fp16", "fp32"]
_INSTALL_HINT = ("It needs the 'tensorrt' Python package (pip install tensorrt-cu12, or "
                 "JetPack's python3-libnvinfer), CuPy (pip install cupy-cuda12x) and an NVIDIA "
                 "GPU with a working driver. Use backend 'onnx' instead (ONNX Runtime: its "
                 "TensorRT/CUDA EP with onnxruntime-gpu, else the CPU) or 'sgbm'.")


# --- cache key and paths (pure) --------------------------------------------------------

def default_cache_root() -> Path:
    """The package's cache root, ``core.paths.cache_root()`` (``$STEREO_DEPTH_CACHE``, else the XDG cache)."""
    return cache_root()


def default_engine_cache_dir() -> Path:
    """Folder of native TensorRT engines: ``<cache root>/engines``."""
    return default_cache_root() / "engines"


def sha256_file(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class GpuInfo:
    """The GPU an engine is built for.

    Attributes:
        name: marketing name, e.g. ``"NVIDIA GeForce RTX 4090"`` or ``"Orin"``.
        compute_capability: (major, minor), e.g. (8, 7) for Jetson Orin.
    """

    name: str
    compute_capability: tuple[int, int]


@dataclass(frozen=True)
class EngineCacheKey:
    """Everything a serialized engine depends on.

    Attributes:
        model_sha256: hex sha256 of the ONNX file.
        input_hw: (H, W) of the network input, px.
        max_batch: largest N of the optimisation profile (the backends run N = 1).
        precision: ``"fp16"`` or ``"fp32"``.
        tensorrt_version: ``tensorrt.__version__``.
        gpu: the target GPU.
        allow_tf32: TF32 allowed in FP32 layers.
    """

    model_sha256: str
    input_hw: tuple[int, int]
    max_batch: int
    precision: Precision
    tensorrt_version: str
    gpu: GpuInfo
    allow_tf32: bool = False

    def digest(self) -> str:
        """Hex sha256 of the canonical JSON of every field."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def file_name(self) -> str:
        """Readable, unique engine file name, e.g.
        ``stereo_640x480_n2_fp16_trt10.3.0_orin_sm87_<16 hex>.engine``."""
        height, width = self.input_hw
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu.name.lower()).strip("-") or "gpu"
        major, minor = self.gpu.compute_capability
        version = re.sub(r"[^0-9A-Za-z.]+", "-", self.tensorrt_version)
        return (f"stereo_{width}x{height}_n{self.max_batch}_{self.precision}_trt{version}"
                f"_{gpu}_sm{major}{minor}_{self.digest()[:16]}.engine")


def engine_cache_path(key: EngineCacheKey,
                      cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the engine for ``key`` lives (``cache_dir`` or the default folder)."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_engine_cache_dir()
    return folder / key.file_name()


# --- precision and builder options (pure) ----------------------------------------------

def tensorrt_major(version: str) -> int:
    """Major number of a TensorRT version string ("10.3.0.30" -> 10)."""
    match = re.match(r"\s*(\d+)", version)
    if not match:
        raise BackendUnavailableError(f"cannot parse TensorRT version {version!r}")
    return int(match.group(1))


def gpu_has_fast_fp16(compute_capability: tuple[int, int]) -> bool:
    """True for GPUs with full-rate FP16: sm 5.3, 6.0, 6.2 and >= 7.0 (not sm 6.1)."""
    return tuple(compute_capability) in ((5, 3), (6, 0), (6, 2)) or tuple(compute_capability) >= (7, 0)


def resolve_precision(requested: Literal["auto", "fp16", "fp32"], *,
                      compute_capability: tuple[int, int], tensorrt_version: str,
                      model_is_fp16: bool | None) -> Precision:
    """Decide the engine precision.

    Args:
        requested: ``"auto"``, ``"fp16"`` or ``"fp32"``.
        compute_capability: of the target GPU.
        tensorrt_version: ``tensorrt.__version__``.
        model_is_fp16: whether the ONNX file carries FP16 weights (``None``
            if unknown, treated as FP32).

    Returns:
        ``"fp16"`` or ``"fp32"``.

    Raises:
        ConfigurationError: ``requested`` is not one of the three names.
        BackendUnavailableError: the request cannot be met (FP16 from an FP32
            file, or FP32 from an FP16 file, on strongly typed TensorRT >= 11).
    """
    if requested not in ("auto", "fp16", "fp32"):
        raise ConfigurationError(
            f"precision must be 'auto', 'fp16' or 'fp32', got {requested!r}")
    strongly_typed = tensorrt_major(tensorrt_version) >= 11
    file_precision: Precision = "fp16" if model_is_fp16 else "fp32"
    if requested == "auto":
        if strongly_typed:
            return file_precision
        return "fp16" if gpu_has_fast_fp16(compute_capability) else "fp32"
    if strongly_typed and requested != file_precision:
        raise BackendUnavailableError(
            f"TensorRT {tensorrt_version} builds strongly typed networks, so the precision is "
            f"the ONNX file's ({file_precision}); {requested} needs a {requested} export "
            "(for FP16: onnxconverter_common.float16.convert_float_to_float16(model, "
            "keep_io_types=True)), or use precision='auto'")
    if requested == "fp16" and not gpu_has_fast_fp16(compute_capability):
        _LOG.warning("GPU sm%d%d has no fast FP16; an FP16 engine may be slower than FP32",
                     *compute_capability)
    return requested


def builder_flags(precision: Precision, *, tensorrt_version: str,
                  allow_tf32: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``trt.BuilderFlag`` names to set and to clear for a precision.

    Returns:
        (set, clear): e.g. (("FP16",), ()) for FP16 on TensorRT 10, or
        ((), ("TF32",)) for strict FP32.
    """
    weakly_typed = tensorrt_major(tensorrt_version) < 11
    to_set = ("FP16",) if precision == "fp16" and weakly_typed else ()
    to_clear = () if allow_tf32 or precision == "fp16" else ("TF32",)
    return to_set, to_clear


def network_creation_flags(tensorrt_version: str, explicit_batch_bit: int | None) -> int:
    """``create_network`` flags: explicit batch before TensorRT 10, 0 afterwards."""
    if tensorrt_major(tensorrt_version) < 10 and explicit_batch_bit is not None:
        return 1 << explicit_batch_bit
    return 0


def optimization_profile_shapes(input_hw: tuple[int, int], max_batch: int,
                                ) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape per contract input: N from 1 to ``max_batch``, opt = max; ``right_view``
    always (N,): the engine computes the right view on every run (no empty tensors)."""
    if max_batch < 1:
        raise ConfigurationError(f"max_batch must be >= 1, got {max_batch}")
    height, width = input_hw
    shapes = {name: ((1, channels, height, width), (max_batch, channels, height, width),
                     (max_batch, channels, height, width))
              for name, channels in INPUT_CHANNELS.items()}
    shapes[INPUT_RIGHT_VIEW] = ((1,), (max_batch,), (max_batch,))
    return shapes


# --- availability -------------------------------------------------------------------------

def unavailable_message(*, tensorrt_error: str | None, cupy_error: str | None,
                        gpu_count: int | None, gpu_error: str | None = None) -> str | None:
    """Why the TensorRT backend cannot run, or ``None`` if it can (pure).

    Args:
        tensorrt_error: the import error of ``tensorrt``, or ``None``.
        cupy_error: the import error of ``cupy``, or ``None``.
        gpu_count: CUDA devices seen, ``None`` if not probed.
        gpu_error: the error of the device query, or ``None``.
    """
    missing = []
    if tensorrt_error:
        missing.append(f"tensorrt cannot be imported ({tensorrt_error})")
    if cupy_error:
        missing.append(f"cupy cannot be imported ({cupy_error})")
    if gpu_error:
        missing.append(f"no usable NVIDIA GPU ({gpu_error})")
    elif gpu_count == 0:
        missing.append("no NVIDIA GPU found (CUDA reports 0 devices)")
    if not missing:
        return None
    return "TensorRT backend unavailable: " + "; ".join(missing) + ". " + _INSTALL_HINT


@dataclass(frozen=True)
class TensorRtProbe:
    """Result of :func:`probe_tensorrt`.

    Attributes:
        available: the backend can run on ``device_id``.
        reason: :func:`unavailable_message`, or "" when available.
        tensorrt_version: ``tensorrt.__version__`` if importable.
        gpu: the GPU at ``device_id`` if one was found.
    """

    available: bool
    reason: str
    tensorrt_version: str | None = None
    gpu: GpuInfo | None = None
    modules: tuple[Any, ...] = field(default=(), repr=False, compare=False)


def probe_tensorrt(device_id: int = 0) -> TensorRtProbe:
    """Try to import ``tensorrt`` and ``cupy`` and find a GPU; never raises."""
    trt: ModuleType | None = None
    cp: ModuleType | None = None
    trt_error = cupy_error = gpu_error = None
    gpu_count: int | None = None
    gpu: GpuInfo | None = None
    try:
        import tensorrt as trt
    except (ImportError, OSError) as err:  # OSError: libnvinfer missing
        trt_error = f"{type(err).__name__}: {err}"
    try:
        import cupy as cp
    except (ImportError, OSError) as err:
        cupy_error = f"{type(err).__name__}: {err}"
    if cp is not None:
        try:
            gpu_count = int(cp.cuda.runtime.getDeviceCount())
            if gpu_count > device_id:
                props = cp.cuda.runtime.getDeviceProperties(device_id)
                name = props["name"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                gpu = GpuInfo(name=name, compute_capability=(int(props["major"]),
                                                             int(props["minor"])))
            elif gpu_count:
                gpu_error = f"device_id {device_id} but only {gpu_count} GPU(s)"
        except RuntimeError as err:  # cupy's CUDARuntimeError: no driver / no device
            gpu_error = f"{type(err).__name__}: {err}"
    reason = unavailable_message(tensorrt_error=trt_error, cupy_error=cupy_error,
                                 gpu_count=gpu_count, gpu_error=gpu_error)
    return TensorRtProbe(available=reason is None, reason=reason or "",
                         tensorrt_version=getattr(trt, "__version__", None), gpu=gpu,
                         modules=(trt, cp) if reason is None else ())


# --- build and load (need TensorRT) ------------------------------------------------------

def build_serialized_engine(trt: ModuleType, onnx_path: Path, *, input_hw: tuple[int, int],
                            max_batch: int, precision: Precision, workspace_bytes: int,
                            allow_tf32: bool = False) -> bytes:
    """Parse an ONNX file and build a serialized engine (minutes on a Jetson).

    Raises:
        ModelError: the ONNX parser rejects the file.
        BackendError: the builder fails (out of memory, unsupported layer).
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit_bit = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None),
                           "EXPLICIT_BATCH", None)
    network = builder.create_network(network_creation_flags(
        trt.__version__, None if explicit_bit is None else int(explicit_bit)))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    to_set, to_clear = builder_flags(precision, tensorrt_version=trt.__version__,
                                     allow_tf32=allow_tf32)
    for flag in to_set:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    for flag in to_clear:
        config.clear_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    for name, (shape_min, shape_opt, shape_max) in optimization_profile_shapes(
            input_hw, max_batch).items():
        profile.set_shape(name, shape_min, shape_opt, shape_max)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine from {onnx_path} "
                           f"({precision}, {input_hw[1]}x{input_hw[0]}); see the log above")
    return bytes(serialized)


def _write_atomically(path: Path, data: bytes, sidecar: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, sort_keys=True))


class TensorRtBackend(NetworkBackend):
    """Stereo network as a native TensorRT engine (implements ``StereoBackend``).

    Attributes:
        name: ``"tensorrt"``.
        max_disparity_px: the model's ``max_disparity``, px at the model input size.
        metadata: the parsed model metadata.
        key: the engine cache key; ``engine_path`` where the engine is cached.
    """

    name: str = "tensorrt"
    _right_view_always = True   # engines take no empty tensors: the right view is computed on every run

    def __init__(self, model_path: str | os.PathLike[str], *,
                 precision: Literal["auto", "fp16", "fp32"] = "auto",
                 max_batch: int = 1,
                 workspace_bytes: int = 2 << 30,
                 cache_dir: str | os.PathLike[str] | None = None,
                 device_id: int = 0,
                 allow_tf32: bool = False,
                 rebuild: bool = False,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        """Check availability, load the cached engine or build it, allocate buffers.

        Args:
            model_path: ``.onnx`` file following :mod:`~stereo_depth_ros.backends.contract`.
            precision: ``"auto"``, ``"fp16"`` or ``"fp32"`` (see the module docstring).
            max_batch: largest batch of the profile (the backend runs N = 1; both views come
                from one pass); 1 for a file with N fixed at 1.
            workspace_bytes: builder workspace limit, bytes.
            cache_dir: engine folder; default ``~/.cache/stereo_depth_ros/engines``.
            device_id: CUDA device.
            allow_tf32: allow TF32 in FP32 layers.
            rebuild: ignore a cached engine and build a new one.
            min_input_hw: smallest accepted input (H, W), px.

        Raises:
            BackendUnavailableError: tensorrt, cupy or a GPU is missing, or the
                precision cannot be met.
            ModelError: the file breaks the contract or TensorRT cannot parse it.
            ConfigurationError: ``max_batch`` > 1 for a file with N fixed at 1.
        """
        self._model_path = Path(model_path)
        self._min_input_hw = min_input_hw
        self.metadata: ModelMetadata
        self.metadata, inputs, _ = read_onnx_contract(self._model_path)   # before the GPU: checkable anywhere
        if max_batch != 1 and any(spec.shape[0] == 1 for spec in inputs if spec.name in INPUT_CHANNELS):
            raise ConfigurationError(f"{self._model_path} takes one pair per run (N fixed at 1, as "
                                     f"stereo_depth_export writes it); max_batch must be 1, got {max_batch}")
        probe = probe_tensorrt(device_id)
        if not probe.available or probe.gpu is None or probe.tensorrt_version is None:
            raise BackendUnavailableError(probe.reason or "TensorRT backend unavailable")
        trt, cp = probe.modules
        self._trt, self._cp, self._device_id = trt, cp, device_id
        self.max_disparity_px: float = self.metadata.max_disparity_px
        chosen = resolve_precision(precision, compute_capability=probe.gpu.compute_capability,
                                   tensorrt_version=probe.tensorrt_version,
                                   model_is_fp16=onnx_model_is_fp16(self._model_path))
        self.key = EngineCacheKey(model_sha256=sha256_file(self._model_path),
                                  input_hw=self.metadata.input_hw, max_batch=max_batch,
                                  precision=chosen, tensorrt_version=probe.tensorrt_version,
                                  gpu=probe.gpu, allow_tf32=allow_tf32)
        self.engine_path = engine_cache_path(self.key, cache_dir)

        with cp.cuda.Device(device_id):
            runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            engine = None
            if self.engine_path.is_file() and not rebuild:
                engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
                if engine is None:
                    _LOG.warning("tensorrt backend: cached engine %s does not load; rebuilding",
                                 self.engine_path)
                else:
                    self.engine_source = "cache"
            if engine is None:
                _LOG.info("tensorrt backend: building %s engine for %s (%s); this takes a while",
                          chosen, self._model_path.name, probe.gpu.name)
                data = build_serialized_engine(trt, self._model_path,
                                               input_hw=self.metadata.input_hw,
                                               max_batch=max_batch, precision=chosen,
                                               workspace_bytes=workspace_bytes,
                                               allow_tf32=allow_tf32)
                _write_atomically(self.engine_path, data, {**asdict(self.key),
                                                           "model": str(self._model_path)})
                engine = runtime.deserialize_cuda_engine(data)
                if engine is None:
                    raise BackendError(f"TensorRT cannot deserialize the engine it just built "
                                       f"({self.engine_path})")
                self.engine_source = "built"
            self._runtime, self._engine = runtime, engine
            self._check_engine_io()
            self._context = engine.create_execution_context()
            self._stream = cp.cuda.Stream(non_blocking=True)
            height, width = self.metadata.input_hw
            channels = {**INPUT_CHANNELS, **OUTPUT_CHANNELS}
            self._buffers = {name: cp.empty((max_batch, c, height, width), dtype=cp.float32)
                             for name, c in channels.items()}
            self._buffers[INPUT_RIGHT_VIEW] = cp.empty((max_batch,), dtype=cp.float32)
        _LOG.info("tensorrt backend: %s engine %s (%s, TensorRT %s, %s)", self.engine_source,
                  self.engine_path, chosen, probe.tensorrt_version, probe.gpu.name)

    def _check_engine_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
        expected = set(INPUT_CHANNELS) | set(OUTPUT_NAMES)
        if not expected <= names:
            raise ModelError(f"engine {self.engine_path} lacks tensors {sorted(expected - names)}")
        for name in expected:
            if engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise ModelError(f"engine tensor {name!r} is {engine.get_tensor_dtype(name)}, "
                                 "the contract needs float32 I/O (export with keep_io_types)")

    def _execute(self, batch: NetworkBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = 1
        context, stream = self._context, self._stream
        with self._cp.cuda.Device(self._device_id):
            for name, host in batch.feeds.items():
                device = self._buffers[name][:n]  # leading slice: contiguous, same pointer
                device.set(host, stream=stream)
                context.set_input_shape(name, tuple(host.shape))
                context.set_tensor_address(name, device.data.ptr)
            for name in OUTPUT_NAMES:
                context.set_tensor_address(name, self._buffers[name].data.ptr)
            if not context.execute_async_v3(stream.ptr):
                raise BackendError(f"TensorRT execution failed (batch {n})")
            stream.synchronize()
            disparity, confidence, disparity_right = (self._buffers[name][:n].get() for name in OUTPUT_NAMES)
        return disparity, confidence, disparity_right

    def describe(self) -> dict[str, str]:
        """Facts for diagnostics: backend, engine, precision, GPU, TensorRT version."""
        return {
            "backend": self.name,
            "provider": "tensorrt-native",
            "model": str(self._model_path),
            "model_version": self.metadata.model_version,
            "model_input": f"{self.model_hw[1]}x{self.model_hw[0]}",
            "max_disparity_px_model": f"{self.max_disparity_px:g}",
            "precision": self.key.precision,
            "tensorrt": self.key.tensorrt_version,
            "gpu": f"{self.key.gpu.name} (sm{''.join(map(str, self.key.gpu.compute_capability))})",
            "engine": str(self.engine_path),
            "engine_source": self.engine_source,
            "cuda_memory": "cupy",
        }
