"""Stereo matching backends: one interface, four implementations.

Every backend implements :class:`~stereo_depth_ros.backends.base.StereoBackend`:
``match(left, right, *, hints=None)`` and ``match_checked(left, right, *,
hints=None, max_diff_px)`` (the same with the left-right check) take
rectified (H, W) uint8 grey or (H, W, 3) uint8 RGB images and return a
:class:`~stereo_depth_ros.backends.base.MatchResult` with disparity in px of
the input (d = x_left - x_right, NaN = invalid) and confidence in [0, 1].

========== ============================== =====================================
name       class                          runs on
========== ============================== =====================================
``onnx``   :class:`OnnxBackend`            ONNX Runtime: TensorRT EP, CUDA EP or CPU
``tensorrt`` :class:`TensorRtBackend`      native TensorRT engine (GPU, CuPy)
``sgbm``   :class:`SgbmBackend`            OpenCV StereoSGBM (CPU)
``bm``     :class:`BmBackend`              OpenCV StereoBM (CPU)
========== ============================== =====================================

:class:`FittedBackend` wraps a classical matcher so it runs on the pair shrunk
to an inference size (the network's fit rule) and returns maps at input size.

The network backends share :class:`~stereo_depth_ros.backends.network.NetworkBackend`
(resizing, the one pass that gives both views, decoding). Nothing here imports ROS, torch, tensorrt or cupy at
import time; :func:`create_backend` builds a backend from a name and flat
options (as they come from a parameter file).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from stereo_depth_ros.backends.base import CheckedMatch, MatchResult, SparseHints, StereoBackend
from stereo_depth_ros.backends.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    InputError,
    ModelError,
)
from stereo_depth_ros.backends.fitted import FittedBackend, scaled_num_disparities
from stereo_depth_ros.backends.onnx_backend import OnnxBackend, select_providers
from stereo_depth_ros.backends.sgbm_backend import (
    BmBackend,
    BmParams,
    SgbmBackend,
    SgbmParams,
)
from stereo_depth_ros.backends.tensorrt_backend import TensorRtBackend, probe_tensorrt

__all__ = [
    "BACKEND_NAMES",
    "BackendError",
    "BackendUnavailableError",
    "BmBackend",
    "BmParams",
    "CheckedMatch",
    "ConfigurationError",
    "FittedBackend",
    "InputError",
    "MatchResult",
    "ModelError",
    "OnnxBackend",
    "SgbmBackend",
    "SgbmParams",
    "SparseHints",
    "StereoBackend",
    "TensorRtBackend",
    "create_backend",
    "probe_tensorrt",
    "scaled_num_disparities",
    "select_providers",
]

#: Names accepted by :func:`create_backend`.
BACKEND_NAMES: tuple[str, ...] = ("onnx", "tensorrt", "sgbm", "bm")


def _keyword_names(constructor: Callable[..., object]) -> set[str]:
    return {name for name, parameter in inspect.signature(constructor).parameters.items()
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            and name != "self"}


def _classical(backend_class: type[SgbmBackend | BmBackend],
               params_class: type[SgbmParams | BmParams],
               options: dict[str, Any]) -> StereoBackend:
    fields = {field.name for field in dataclasses.fields(params_class)}
    own = _keyword_names(backend_class.__init__)
    unknown = sorted(set(options) - fields - own)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {unknown} for backend {backend_class.name!r}; accepted: "
            f"{sorted(fields | own)}")
    flat = {key: value for key, value in options.items() if key in fields}
    rest = {key: value for key, value in options.items() if key in own}
    if flat and "params" in rest:
        raise ConfigurationError(f"pass either params= or the fields {sorted(flat)}, not both")
    if flat:
        rest["params"] = params_class(**flat)
    return backend_class(**rest)


def create_backend(name: str, **options: Any) -> StereoBackend:
    """Build a backend by name.

    Args:
        name: ``"onnx"``, ``"tensorrt"``, ``"sgbm"`` or ``"bm"``.
        **options: keyword arguments of the backend's constructor
            (``model_path=...`` for the network backends); for ``sgbm`` and
            ``bm`` also the fields of :class:`SgbmParams` / :class:`BmParams`
            given flat (``num_disparities=64, block_size=5``).

    Returns:
        The backend.

    Raises:
        ConfigurationError: unknown name or option, or an option out of range.
        BackendUnavailableError: the backend cannot run here (no GPU, no TensorRT).
        ModelError: the model file breaks the contract.

    Example:
        >>> create_backend("sgbm", num_disparities=64).describe()["num_disparities"]
        '64'
    """
    if name in ("sgbm", "bm"):
        if name == "sgbm":
            return _classical(SgbmBackend, SgbmParams, options)
        return _classical(BmBackend, BmParams, options)
    constructors: dict[str, Callable[..., StereoBackend]] = {
        "onnx": OnnxBackend, "tensorrt": TensorRtBackend}
    if name not in constructors:
        raise ConfigurationError(f"unknown backend {name!r}; choose one of {list(BACKEND_NAMES)}")
    constructor = constructors[name]
    accepted = _keyword_names(constructor.__init__)  # type: ignore[misc]
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {unknown} for backend {name!r}; accepted: {sorted(accepted)}")
    if "model_path" not in options:
        raise ConfigurationError(f"backend {name!r} needs model_path=<.onnx file>")
    return constructor(**options)
