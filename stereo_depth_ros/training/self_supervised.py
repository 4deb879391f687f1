"""Self-supervised stereo losses: photometric reconstruction, edge-aware smoothness, sparse hints.

Pure tensor functions (PyTorch, training only) with a thin weighted sum on
top. Conventions, as everywhere in this package:

* images are (N, C, H, W) float in [0, 1], rectified, left is the reference view;
* disparity is (N, 1, H, W) float, px of those images, d = x_left - x_right, so
  the left pixel (x, y) sees the right pixel (x - d, y);
* sparse targets (hints) are (N, 1, H, W) float px with NaN = no target.

The photometric term follows Monodepth2 (Godard et al., ICCV 2019): the left
image is reconstructed from the right one sampled at x - d (bilinear
``grid_sample``), compared with 0.85 * SSIM(3x3) + 0.15 * L1 per pixel, and
**auto-masked**: per pixel the error is the minimum of the reconstruction
error and the error of the unwarped right image (the "identity" warp, d = 0).
Pixels whose match x - d falls outside the right image (or whose 3x3 SSIM
window holds such a pixel) are left out.

Why auto-masking and not an occlusion mask from left-right consistency: the
LR mask needs the right view's disparity, a second forward pass on the
mirrored, swapped pair for every sample; on the CPUs this adapts on, that
halves the steps per minute. Auto-masking is free (one extra photometric
error, no network pass) and drops exactly the pixels where reconstruction
says nothing about disparity: textureless or saturated regions and distant
background, where any d (including 0) reconstructs the left image as well.
What it does not mask are occluded pixels (seen by the left camera only);
their error is bounded (SSIM dissimilarity and L1 of images in [0, 1] are at
most 1) and the sparse hint term, whose SGBM targets passed a left-right
check, anchors the network where the views agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stereo_depth_ros.training.losses import (
    downsample_disparity,
    masked_smooth_l1,
    two_hot_cross_entropy,
)
from stereo_depth_ros.training.model import column_coordinates, warp_right_to_left

__all__ = [
    "SelfSupervisedWeights",
    "edge_aware_smoothness",
    "photometric_error",
    "photometric_loss",
    "reconstruct_left",
    "self_supervised_loss",
    "sparse_hint_loss",
    "ssim_dissimilarity",
]


def _check_images(name: str, image: torch.Tensor) -> None:
    if image.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {tuple(image.shape)}")


def _check_disparity(disparity_px: torch.Tensor, image: torch.Tensor) -> None:
    expected = (image.shape[0], 1, *image.shape[2:])
    if tuple(disparity_px.shape) != expected:
        raise ValueError(f"disparity_px must be {expected} to match the images {tuple(image.shape)}, "
                         f"got {tuple(disparity_px.shape)}")


def reconstruct_left(right: torch.Tensor, disparity_px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The left view rebuilt from the right one: ``warped(x, y) = right(x - d(x, y), y)``.

    Args:
        right: (N, C, H, W) float, the right rectified image (any units).
        disparity_px: (N, 1, H, W) float, px, d = x_left - x_right of each left pixel.

    Returns:
        warped: (N, C, H, W), bilinear samples of ``right``; 0 where the match is outside.
        in_image: (N, 1, H, W) bool, True where 0 <= x - d <= W - 1 (the match lies in
            the right image); False marks pixels with no reconstruction.

    Example:
        >>> right = torch.arange(8.0).view(1, 1, 1, 8)
        >>> warped, in_image = reconstruct_left(right, torch.full((1, 1, 1, 8), 2.0))
        >>> warped[0, 0, 0, 2:].tolist(), in_image[0, 0, 0].tolist()[:3]
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [False, False, True])
    """
    _check_images("right", right)
    _check_disparity(disparity_px, right)
    width = right.shape[-1]
    source = column_coordinates(right) - disparity_px
    in_image = (source >= 0) & (source <= width - 1)
    return warp_right_to_left(right, disparity_px), in_image


