"""Run a classical matcher on the pair shrunk to an inference size, then bring the result back.

The speed/accuracy knob of the classical backends (``inference_width_px`` and
``inference_height_px`` in the node). The pair is fitted into (Hf, Wf) by the
network's own fit rule (``preprocessing.compute_fit``: ``s = min(Wf / W, Hf / H, 1)``,
``INTER_AREA``, never enlarged), matched at (round(H*s), round(W*s)), and the
maps are brought back with ``preprocessing.unfit_disparity`` /
``unfit_confidence`` (bilinear; disparity values multiplied by ``W / round(W*s)``,
about 1/s). Unlike the network, the shrunk pair is not padded to (Hf, Wf): an
OpenCV matcher takes any size, so padding would only add work.

The search range scales with the image: at scale s the inner matcher needs
``ceil(max_disparity_px * s / 16) * 16`` disparities (at least 16) to cover
``max_disparity_px`` input px. The inner matcher is built per scale by a
factory and cached, so a change of image size builds a new one.

Bilinear resizing spreads NaN: a pixel interpolated from an invalid one is
invalid, so holes grow by about 1/s input px; confidence is 0 wherever the
disparity is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stereo_depth_ros.backends.base import CheckedMatch, MatchResult, SparseHints, StereoBackend
from stereo_depth_ros.backends.errors import ConfigurationError
from stereo_depth_ros.backends.preprocessing import (
    MIN_INPUT_HW,
    FitTransform,
    compute_fit,
    resize_to_fit,
    unfit_confidence,
    unfit_disparity,
    validate_image_pair,
)

__all__ = ["FittedBackend", "scaled_num_disparities"]

#: OpenCV's matchers search a multiple of this many disparities, px.
DISPARITY_STEP_PX = 16


def scaled_num_disparities(max_disparity_px: float, scale: float) -> int:
    """Disparities an OpenCV matcher at ``scale`` must search to cover ``max_disparity_px`` input px.

    Args:
        max_disparity_px: search range at the input size, px, > 0.
        scale: image scale of the matcher, in (0, 1].

    Returns:
        ``ceil(max_disparity_px * scale / 16) * 16``, at least 16 (px at the shrunk size).

    >>> scaled_num_disparities(128, 1.0), scaled_num_disparities(128, 0.5), scaled_num_disparities(128, 0.1)
    (128, 64, 16)
    """
    if not (max_disparity_px > 0 and 0 < scale <= 1):
        raise ConfigurationError(f"need max_disparity_px > 0 and 0 < scale <= 1, got {max_disparity_px}, {scale}")
    steps = math.ceil(max_disparity_px * scale / DISPARITY_STEP_PX - 1e-9)
    return max(1, steps) * DISPARITY_STEP_PX


class FittedBackend:
    """A ``StereoBackend`` that matches the pair shrunk to fit (Hf, Wf) (module docstring).

    Attributes:
        name: the inner matcher's name (``"sgbm"``, ``"bm"``).
        max_disparity_px: search range at full input size, px (as asked for).
        model_hw: None: any input is shrunk to fit ``fit_hw`` but not padded to it.
        accepts_hints: False: the inner classical matcher ignores hints.
    """

    model_hw: tuple[int, int] | None = None
    accepts_hints: bool = False

    def __init__(self, inner_for_num_disparities: Callable[[int], StereoBackend],
                 fit_hw: tuple[int, int], *, max_disparity_px: float,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        """Args:
            inner_for_num_disparities: builds the inner matcher for a search range in px at the
                shrunk size (a positive multiple of 16), e.g.
                ``lambda n: create_backend("sgbm", num_disparities=n)``.
            fit_hw: (Hf, Wf), px, both >= 1: the size the pair is fitted into.
            max_disparity_px: search range at the input size, px, > 0.
            min_input_hw: smallest accepted input (H, W), px.

        Raises:
            ConfigurationError: a bad size or range, or the factory's own error.
        """
        if len(fit_hw) != 2 or min(int(v) for v in fit_hw) < 1:
            raise ConfigurationError(f"fit_hw must be (H, W) with both >= 1 px, got {fit_hw}")
        self.fit_hw = (int(fit_hw[0]), int(fit_hw[1]))
        self.max_disparity_px = float(max_disparity_px)
        self._min_input_hw = min_input_hw
        self._build = inner_for_num_disparities
        self._inner: dict[int, StereoBackend] = {}
        # Built now, so a bad option fails at start-up rather than on the first frame.
        self.name = self._inner_for(scaled_num_disparities(self.max_disparity_px, 1.0)).name

    def _inner_for(self, num_disparities: int) -> StereoBackend:
        if num_disparities not in self._inner:
            self._inner[num_disparities] = self._build(num_disparities)
        return self._inner[num_disparities]

    def _fit(self, left: np.ndarray, right: np.ndarray) -> tuple[FitTransform, StereoBackend]:
        validate_image_pair(left, right, min_hw=self._min_input_hw)
        fit = compute_fit(left.shape[:2], self.fit_hw)
        # No padding: the matched image is the resized one, so the "model" is the resized size.
        fit = FitTransform(input_hw=fit.input_hw, model_hw=fit.resized_hw, resized_hw=fit.resized_hw)
        return fit, self._inner_for(scaled_num_disparities(self.max_disparity_px, self._scale(fit)))

    @staticmethod
    def _scale(fit: FitTransform) -> float:
        return 1.0 / fit.disparity_scale  # resized_w / W: the horizontal scale disparities see

    def max_disparity_px_for(self, input_hw: tuple[int, int]) -> float:
        """Largest disparity searched for an (H, W) input, input px (>= ``max_disparity_px``)."""
        fit = compute_fit(input_hw, self.fit_hw)
        scale = fit.resized_hw[1] / fit.input_hw[1]
        return scaled_num_disparities(self.max_disparity_px, scale) / scale

    @staticmethod
    def _unfit(result: MatchResult, fit: FitTransform) -> MatchResult:
        if fit.is_identity_resize:
            return result
        disparity_px = unfit_disparity(result.disparity_px, fit)
        confidence = unfit_confidence(result.confidence, fit)
        confidence[np.isnan(disparity_px)] = 0.0
        return MatchResult(disparity_px=disparity_px, confidence=confidence)

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity of a rectified pair, matched at the fitted size.

        Args:
            left: (H, W) uint8 grey or (H, W, 3) uint8 RGB, left rectified image.
            right: same shape and dtype, right rectified image.
            hints: ignored (the inner classical matcher cannot use them).

        Returns:
            disparity (H, W) float32, input px, NaN = invalid; confidence (H, W)
            float32 in [0, 1], 0 where the disparity is NaN.

        Raises:
            InputError: bad images, or the shrunk width does not exceed the inner search range.
        """
        fit, inner = self._fit(left, right)
        return self._unfit(inner.match(resize_to_fit(left, fit), resize_to_fit(right, fit)), fit)

    def match_checked(self, left: np.ndarray, right: np.ndarray, *, hints: SparseHints | None = None,
                      max_diff_px: float) -> CheckedMatch:
        """Left-view disparity after the left-right check, run at the fitted size.

        The check runs where the matching ran (tolerance scaled to the shrunk
        pixels); only the checked left map is resized back.

        Args:
            left, right: as for :meth:`match`; hints: ignored.
            max_diff_px: largest |d_left - d_right| kept, px of the input images, > 0.
        """
        fit, inner = self._fit(left, right)
        checked = inner.match_checked(resize_to_fit(left, fit), resize_to_fit(right, fit),
                                      max_diff_px=max_diff_px * self._scale(fit))
        return CheckedMatch(result=self._unfit(checked.result, fit), rejected_fraction=checked.rejected_fraction)

    def describe(self) -> dict[str, str]:
        """The inner matcher's facts (at full scale) plus the inference size."""
        full = scaled_num_disparities(self.max_disparity_px, 1.0)
        facts = dict(self._inner_for(full).describe())
        facts.update({"inference_size": f"{self.fit_hw[1]}x{self.fit_hw[0]}",
                      "max_disparity_px": f"{self.max_disparity_px:g}",
                      "num_disparities": f"{full} at full size, scaled with the image"})
        return facts
