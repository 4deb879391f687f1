"""Errors raised by the matching backends.

Every backend failure is a :class:`BackendError`, so a caller (the ROS node,
a tool) can catch one type. Foreign errors (ONNX Runtime, TensorRT, OpenCV)
are wrapped with ``raise ... from err`` so the original stays in the chain.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "ConfigurationError",
    "InputError",
    "ModelError",
]


class BackendError(Exception):
    """Base class of every error raised by ``stereo_depth_ros.backends``."""


class BackendUnavailableError(BackendError):
    """The requested backend cannot run on this machine.

    Raised when a library (``tensorrt``, ``cupy``, a GPU build of ONNX
    Runtime) or the hardware (an NVIDIA GPU) it needs is missing, or an
    explicitly requested execution provider is not available. The message
    says what is missing and which backend to use instead.
    """


class InputError(BackendError):
    """An image pair or hint map has a bad shape, dtype, size or value.

    The message names the offending argument and its shape, dtype or value.
    """


class ModelError(BackendError):
    """A model file does not follow the stereo network contract.

    Raised for missing or malformed inputs, outputs or ``metadata_props``
    (``max_disparity``, ``input_height``, ``input_width``, ``model_version``),
    unreadable files and outputs of the wrong shape.
    """


class ConfigurationError(BackendError):
    """A backend option is out of range (e.g. an even block size).

    The message names the option, its value and the accepted range.
    """