def ssim_dissimilarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 over 3x3 windows (mean filters, reflection padding), per channel.

    Args:
        x, y: (N, C, H, W) float in [0, 1].

    Returns:
        (N, C, H, W) float in [0, 1]; 0 where the windows are identical.
    """
    _check_images("x", x)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x, y = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x ** 2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    denominator = (mu_x ** 2 + mu_y ** 2 + c1) * (sigma_x + sigma_y + c2)
    return torch.clamp((1 - numerator / denominator) / 2, 0.0, 1.0)


def photometric_error(target: torch.Tensor, estimate: torch.Tensor, *, ssim_weight: float = 0.85) -> torch.Tensor:
    """Per-pixel ``ssim_weight * SSIM dissimilarity + (1 - ssim_weight) * |target - estimate|``.

    Args:
        target, estimate: (N, C, H, W) float in [0, 1].
        ssim_weight: share of the SSIM term, in [0, 1].

    Returns:
        (N, 1, H, W) float in [0, 1], averaged over channels; 0 = identical.
    """
    if not 0.0 <= ssim_weight <= 1.0:
        raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
    ssim = ssim_dissimilarity(target, estimate).mean(dim=1, keepdim=True)
    l1 = (target - estimate).abs().mean(dim=1, keepdim=True)
    return ssim_weight * ssim + (1.0 - ssim_weight) * l1


def photometric_loss(left: torch.Tensor, right: torch.Tensor, disparity_px: torch.Tensor, *,
                     ssim_weight: float = 0.85, auto_mask: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Auto-masked photometric reconstruction loss of the left image (see the module docstring).

    Args:
        left, right: (N, C, H, W) float in [0, 1], the rectified pair.
        disparity_px: (N, 1, H, W) float, px, the left view's disparity.
        ssim_weight: share of SSIM in the per-pixel error (Monodepth2: 0.85).
        auto_mask: take the per-pixel minimum with the identity (d = 0) error; False =
            the reconstruction error alone.

    Returns:
        loss: scalar, mean per-pixel error over the pixels whose 3x3 neighbourhood has all
            its matches in the image (0 with a gradient of 0 when there is none).
        used: (N, 1, H, W) bool, pixels that carry gradient: those pixels, and with
            ``auto_mask`` only where the reconstruction beats the identity.
    """
    _check_images("left", left)
    warped, in_image = reconstruct_left(right, disparity_px)
    # Only pixels whose whole 3x3 SSIM window has its matches in the image (else SSIM sees the zero fill).
    in_image = F.max_pool2d((~in_image).float(), 3, 1, 1) == 0
    error = photometric_error(left, warped, ssim_weight=ssim_weight)
    used = in_image
    if auto_mask:
        identity = photometric_error(left, right, ssim_weight=ssim_weight)
        used = in_image & (error < identity)
        error = torch.minimum(error, identity)
    if not in_image.any():
        return disparity_px.sum() * 0.0, used
    return error[in_image].mean(), used


