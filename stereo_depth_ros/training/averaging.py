"""A moving average of a network's weights, kept beside them while it trains.

With batches of 4 the weights wander from step to step; their average over the last thousand or so
steps is a better model than any one of them (measured on stage 4: the mean of its checkpoints at
steps 6057 and 7221 beat both on every held-out split, see models/README.md). The trainer evaluates
and exports the average; the raw weights go on training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import torch
from torch import nn

__all__ = ["DEFAULT_DECAY", "WeightAverage"]

#: stereo_depth_train's ``--average-decay``: a horizon of about 1000 steps.
DEFAULT_DECAY: Final = 0.999


class WeightAverage:
    """average <- rate * average + (1 - rate) * weights after every step, rate = min(decay, n / (n + 1)).

    n counts the updates: until 1 / (1 - decay) of them (1000 for 0.999) the average is the plain
    mean of the weights it has seen (the ones it started from and every step's since), after that
    an exponential average with that horizon. Buffers that are not floating point (batch-norm's
    step counters) are copied, floating-point buffers (running statistics) averaged like the weights.

    Attributes:
        decay: the rate a long run settles at, in [0, 1).
        updates: how many steps have been averaged.
        since_step: the training step the average began at.
        weights: the averaged state dict (same keys, shapes and devices as the network's).
    """

    def __init__(self, net: nn.Module, decay: float, *, since_step: int,
                 saved: Mapping[str, Any] | None = None) -> None:
        """Start from the network's weights, or go on from ``saved`` (a :meth:`state` of the same network).

        Raises:
            ValueError: ``decay`` outside [0, 1), or ``saved`` was made with another decay.
        """
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"the weight average's decay must be in [0, 1), got {decay}")
        if saved is not None and float(saved["decay"]) != decay:
            raise ValueError(f"the run's weight average has decay {saved['decay']}, not {decay}: "
                             f"pass --average-decay {saved['decay']} or use a new --run-dir")
        self.decay = decay
        # clones keep the network's devices and memory formats; saved weights are copied into them
        self.weights = {key: value.detach().clone() for key, value in net.state_dict().items()}
        self.updates, self.since_step = 0, since_step
        if saved is not None:
            self.updates, self.since_step = int(saved["updates"]), int(saved["since_step"])
            for key, average in self.weights.items():
                average.copy_(saved["weights"][key])

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Fold the network's current weights into the average (call after each optimiser step)."""
        self.updates += 1
        rate = min(self.decay, self.updates / (self.updates + 1.0))
        for key, value in net.state_dict().items():
            average = self.weights[key]
            if average.is_floating_point():
                average.mul_(rate).add_(value.detach(), alpha=1.0 - rate)
            else:
                average.copy_(value)

    def state(self) -> dict[str, Any]:
        """What a checkpoint stores: decay, updates, since_step and the averaged weights."""
        return {"decay": self.decay, "updates": self.updates, "since_step": self.since_step,
                "weights": self.weights}
