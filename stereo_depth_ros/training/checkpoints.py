"""Checkpoint files: loaded safely, and refused for export when adaptation made the model worse.

A checkpoint (``last.pt`` of ``stereo_depth_train`` or ``stereo_depth_adapt``,
the bundled ``models/checkpoints/stereo_net.pt``) is a dict of tensors and plain
data: ``model`` (state dict), optionally ``optimizer`` and ``step``, ``config``
(the run's configuration, ``dataclasses.asdict``: dicts, lists, tuples, str,
numbers, None), ``metrics`` (floats, str) and ``average`` (a training run's
moving average of the weights, ``training.averaging``: what it evaluates and
what ``deployable_weights`` hands to export and to runs that start from it).
``load_checkpoint_state`` reads it with ``torch.load(weights_only=True)``, so a
file carrying any other pickled object (which could run code while it is
loaded) is refused, never executed.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import torch

from stereo_depth_ros.training.errors import CheckpointError, ExportRefusedError

__all__ = ["adaptation_regressions", "check_exportable", "deployable_weights", "load_checkpoint_state"]

_UNSUPPORTED_GLOBAL: Final = re.compile(r"Unsupported global: GLOBAL (\S+)")
#: What torch.load raises for a file that is not a readable checkpoint (truncated, not a zip or pickle, ...).
_UNREADABLE: Final = (RuntimeError, EOFError, KeyError, ValueError, OSError)


def load_checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded on the CPU with weights only (tensors and plain data).

    Raises:
        CheckpointError: the file is missing or unreadable, holds a pickled object other
            than tensors and plain data (refused, not run; the message names its class),
            or is not a checkpoint dict with ``model`` and ``config``.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = _UNSUPPORTED_GLOBAL.search(str(err))
        what = f" ({found[1]})" if found else ""
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds a pickled object{what}, not only weights and plain data; "
            "loading it could run code. Checkpoints of stereo_depth_train and stereo_depth_adapt hold only "
            "tensors and plain data") from err
    except _UNREADABLE as err:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {type(err).__name__}: {err}") from err
    if not isinstance(state, dict) or "model" not in state or not isinstance(state.get("config"), Mapping):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not a StereoNet checkpoint (a dict with 'model' and 'config'), got {keys}")
    return state


def deployable_weights(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate, export and start other runs from: the run's moving average where the
    checkpoint has one, else ``model`` (``model`` is always what a resumed run goes on training)."""
    average = state.get("average")
    return dict(average["weights"]) if isinstance(average, Mapping) else dict(state["model"])


def adaptation_regressions(state: Mapping[str, Any]) -> list[str]:
    """What got worse in the adaptation run that wrote ``state`` ([] = nothing, or not an adaptation run).

    ``stereo_depth_adapt`` stores them in ``metrics["regressions"]`` (see ``training.adaptation``).
    """
    metrics = state.get("metrics")
    return [str(item) for item in metrics.get("regressions", [])] if isinstance(metrics, Mapping) else []


def check_exportable(state: Mapping[str, Any], path: str | Path, *, export_anyway: bool) -> list[str]:
    """Refuse a checkpoint whose adaptation made the model worse, unless ``export_anyway``.

    Returns:
        warnings to print when it is exported anyway ([] when nothing got worse).

    Raises:
        ExportRefusedError: it got worse and ``export_anyway`` is False; the message says what
            got worse and names the option.
    """
    regressions = adaptation_regressions(state)
    if not regressions:
        return []
    what = "; ".join(regressions)
    if not export_anyway:
        raise ExportRefusedError(f"{path}: not exported: adaptation made the model worse than its start ({what}); "
                                 "pass --export-anyway to export it all the same")
    return [f"{path}: exported although adaptation made the model worse than its start ({what})"]