def edge_aware_smoothness(disparity_px: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean first-order disparity gradient, down-weighted at image edges (Monodepth2).

    The disparity is divided by its per-image mean first, so the term does not
    shrink by shrinking the disparities: ``|dx d*| * exp(-mean_c |dx I|) + (the same in y)``
    with ``d* = d / mean(d)``.

    Args:
        disparity_px: (N, 1, H, W) float, px; non-negative (as the network outputs).
        image: (N, C, H, W) float in [0, 1], the left image the disparity belongs to.

    Returns:
        scalar >= 0; 0 for a constant disparity map. A mean disparity below 1e-6 px
        (an all-zero map) is taken as 1e-6 px, so the term stays finite.
    """
    _check_images("image", image)
    _check_disparity(disparity_px, image)
    normalised = disparity_px / disparity_px.mean(dim=(2, 3), keepdim=True).clamp(min=1e-6)
    grad_x = (normalised[..., :, 1:] - normalised[..., :, :-1]).abs()
    grad_y = (normalised[..., 1:, :] - normalised[..., :-1, :]).abs()
    weight_x = torch.exp(-(image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=1, keepdim=True))
    weight_y = torch.exp(-(image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=1, keepdim=True))
    return (grad_x * weight_x).mean() + (grad_y * weight_y).mean()


def sparse_hint_loss(disparity_px: torch.Tensor, hints_px: torch.Tensor, *, logits4: torch.Tensor | None = None,
                     cross_entropy_weight: float = 0.5) -> torch.Tensor:
    """Supervised loss on the sparse pixels that have a trusted target (SGBM's sure pixels).

    Smooth-L1 (beta 1 px) of the full-resolution disparity, plus, with ``logits4``, the
    two-hot cross-entropy of the 1/4-resolution matching scores (as in supervised
    training): the regression term alone cannot move a wrong peak of the windowed
    soft-argmin, the cross-entropy can.

    Args:
        disparity_px: (N, 1, H, W) float, px, the prediction.
        hints_px: (N, 1, H, W) float, px; NaN = no target.
        logits4: (N, D, H/4, W/4) matching scores of 4-px bins, or None.
        cross_entropy_weight: weight of the cross-entropy term.

    Returns:
        scalar; 0 (with a gradient of 0) where no pixel has a target.
    """
    _check_disparity(hints_px, disparity_px)
    loss = masked_smooth_l1(disparity_px, hints_px)
    if logits4 is not None:
        loss = loss + cross_entropy_weight * two_hot_cross_entropy(logits4, downsample_disparity(hints_px, 4))
    return loss


@dataclass(frozen=True)
class SelfSupervisedWeights:
    """Weights of the self-supervised objective (stored in adaptation checkpoints).

    Attributes:
        photometric: weight of the auto-masked reconstruction loss (per-pixel error in [0, 1]).
        smoothness: weight of the edge-aware smoothness of the mean-normalised disparity.
        hints: weight of the sparse hint loss (px-scale smooth-L1 + cross-entropy).
        hint_cross_entropy: weight of the cross-entropy inside the hint loss.
        ssim: share of SSIM in the photometric error (Monodepth2's 0.85).
        auto_mask: auto-mask the photometric loss (see the module docstring).
    """

    photometric: float = 1.0
    smoothness: float = 0.01
    hints: float = 0.1
    hint_cross_entropy: float = 0.5
    ssim: float = 0.85
    auto_mask: bool = True


def self_supervised_loss(outputs: dict[str, torch.Tensor], left: torch.Tensor, right: torch.Tensor,
                         hints_px: torch.Tensor,
                         weights: SelfSupervisedWeights = SelfSupervisedWeights()) -> dict[str, torch.Tensor]:
    """The weighted objective on one batch.

    Args:
        outputs: StereoNet's output dict; uses ``disparity`` (N, 1, H, W) px and ``logits4``.
        left, right: (N, 3, H, W) float in [0, 1]: the images the loss compares, i.e.
            *before* photometric augmentation of the network's inputs.
        hints_px: (N, 1, H, W) float px, trusted sparse disparities; NaN = none.
        weights: term weights.

    Returns:
        ``total`` (weighted sum) and each unweighted term: ``photometric``,
        ``smoothness``, ``hints``; plus ``unused``, the share of pixels without photometric
        gradient (match outside the image, or auto-masked), for the log.
    """
    disparity = outputs["disparity"]
    photometric, used = photometric_loss(left, right, disparity, ssim_weight=weights.ssim,
                                         auto_mask=weights.auto_mask)
    smoothness = edge_aware_smoothness(disparity, left)
    hints = sparse_hint_loss(disparity, hints_px, logits4=outputs.get("logits4"),
                             cross_entropy_weight=weights.hint_cross_entropy)
    total = weights.photometric * photometric + weights.smoothness * smoothness + weights.hints * hints
    unused = 1.0 - used.float().mean().detach()
    return {"total": total, "photometric": photometric, "smoothness": smoothness, "hints": hints,
            "unused": unused}
