"""Supervised losses for StereoNet (pixels; ground truth NaN = unknown)."""

from __future__ import annotations

from typing import Final

import torch
import torch.nn.functional as F

#: Weights of ``stereo_loss``'s terms besides the full-resolution smooth-L1 (weight 1). The half- and
#: quarter-resolution smooth-L1 are in pixels of their own resolution; they are first brought to
#: full-resolution pixels (x 2, x 4, ``HALF_SCALE`` and ``QUARTER_SCALE``) and then weighted.
HALF_WEIGHT: Final = 0.5
QUARTER_WEIGHT: Final = 0.3
CROSS_ENTROPY_WEIGHT: Final = 0.5
HALF_SCALE: Final = 2.0
QUARTER_SCALE: Final = 4.0
#: Smooth-L1 turns from quadratic to linear at this error, px.
SMOOTH_L1_BETA_PX: Final = 1.0


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``valid``; 0 (with a zero gradient) where nothing is valid.

    A weighted sum instead of boolean indexing, whose nonzero / index / index_put took about 5 %
    of a training step's CPU time (the step got 2-4 % faster).
    """
    weights = valid.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def masked_smooth_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean smooth-L1 (beta ``SMOOTH_L1_BETA_PX``) over pixels where ``target`` is finite; (N, 1, H, W) px."""
    valid = torch.isfinite(target)
    error = F.smooth_l1_loss(prediction, torch.where(valid, target, prediction.detach()), reduction="none",
                             beta=SMOOTH_L1_BETA_PX)
    return _masked_mean(error, valid)


def two_hot_cross_entropy(logits: torch.Tensor, target_bins: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (N, D, h, w) logits against a two-hot target at fractional bins.

    The target puts weight 1 - frac on floor(t) and frac on floor(t) + 1, so its
    expectation equals t. This term keeps gradients alive when the softmax
    saturates on one bin (where soft-argmin alone collapses).
    """
    valid = torch.isfinite(target_bins) & (target_bins >= 0) & (target_bins <= logits.shape[1] - 1)
    target = torch.where(valid, target_bins, torch.zeros_like(target_bins))
    low = target.floor().clamp(max=logits.shape[1] - 2)
    frac = target - low
    log_probs = F.log_softmax(logits, dim=1)
    low_index = low.long()
    nll = -(log_probs.gather(1, low_index) * (1 - frac) + log_probs.gather(1, low_index + 1) * frac)
    return _masked_mean(nll, valid)


def downsample_disparity(disparity: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest (centre) sample of a NaN-marked disparity map, values divided by factor."""
    offset = factor // 2
    return disparity[:, :, offset::factor, offset::factor] / factor


def stereo_loss(outputs: dict[str, torch.Tensor], disparity: torch.Tensor) -> dict[str, torch.Tensor]:
    """Full-resolution smooth-L1, down-weighted intermediate terms and 1/4 cross-entropy.

    ``total = full + HALF_WEIGHT * HALF_SCALE * half + QUARTER_WEIGHT * QUARTER_SCALE * quarter
    + CROSS_ENTROPY_WEIGHT * cross_entropy``. Returns ``total`` and each term (for the log).
    """
    full = masked_smooth_l1(outputs["disparity"], disparity)
    half = masked_smooth_l1(outputs["disparity2"], downsample_disparity(disparity, 2))
    quarter = masked_smooth_l1(outputs["disparity4"], downsample_disparity(disparity, 4))
    cross_entropy = two_hot_cross_entropy(outputs["logits4"], downsample_disparity(disparity, 4))
    total = (full + HALF_WEIGHT * HALF_SCALE * half + QUARTER_WEIGHT * QUARTER_SCALE * quarter
             + CROSS_ENTROPY_WEIGHT * cross_entropy)
    return {"total": total, "full": full, "half": half, "quarter": quarter, "cross_entropy": cross_entropy}
