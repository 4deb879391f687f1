"""The one interface every matching backend implements.

A backend takes a rectified stereo pair and returns a dense disparity map in
pixels of the *input* images (d = x_left - x_right, so d >= 0 for points in
front of the rig) and a per-pixel confidence in [0, 1]. Backends never touch
ROS messages. ``match_checked`` also applies the left-right check
(``stereo_depth_ros.core.consistency``) at the resolution the backend matches
at, with the right view's disparity from the same computation where the
matcher has one (the network's cost volume) and from a mirrored match
otherwise (OpenCV's matchers), so the pipeline never asks for the right view.
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


@dataclass(frozen=True)
class CheckedMatch:
    """A left-view match after the left-right check.

    Attributes:
        result: disparity NaN (confidence 0) where the check rejected the pixel.
        rejected_fraction: share of all pixels that had a disparity before the
            check and lost it, in [0, 1].
    """

    result: MatchResult
    rejected_fraction: float


@runtime_checkable
class StereoBackend(Protocol):
    """A stereo matcher over rectified images.

    Images are (H, W) uint8 grey or (H, W, 3) uint8 RGB, left and right of the
    same shape, already rectified (rows aligned).

    Attributes:
        name: the backend's name (``"onnx"``, ``"sgbm"``, ...).
        model_hw: (H, W) px of a network's fixed input, or None where any size is matched as it is.
        accepts_hints: the matcher uses ``hints`` (the classical matchers ignore them, so nobody
            should compute them for one).
    """

    name: str
    model_hw: tuple[int, int] | None
    accepts_hints: bool

    def max_disparity_px_for(self, input_hw: tuple[int, int]) -> float:
        """Largest disparity the backend can report on images of this (H, W), px of those images."""
        ...

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity and confidence for a rectified pair."""
        ...

    def match_checked(self, left: np.ndarray, right: np.ndarray, *, hints: SparseHints | None = None,
                      max_diff_px: float) -> CheckedMatch:
        """Left-view match with the left-right check applied.

        ``max_diff_px``: largest |d_left - d_right| kept, px of the input images, > 0.
        """
        ...

    def describe(self) -> dict[str, str]:
        """Human-readable facts for diagnostics (backend, provider, model, size)."""
        ...
