"""Disparity accuracy against ground truth: bad-N, EPE and density.

Definitions (all over the evaluation region, ``mask`` if given):

* a pixel **has ground truth** when the ground-truth disparity is finite
  (Middlebury marks unknown with inf, others with NaN; with
  ``gt_zero_is_invalid=True`` also 0, as KITTI does);
* a pixel **is kept** when it has ground truth and a finite prediction
  (predictions mark "no estimate" with NaN);
* **bad-N** = % of pixels with ground truth whose error exceeds N px
  (|pred - gt| > N), counting pixels without a prediction as errors, so a
  sparse map cannot look good by dropping hard pixels;
* **bad-N kept** = the same over kept pixels only;
* **EPE** = mean |pred - gt| over kept pixels, px;
* **density** = % of pixels with ground truth that are kept.

Empty sets give NaN (e.g. EPE when nothing is kept), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stereo_depth_ros.core.errors import ImageShapeError, StereoDepthError

__all__ = ["StereoMetrics", "combine", "evaluate_disparity"]


@dataclass(frozen=True)
class StereoMetrics:
    """Accuracy of one disparity map.

    Attributes:
        thresholds_px: the N of each bad-N, px.
        bad_percent: bad-N per threshold, % of pixels with ground truth;
            missing predictions count as bad.
        bad_kept_percent: bad-N per threshold, % of kept pixels.
        epe_px: mean absolute error over kept pixels, px.
        density_percent: kept pixels, % of pixels with ground truth.
        num_gt_px: pixels with ground truth in the evaluation region.
        num_kept_px: pixels with ground truth and a prediction.
    """

    thresholds_px: tuple[float, ...]
    bad_percent: tuple[float, ...]
    bad_kept_percent: tuple[float, ...]
    epe_px: float
    density_percent: float
    num_gt_px: int
    num_kept_px: int

    def bad(self, threshold_px: float, *, kept: bool = False) -> float:
        """bad-N for one of ``thresholds_px`` (``kept=True``: over kept pixels)."""
        try:
            index = self.thresholds_px.index(float(threshold_px))
        except ValueError as err:
            raise StereoDepthError(
                f"threshold {threshold_px} px was not evaluated; have {self.thresholds_px}") from err
        return (self.bad_kept_percent if kept else self.bad_percent)[index]

    def as_dict(self) -> dict[str, float]:
        """Flat dict for logs and tables: ``bad2``, ``bad2_kept``, ``epe_px``, ...."""
        out: dict[str, float] = {}
        for threshold, bad, bad_kept in zip(self.thresholds_px, self.bad_percent,
                                            self.bad_kept_percent):
            label = f"{threshold:g}".replace(".", "_")
            out[f"bad{label}"] = bad
            out[f"bad{label}_kept"] = bad_kept
        out.update(epe_px=self.epe_px, density_percent=self.density_percent,
                   num_gt_px=float(self.num_gt_px), num_kept_px=float(self.num_kept_px))
        return out


def evaluate_disparity(pred_px: np.ndarray, gt_px: np.ndarray, *,
                       mask: np.ndarray | None = None,
                       thresholds_px: Sequence[float] = (1.0, 2.0, 3.0),
                       gt_zero_is_invalid: bool = False) -> StereoMetrics:
    """Compare a predicted disparity map with ground truth.

    Args:
        pred_px: (H, W) floating, px; NaN (or inf) = no prediction.
        gt_px: (H, W) floating, px; inf or NaN = no ground truth.
        mask: optional (H, W) bool evaluation region (e.g. non-occluded
            pixels); pixels outside it are ignored entirely.
        thresholds_px: the N of the bad-N metrics, px, each > 0.
        gt_zero_is_invalid: also treat ground truth 0 as unknown (KITTI).

    Returns:
        The :class:`StereoMetrics`.

    Raises:
        ImageShapeError: shapes differ or an array is not (H, W) floating/bool.
        StereoDepthError: a threshold is not a positive finite number.

    Example:
        >>> gt = np.array([[1.0, 2.0, np.inf, 4.0]])
        >>> pred = np.array([[1.5, 5.0, 7.0, np.nan]])
        >>> m = evaluate_disparity(pred, gt)
        >>> m.bad(1.0), m.epe_px, m.density_percent
        (66.66666666666667, 1.75, 66.66666666666667)
    """
    for name, array in (("pred_px", pred_px), ("gt_px", gt_px)):
        if not isinstance(array, np.ndarray) or array.ndim != 2 \
                or not np.issubdtype(array.dtype, np.floating):
            raise ImageShapeError(
                f"{name} must be an (H, W) floating array, got "
                f"{getattr(array, 'shape', type(array).__name__)} {getattr(array, 'dtype', '')}")
    if pred_px.shape != gt_px.shape:
        raise ImageShapeError(f"pred_px {pred_px.shape} and gt_px {gt_px.shape} must match")
    if mask is not None and (mask.shape != gt_px.shape or mask.dtype != np.bool_):
        raise ImageShapeError(
            f"mask must be (H, W) bool like gt_px {gt_px.shape}, got {mask.shape} {mask.dtype}")
    thresholds = tuple(float(t) for t in thresholds_px)
    if not thresholds or any(not np.isfinite(t) or t <= 0 for t in thresholds):
        raise StereoDepthError(f"thresholds_px={thresholds_px} must be positive finite numbers")

    has_gt = np.isfinite(gt_px)
    if gt_zero_is_invalid:
        has_gt &= gt_px != 0
    if mask is not None:
        has_gt &= mask
    kept = has_gt & np.isfinite(pred_px)
    num_gt, num_kept = int(has_gt.sum()), int(kept.sum())
    errors = np.abs(pred_px[kept].astype(np.float64) - gt_px[kept].astype(np.float64))

    def percent(count: int, total: int) -> float:
        return 100.0 * count / total if total else float("nan")

    bad = tuple(percent(int((errors > t).sum()) + (num_gt - num_kept), num_gt)
                for t in thresholds)
    bad_kept = tuple(percent(int((errors > t).sum()), num_kept) for t in thresholds)
    return StereoMetrics(
        thresholds_px=thresholds,
        bad_percent=bad,
        bad_kept_percent=bad_kept,
        epe_px=float(errors.mean()) if num_kept else float("nan"),
        density_percent=percent(num_kept, num_gt),
        num_gt_px=num_gt,
        num_kept_px=num_kept,
    )


def combine(metrics: Sequence[StereoMetrics]) -> StereoMetrics:
    """Metrics of all frames' pixels together: each frame weighted by its pixels with ground
    truth (bad-N, density) or its kept pixels (EPE, bad-N kept). All must share thresholds."""
    if not metrics:
        raise ValueError("nothing to combine")
    thresholds = metrics[0].thresholds_px
    if any(m.thresholds_px != thresholds for m in metrics):
        raise ValueError("all metrics must use the same thresholds")
    num_gt = sum(m.num_gt_px for m in metrics)
    num_kept = sum(m.num_kept_px for m in metrics)

    def weighted(values: Sequence[float], weights: Sequence[int], total: int) -> float:
        if not total:
            return math.nan
        return sum(v * w for v, w in zip(values, weights, strict=True) if w) / total

    gt_weights = [m.num_gt_px for m in metrics]
    kept_weights = [m.num_kept_px for m in metrics]
    return StereoMetrics(
        thresholds_px=thresholds,
        bad_percent=tuple(weighted([m.bad_percent[i] for m in metrics], gt_weights, num_gt)
                          for i in range(len(thresholds))),
        bad_kept_percent=tuple(weighted([m.bad_kept_percent[i] for m in metrics], kept_weights, num_kept)
                               for i in range(len(thresholds))),
        epe_px=weighted([m.epe_px for m in metrics], kept_weights, num_kept),
        density_percent=100.0 * num_kept / num_gt if num_gt else math.nan,
        num_gt_px=num_gt, num_kept_px=num_kept)
