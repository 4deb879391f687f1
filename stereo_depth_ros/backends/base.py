"""The one interface every matching backend implements.

A backend takes a rectified stereo pair and returns a dense disparity map in
pixels of the *input* images (d = x_left - x_right, so d >= 0 for points in
front of the rig) and a per-pixel confidence in [0, 1]. Backends never touch
ROS messages and never apply the left-right check themselves; they only expose
``match_right`` so the check (``stereo_depth_ros.core.consistency``) can ask
for the right-view disparity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class MatchResult:
    """Output of one matching pass, in the reference view's rectified frame.

    Attributes:
        disparity_px: (H, W) float32, pixels of the input image; NaN = no estimate.
        confidence: (H, W) float32 in [0, 1]; 0 where ``disparity_px`` is NaN.
    """

    disparity_px: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class SparseHints:
    """Sparse reliable disparities in the left rectified frame (guided matching).

    Attributes:
        disparity_px: (H, W) float32, pixels; NaN where there is no hint.
    """

    disparity_px: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a hint exists."""
        return np.isfinite(self.disparity_px)


@runtime_checkable
class StereoBackend(Protocol):
    """A stereo matcher over rectified images.

    Images are (H, W) uint8 grey or (H, W, 3) uint8 RGB, left and right of the
    same shape, already rectified (rows aligned).
    """

    name: str
    max_disparity_px: float

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity and confidence for a rectified pair."""
        ...

    def match_right(self, left: np.ndarray, right: np.ndarray) -> MatchResult:
        """Right-view disparity (still positive: d = x_left - x_right) for the check."""
        ...

    def describe(self) -> dict[str, str]:
        """Human-readable facts for diagnostics (backend, provider, model, size)."""
        ...
