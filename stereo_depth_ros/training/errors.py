"""Errors of the training library (runs, checkpoints); each carries the exit code its console script gives.

The codes are those of the tools (``tools.errors``): 2 usage, 5 bad input data.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ExportMismatchError", "ExportRefusedError", "RunConfigurationError", "TrainingError"]


class TrainingError(Exception):
    """Base of the training library's own errors; ``exit_code`` is what a console script returns for it."""

    exit_code: int = 1


class CheckpointError(TrainingError):
    """A checkpoint cannot be used: missing, unreadable, unsafe to load, or of another architecture.

    The message names the file and what is wrong with it.
    """

    exit_code = 5


class ExportMismatchError(TrainingError):
    """An exported ONNX file whose outputs disagree with the PyTorch network's (an exporter or runtime fault)."""


class ExportRefusedError(TrainingError):
    """A checkpoint that adaptation made worse, exported without ``--export-anyway``."""

    exit_code = 5


class RunConfigurationError(TrainingError):
    """A run directory holds a run of another configuration (resume it with the same one, or use a new directory)."""

    exit_code = 2
