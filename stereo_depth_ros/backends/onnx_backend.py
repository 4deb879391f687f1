"""The learned stereo network run through ONNX Runtime.

Execution providers are chosen in the order TensorRT EP, CUDA EP, CPU EP
among those this ``onnxruntime`` build offers (``providers=None`` or
``"auto"``). An explicit list is honoured exactly: a requested provider that
is not available raises :class:`BackendUnavailableError`, unless
``allow_provider_fallback=True``, in which case it is dropped with a warning.
ONNX Runtime itself may also drop a provider when creating the session (for
instance the TensorRT EP when ``libnvinfer`` is missing); that is detected
from ``session.get_providers()`` and treated the same way. What was chosen,
and why, is logged and returned by :meth:`OnnxBackend.describe`.

Images go through the fit rule of :mod:`~stereo_depth_ros.backends.preprocessing`
(shrink to fit, pad right/bottom, undo afterwards), so any input size works
with a fixed-size model and the returned disparity is in input-image pixels.

I/O binding is not used: on the CPU EP, feeding numpy arrays through
``run()`` and through ``run_with_iobinding()`` measured the same within
noise (the feeds are already contiguous float32 host arrays, so there is no
copy to save), and on GPU EPs the outputs are needed on the host anyway.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from stereo_depth_ros.backends.contract import (
    INPUT_CHANNELS,
    INPUT_RIGHT_VIEW,
    OUTPUT_NAMES,
    ModelMetadata,
    parse_model_metadata,
    read_onnx_contract,
    spec_from_onnxruntime,
    validate_io_signature,
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
from stereo_depth_ros.backends.tensorrt_backend import default_cache_root

__all__ = [
    "CPU_EP",
    "CUDA_EP",
    "INTRA_OP_SPINNING_KEY",
    "PREFERRED_PROVIDERS",
    "TENSORRT_EP",
    "OnnxBackend",
    "ProviderPlan",
    "select_providers",
    "session_options",
]

_LOG = logging.getLogger(__name__)

TENSORRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
#: Automatic choice order; the first available one runs most of the graph.
PREFERRED_PROVIDERS: tuple[str, ...] = (TENSORRT_EP, CUDA_EP, CPU_EP)
_ALIASES = {"tensorrt": TENSORRT_EP, "trt": TENSORRT_EP, "cuda": CUDA_EP, "cpu": CPU_EP}


@dataclass(frozen=True)
class ProviderPlan:
    """Which execution providers a session is created with, and why.

    Attributes:
        providers: ONNX Runtime provider names in priority order; always ends
            with ``CPUExecutionProvider``.
        requested: the explicit request after alias expansion; empty for automatic.
        dropped: requested providers that are not available (only with fallback).
        reason: one sentence for logs and ``describe()``.
    """

    providers: tuple[str, ...]
    requested: tuple[str, ...]
    dropped: tuple[str, ...]
    reason: str


def _unavailable_message(missing: Sequence[str], available: Sequence[str]) -> str:
    hints = []
    if TENSORRT_EP in missing:
        hints.append("the TensorRT EP needs onnxruntime-gpu plus the TensorRT libraries "
                     "(libnvinfer) and an NVIDIA GPU")
    if CUDA_EP in missing:
        hints.append("the CUDA EP needs onnxruntime-gpu with matching CUDA 12 / cuDNN 9 "
                     "libraries and an NVIDIA GPU")
    detail = "; ".join(hints) if hints else "this onnxruntime build does not include it"
    return (f"execution provider(s) {list(missing)} requested but not available "
            f"(available: {list(available)}): {detail}. Use providers='auto' or "
            f"['{CPU_EP}'], pass allow_provider_fallback=True, or use backend 'sgbm'.")


def select_providers(requested: None | str | Sequence[str], available: Sequence[str], *,
                     allow_fallback: bool = False) -> ProviderPlan:
    """Decide the provider list of a session (pure; no session is created).

    Args:
        requested: ``None`` or ``"auto"`` for the preferred order among the
            available ones; otherwise provider names in priority order
            (full ONNX Runtime names or the aliases ``"tensorrt"``, ``"cuda"``,
            ``"cpu"``). A single name string is accepted as a one-item list.
        available: ``onnxruntime.get_available_providers()``.
        allow_fallback: drop unavailable requested providers with a warning
            instead of raising.

    Returns:
        The :class:`ProviderPlan`.

    Raises:
        BackendUnavailableError: an explicitly requested provider is not
            available and ``allow_fallback`` is False.
        ConfigurationError: ``requested`` is an empty list.

    Example:
        >>> select_providers(None, ["CUDAExecutionProvider", "CPUExecutionProvider"]).providers
        ('CUDAExecutionProvider', 'CPUExecutionProvider')
    """
    available = tuple(available)
    if requested is None or requested == "auto":
        chosen = tuple(p for p in PREFERRED_PROVIDERS if p in available and p != CPU_EP)
        return ProviderPlan(providers=(*chosen, CPU_EP), requested=(), dropped=(),
                            reason=f"automatic: best of {list(available)}")
    names = [requested] if isinstance(requested, str) else list(requested)
    if not names:
        raise ConfigurationError("providers is an empty list; use None or 'auto'")
    expanded = tuple(dict.fromkeys(_ALIASES.get(n.lower(), n) if isinstance(n, str) else n
                                   for n in names))
    missing = tuple(p for p in expanded if p not in available)
    if missing and not allow_fallback:
        raise BackendUnavailableError(_unavailable_message(missing, available))
    kept = tuple(p for p in expanded if p in available and p != CPU_EP)
    reason = f"requested {list(expanded)}"
    if missing:
        reason += f"; unavailable and dropped (fallback allowed): {list(missing)}"
    return ProviderPlan(providers=(*kept, CPU_EP), requested=expanded, dropped=missing,
                        reason=reason)


def _ort_errors() -> tuple[type[Exception], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile",
             "NoModel", "RuntimeException", "NotImplemented", "EPFail", "ModelLoaded")
    return tuple(getattr(state, n) for n in names if hasattr(state, n))


#: Session config entry that lets ONNX Runtime's intra-op threads spin while they wait for work.
INTRA_OP_SPINNING_KEY = "session.intra_op.allow_spinning"


def session_options(ort: ModuleType, *, intra_op_threads: int, inter_op_threads: int) -> object:
    """The SessionOptions every network session here uses: full graph optimisation, sequential
    execution, the given thread counts (0 = ONNX Runtime's default), and intra-op threads that sleep
    instead of spinning when they run out of work.

    ONNX Runtime's threads spin for a while after each parallel section and after each run; in the
    pipeline they then take the cores from the OpenCV work around the network. Measured at 640x480
    on a 2-core VM (``stereo_depth_benchmark --sections speed``, alternating runs): without spinning
    the classical hints took 7.5-9.2 ms instead of 12.6-13.2 and rectification 1.9-2.0 ms instead of
    3.2-3.8, the node default's whole pipeline 0.82-0.91x the time with spinning, the network
    itself the same within noise; through the node the same rate at 10-20 % less CPU per output.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.add_session_config_entry(INTRA_OP_SPINNING_KEY, "0")
    return options


class OnnxBackend(NetworkBackend):
    """Stereo network in an ONNX Runtime session (implements ``StereoBackend``).

    Attributes:
        name: ``"onnx"``.
        max_disparity_px: the model's ``max_disparity``, px at the *model*
            input size; :meth:`max_disparity_px_for` gives it in input px.
        metadata: the parsed model metadata.
        plan: the provider plan; ``session_providers`` is what ONNX Runtime
            actually used.
    """

    name: str = "onnx"

    def __init__(self, model_path: str | os.PathLike[str], *,
                 providers: None | Literal["auto"] | str | Sequence[str] = None,
                 allow_provider_fallback: bool = False,
                 intra_op_threads: int = 0,
                 inter_op_threads: int = 1,
                 device_id: int = 0,
                 trt_fp16: bool = True,
                 trt_cache_dir: str | os.PathLike[str] | None = None,
                 trt_workspace_bytes: int = 2 << 30,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        """Load a model and create the session.

        Args:
            model_path: ``.onnx`` file following :mod:`~stereo_depth_ros.backends.contract`.
            providers: ``None``/``"auto"``, or provider names/aliases in
                priority order (see :func:`select_providers`).
            allow_provider_fallback: drop unavailable requested providers
                (with a warning) instead of raising.
            intra_op_threads: threads inside one operator; 0 = ONNX Runtime's
                default (one per physical core).
            inter_op_threads: threads across operators (sequential execution
                uses 1).
            device_id: CUDA device for the CUDA and TensorRT EPs.
            trt_fp16: let the TensorRT EP use FP16 kernels.
            trt_cache_dir: TensorRT EP engine and timing cache folder; default
                ``~/.cache/stereo_depth_ros/ort_tensorrt`` (``$XDG_CACHE_HOME`` honoured).
            trt_workspace_bytes: TensorRT builder workspace limit, bytes.
            min_input_hw: smallest accepted input (H, W), px.

        Raises:
            ModelError: the file is missing, unreadable or breaks the contract.
            BackendUnavailableError: a requested provider is unavailable (and
                no fallback is allowed), or onnxruntime is not installed.
        """
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise BackendUnavailableError(
                "the 'onnx' backend needs the onnxruntime package (pip install onnxruntime, "
                "or onnxruntime-gpu for CUDA/TensorRT); use backend 'sgbm' instead") from err
        self._ort = ort
        self._model_path = Path(model_path)
        if not self._model_path.is_file():
            raise ModelError(f"model file not found: {self._model_path}")
        self._min_input_hw = min_input_hw
        self._intra_op_threads = intra_op_threads
        self.plan = select_providers(providers, ort.get_available_providers(),
                                     allow_fallback=allow_provider_fallback)
        if self.plan.dropped:
            _LOG.warning("onnx backend: %s", self.plan.reason)

        # The TensorRT EP's optimisation profile needs the model size before
        # the session exists; it is read from the file with `onnx`, only when
        # the TensorRT EP is in the plan.
        provider_options = [self._provider_options(p, device_id=device_id, trt_fp16=trt_fp16,
                                                   trt_cache_dir=trt_cache_dir,
                                                   trt_workspace_bytes=trt_workspace_bytes)
                            for p in self.plan.providers]
        self._session = self._create_session(session_options(ort, intra_op_threads=intra_op_threads,
                                                             inter_op_threads=inter_op_threads),
                                             provider_options)
        self.session_providers: tuple[str, ...] = tuple(self._session.get_providers())
        self._right_view_always = TENSORRT_EP in self.session_providers   # its profile has no empty right_view
        self.fallback_note = self._check_started_providers(allow_provider_fallback)
        self.metadata: ModelMetadata = self._checked_metadata()
        self.max_disparity_px: float = self.metadata.max_disparity_px
        _LOG.info("onnx backend: %s (model %s v%s, %dx%d); providers %s (%s)",
                  self._model_path.name, self._model_path, self.metadata.model_version,
                  self.metadata.input_hw[1], self.metadata.input_hw[0],
                  list(self.session_providers), self.plan.reason)

    def _create_session(self, options: object, provider_options: list[dict[str, str]]) -> object:
        """The InferenceSession of the plan's providers.

        Raises:
            ModelError: ONNX Runtime cannot load the file.
        """
        try:
            return self._ort.InferenceSession(str(self._model_path), sess_options=options,
                                              providers=list(self.plan.providers),
                                              provider_options=provider_options)
        except _ort_errors() as err:
            raise ModelError(f"{self._model_path}: ONNX Runtime cannot load it ({err})") from err

    def _check_started_providers(self, allow_fallback: bool) -> str:
        """A note on providers ONNX Runtime dropped at session creation ("" when it started them all).

        Raises:
            BackendUnavailableError: an explicitly requested provider did not start and no fallback is allowed.
        """
        lost = tuple(p for p in self.plan.providers if p not in self.session_providers)
        if not lost:
            return ""
        if self.plan.requested and not allow_fallback:
            raise BackendUnavailableError(
                f"ONNX Runtime could not start {list(lost)} for {self._model_path} "
                f"(it ran with {list(self.session_providers)}); check the GPU driver, "
                "CUDA/cuDNN/TensorRT libraries and the onnxruntime log above, or pass "
                "allow_provider_fallback=True")
        note = f"ONNX Runtime dropped {list(lost)} at session creation, running on {list(self.session_providers)}"
        _LOG.warning("onnx backend: %s", note)
        return note

    def _checked_metadata(self) -> ModelMetadata:
        """The session's contract metadata, its inputs and outputs checked against the contract.

        Raises:
            ModelError: the model breaks the contract.
        """
        source = str(self._model_path)
        metadata = parse_model_metadata(self._session.get_modelmeta().custom_metadata_map, source=source)
        validate_io_signature([spec_from_onnxruntime(a) for a in self._session.get_inputs()],
                              [spec_from_onnxruntime(a) for a in self._session.get_outputs()],
                              metadata, source=source)
        return metadata

    def _provider_options(self, provider: str, *, device_id: int, trt_fp16: bool,
                          trt_cache_dir: str | os.PathLike[str] | None,
                          trt_workspace_bytes: int) -> dict[str, str]:
        if provider == CUDA_EP:
            return {"device_id": str(device_id), "cudnn_conv_algo_search": "EXHAUSTIVE"}
        if provider != TENSORRT_EP:
            return {}
        metadata, _, _ = read_onnx_contract(self._model_path)
        height, width = metadata.input_hw
        cache_dir = Path(trt_cache_dir) if trt_cache_dir else default_cache_root() / "ort_tensorrt"
        cache_dir.mkdir(parents=True, exist_ok=True)

        def shapes(batch: int) -> str:   # the TensorRT EP computes the right view on every run (R = N)
            return ",".join([*(f"{name}:{batch}x{channels}x{height}x{width}"
                               for name, channels in INPUT_CHANNELS.items()), f"{INPUT_RIGHT_VIEW}:{batch}"])

        return {
            "device_id": str(device_id),
            "trt_fp16_enable": "True" if trt_fp16 else "False",
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache_dir),
            "trt_max_workspace_size": str(int(trt_workspace_bytes)),
            # The backends run N = 1 (both views come from one pass).
            "trt_profile_min_shapes": shapes(1),
            "trt_profile_opt_shapes": shapes(1),
            "trt_profile_max_shapes": shapes(1),
        }

    def _execute(self, batch: NetworkBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            disparity, confidence, disparity_right = self._session.run(list(OUTPUT_NAMES), batch.feeds)
        except _ort_errors() as err:
            raise BackendError(f"ONNX Runtime run failed on {self._model_path.name}: {err}") from err
        return disparity, confidence, disparity_right

    def describe(self) -> dict[str, str]:
        """Facts for diagnostics: backend, providers (requested and actual), model, size."""
        return {
            "backend": self.name,
            "provider": self.session_providers[0],
            "providers": ",".join(self.session_providers),
            "provider_choice": self.plan.reason,
            "fallback": self.fallback_note or ("dropped " + ",".join(self.plan.dropped)
                                               if self.plan.dropped else "none"),
            "model": str(self._model_path),
            "model_version": self.metadata.model_version,
            "model_input": f"{self.model_hw[1]}x{self.model_hw[0]}",
            "max_disparity_px_model": f"{self.max_disparity_px:g}",
            "onnxruntime": self._ort.__version__,
            "intra_op_threads": str(self._intra_op_threads),
        }
