"""Errors of the training library (runs, checkpoints); the command-line tools turn them into exit codes."""

from __future__ import annotations

__all__ = ["CheckpointError", "RunConfigurationError", "TrainingError"]


class TrainingError(Exception):
    """Base of the training library's own errors."""


class CheckpointError(TrainingError):
    """A checkpoint cannot be used: missing, unreadable, unsafe to load, or of another architecture.

    The message names the file and what is wrong with it.
    """


class RunConfigurationError(TrainingError):
    """A run directory holds a run of another configuration (resume it with the same one, or use a new directory)."""
