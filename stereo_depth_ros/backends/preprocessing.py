"""Pure functions that bring a stereo pair to a fixed-size network and back.

The fit rule (the network input is (Hm, Wm), fixed per model file):

1. ``s = min(Wm / W, Hm / H, 1)``: shrink to fit, never upscale.
2. Resize the (H, W) image to (round(H*s), round(W*s)) with ``INTER_AREA``.
3. Pad right and bottom with edge replication up to (Hm, Wm). Left and top
   are never padded, so pixel (0, 0) stays at (0, 0) and rows stay aligned.

The inverse crops the network output to the resized region, resizes it back
to (H, W) and multiplies disparity *values* by ``W / resized_width``:
a disparity of d model px spans d * W / resized_width input px.

Sparse hints follow the same map but are scattered, never interpolated: each
hint goes to the model pixel containing its centre, its value is multiplied
by ``resized_width / W``; when several hints land on one model pixel the one
nearest that pixel's centre wins (a real measurement, never a blend of a
foreground and a background value).

The network returns the right view's disparity from the same pass
(``disparity_right``, see :mod:`~stereo_depth_ros.backends.contract`); the
left-right check runs on both maps at model resolution, inside the valid
(unpadded) region, and only the checked left map is brought back to the input.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stereo_depth_ros.backends.base import MatchResult, SparseHints
from stereo_depth_ros.backends.contract import (
    INPUT_HINT_DISPARITY,
    INPUT_HINT_MASK,
    INPUT_LEFT,
    INPUT_RIGHT,
)
from stereo_depth_ros.backends.errors import InputError, ModelError
from stereo_depth_ros.core.consistency import left_right_check

__all__ = [
    "MIN_INPUT_HW",
    "FitTransform",
    "NetworkBatch",
    "compute_fit",
    "decode_checked_outputs",
    "decode_network_outputs",
    "fit_hints",
    "pad_to_model",
    "prepare_network_batch",
    "resize_to_fit",
    "to_grey",
    "to_nchw_float",
    "to_rgb",
    "unfit_confidence",
    "unfit_disparity",
    "validate_hints",
    "validate_image_pair",
]

#: Smallest accepted input image, (H, W) px. Smaller images carry too little
#: texture for a 1/4-resolution cost volume and are almost always a
#: wiring error (a thumbnail, a wrong topic).
MIN_INPUT_HW: tuple[int, int] = (32, 32)

def validate_image_pair(left: np.ndarray, right: np.ndarray, *,
                        min_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
    """Check that two images form a usable rectified pair.

    Args:
        left: (H, W) uint8 grey or (H, W, 3) uint8 RGB, left rectified image.
        right: same shape and dtype as ``left``, right rectified image.
        min_hw: smallest accepted (H, W), px.

    Raises:
        InputError: naming the argument and its offending shape or dtype.
    """
    for name, image in (("left", left), ("right", right)):
        if not isinstance(image, np.ndarray):
            raise InputError(f"{name} must be a numpy array, got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise InputError(f"{name} must be uint8, got dtype {image.dtype}")
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise InputError(
                f"{name} must be (H, W) grey or (H, W, 3) RGB, got shape {image.shape}")
    if left.shape != right.shape:
        raise InputError(
            f"left and right must have the same shape, got {left.shape} and {right.shape}")
    height, width = left.shape[:2]
    if height < min_hw[0] or width < min_hw[1]:
        raise InputError(
            f"images are {height}x{width} (HxW); the minimum is {min_hw[0]}x{min_hw[1]}")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB uint8 -> (H, W, 3) uint8 RGB (RGB input is not copied)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB uint8 -> (H, W) uint8 grey (grey input is not copied)."""
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


@dataclass(frozen=True)
class FitTransform:
    """How an (H, W) input maps onto the (Hm, Wm) network input.

    Attributes:
        input_hw: (H, W) of the input image, px.
        model_hw: (Hm, Wm) of the network input, px.
        resized_hw: (round(H*s), round(W*s)), px; the valid region of the
            network input is ``[:resized_hw[0], :resized_hw[1]]``.
    """

    input_hw: tuple[int, int]
    model_hw: tuple[int, int]
    resized_hw: tuple[int, int]

    @property
    def scale(self) -> float:
        """The uniform scale s = min(Wm/W, Hm/H, 1) of the fit rule."""
        height, width = self.input_hw
        model_h, model_w = self.model_hw
        return min(model_w / width, model_h / height, 1.0)

    @property
    def is_identity_resize(self) -> bool:
        """True when the image is only padded, not resized."""
        return self.resized_hw == self.input_hw

    @property
    def disparity_scale(self) -> float:
        """W / resized_width: multiply model-px disparities by this for input px."""
        return self.input_hw[1] / self.resized_hw[1]

    @property
    def pad_bottom(self) -> int:
        """Rows of edge replication added below the resized image."""
        return self.model_hw[0] - self.resized_hw[0]

    @property
    def pad_right(self) -> int:
        """Columns of edge replication added right of the resized image."""
        return self.model_hw[1] - self.resized_hw[1]


def compute_fit(input_hw: tuple[int, int], model_hw: tuple[int, int]) -> FitTransform:
    """Apply the fit rule to an input size.

    Args:
        input_hw: (H, W) of the input image, px, both >= 1.
        model_hw: (Hm, Wm) of the network input, px, both >= 1.

    Returns:
        The :class:`FitTransform`.

    Raises:
        InputError: a size is not positive.

    Example:
        >>> compute_fit((500, 741), (480, 640)).resized_hw
        (432, 640)
    """
    height, width = (int(v) for v in input_hw)
    model_h, model_w = (int(v) for v in model_hw)
    if min(height, width, model_h, model_w) < 1:
        raise InputError(f"sizes must be positive, got input {input_hw}, model {model_hw}")
    scale = min(model_w / width, model_h / height, 1.0)
    # min() keeps rounding from exceeding the model size by a pixel.
    resized_hw = (min(model_h, max(1, round(height * scale))),
                  min(model_w, max(1, round(width * scale))))
    return FitTransform(input_hw=(height, width), model_hw=(model_h, model_w),
                        resized_hw=resized_hw)


def resize_to_fit(image: np.ndarray, fit: FitTransform) -> np.ndarray:
    """Resize an image to ``fit.resized_hw`` with ``INTER_AREA`` (no padding).

    Args:
        image: (H, W) or (H, W, C) array of ``fit.input_hw``, any OpenCV dtype.

    Returns:
        (h, w) or (h, w, C) array, same dtype; ``image`` itself when no resize is needed.
    """
    if image.shape[:2] != fit.input_hw:
        raise InputError(f"image shape {image.shape} does not match fit input {fit.input_hw}")
    if fit.is_identity_resize:
        return image
    resized_h, resized_w = fit.resized_hw
    return cv2.resize(image, (resized_w, resized_h), interpolation=cv2.INTER_AREA)


def pad_to_model(image: np.ndarray, fit: FitTransform) -> np.ndarray:
    """Pad a resized image right and bottom with edge replication to ``fit.model_hw``.

    Args:
        image: (h, w) or (h, w, C) array of ``fit.resized_hw``.

    Returns:
        (Hm, Wm) or (Hm, Wm, C) array, same dtype (``image`` itself when no pad is needed).
    """
    if image.shape[:2] != fit.resized_hw:
        raise InputError(f"image shape {image.shape} does not match fit resized {fit.resized_hw}")
    if fit.pad_bottom == 0 and fit.pad_right == 0:
        return image
    return cv2.copyMakeBorder(image, 0, fit.pad_bottom, 0, fit.pad_right,
                              cv2.BORDER_REPLICATE)


def to_nchw_float(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stack RGB uint8 images into a network batch.

    Args:
        images: N arrays (H, W, 3) uint8 RGB, all the same shape.

    Returns:
        (N, 3, H, W) float32 in [0, 1], C-contiguous.
    """
    stacked = np.stack(images)  # (N, H, W, 3) uint8
    if stacked.ndim != 4 or stacked.shape[3] != 3 or stacked.dtype != np.uint8:
        raise InputError(
            f"expected N (H, W, 3) uint8 images, got stack {stacked.shape} {stacked.dtype}")
    batch = np.empty((stacked.shape[0], 3, *stacked.shape[1:3]), dtype=np.float32)
    np.multiply(stacked.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=batch)
    return batch


def validate_hints(hints_px: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Check a sparse hint map and return it as float32.

    Args:
        hints_px: (H, W) floating, px at input size; NaN = no hint.
        image_hw: (H, W) of the images the hints belong to.

    Returns:
        (H, W) float32, px; NaN = no hint.

    Raises:
        InputError: wrong shape or dtype, infinite values or negative disparities.
    """
    if not isinstance(hints_px, np.ndarray) or not np.issubdtype(hints_px.dtype, np.floating):
        raise InputError(
            f"hints must be a floating numpy array, got "
            f"{getattr(hints_px, 'dtype', type(hints_px).__name__)}")
    if hints_px.shape != tuple(image_hw):
        raise InputError(
            f"hints have shape {hints_px.shape}; the images are {tuple(image_hw)} (H, W)")
    hints = hints_px.astype(np.float32, copy=False)
    n_inf = int(np.isinf(hints).sum())
    if n_inf:
        raise InputError(f"hints contain {n_inf} infinite values; mark 'no hint' with NaN")
    n_negative = int((hints < 0).sum())  # NaN compares False
    if n_negative:
        raise InputError(
            f"hints contain {n_negative} negative disparities (min {np.nanmin(hints)}); "
            "d = x_left - x_right must be >= 0")
    return hints


def fit_hints(hints_px: np.ndarray, fit: FitTransform) -> tuple[np.ndarray, np.ndarray]:
    """Scatter sparse hints onto the network grid, keeping them sparse.

    Each finite hint at input pixel (y, x) goes to the model pixel containing
    its centre, ``(floor((y + 0.5) * h / H), floor((x + 0.5) * w / W))``, with
    its value multiplied by ``w / W`` (w = resized width). Collisions keep the
    hint nearest the model pixel's centre. Nothing is interpolated, so a hint
    never blends foreground and background, and the padding gets no hints.

    Args:
        hints_px: (H, W) float32, px at input size; NaN = no hint
            (already checked by :func:`validate_hints`).
        fit: the transform of the image pair.

    Returns:
        ``(hint_disparity, hint_mask)``, both (Hm, Wm) float32: disparity in
        model px with 0 where no hint (the contract's encoding), and 1 where
        a hint exists else 0.
    """
    model_h, model_w = fit.model_hw
    disparity = np.zeros((model_h, model_w), dtype=np.float32)
    mask = np.zeros((model_h, model_w), dtype=np.float32)
    height, width = fit.input_hw
    finite = np.isfinite(hints_px)
    if fit.resized_hw == fit.input_hw:  # not resized: pixel (y, x) is model pixel (y, x), no collisions
        disparity[:height, :width] = np.where(finite, hints_px, np.float32(0.0))
        mask[:height, :width] = finite
        return disparity, mask
    order, target_in_order = _hint_priority(fit.input_hw, fit.resized_hw, model_w)
    candidates = np.flatnonzero(finite.ravel()[order])  # positions in ``order`` that hold a hint
    if candidates.size == 0:
        return disparity, mask
    targets = target_in_order[candidates]
    first = np.ones(candidates.size, dtype=bool)
    first[1:] = targets[1:] != targets[:-1]  # the best-placed hint of each model pixel
    chosen = order[candidates[first]]
    model_flat = target_in_order[candidates[first]]
    disparity.ravel()[model_flat] = hints_px.ravel()[chosen] * np.float32(fit.resized_hw[1] / width)
    mask.ravel()[model_flat] = 1.0
    return disparity, mask


@functools.lru_cache(maxsize=8)
def _hint_priority(input_hw: tuple[int, int], resized_hw: tuple[int, int],
                   model_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every input pixel ordered by the model pixel containing its centre, nearest that pixel's centre first.

    Depends only on the sizes, so it is computed once per fit: (flat input indices in that order,
    the flat model index of each).
    """
    height, width = input_hw
    resized_h, resized_w = resized_hw
    pos_y = (np.arange(height) + 0.5) * (resized_h / height)  # continuous model coordinates
    pos_x = (np.arange(width) + 0.5) * (resized_w / width)
    ty = np.minimum(pos_y.astype(np.int64), resized_h - 1)  # floor: positions are > 0
    tx = np.minimum(pos_x.astype(np.int64), resized_w - 1)
    dist2 = ((pos_y - ty - 0.5) ** 2)[:, None] + ((pos_x - tx - 0.5) ** 2)[None, :]
    target = (ty[:, None] * model_w + tx[None, :]).ravel()
    order = np.lexsort((dist2.ravel(), target))  # stable: equal distances keep row-major order
    target_in_order = target[order]
    for array in (order, target_in_order):
        array.flags.writeable = False  # cached and shared
    return order, target_in_order


def unfit_disparity(disparity_model_px: np.ndarray, fit: FitTransform, *,
                    interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Bring a network disparity map back to the input image.

    Crops ``[:h, :w]`` (drops the padding), resizes to (H, W) and multiplies
    values by ``W / w``.

    Args:
        disparity_model_px: (Hm, Wm) float32, px at model size; NaN = invalid.
        fit: the transform used for the input.
        interpolation: OpenCV flag for the resize back (bilinear by default;
            a NaN spreads to the pixels interpolated from it).

    Returns:
        (H, W) float32, px at input size; NaN = invalid.
    """
    return _unfit(disparity_model_px, fit, interpolation=interpolation) * np.float32(fit.disparity_scale)


def unfit_confidence(confidence_model: np.ndarray, fit: FitTransform) -> np.ndarray:
    """Bring a network confidence map back to the input image (bilinear, clipped).

    Args:
        confidence_model: (Hm, Wm) float32 in [0, 1].
        fit: the transform used for the input.

    Returns:
        (H, W) float32 in [0, 1]; NaN inputs become 0.
    """
    confidence = _unfit(confidence_model, fit, interpolation=cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(confidence, nan=0.0), 0.0, 1.0)


def _unfit(model_map: np.ndarray, fit: FitTransform, *, interpolation: int) -> np.ndarray:
    if model_map.shape != fit.model_hw:
        raise InputError(f"map shape {model_map.shape} does not match model {fit.model_hw}")
    resized_h, resized_w = fit.resized_hw
    cropped = np.ascontiguousarray(model_map[:resized_h, :resized_w], dtype=np.float32)
    if fit.is_identity_resize:
        return cropped
    height, width = fit.input_hw
    return cv2.resize(cropped, (width, height), interpolation=interpolation)


@dataclass(frozen=True)
class NetworkBatch:
    """Network feeds for one pair (N = 1), and how to undo the fit.

    Attributes:
        feeds: contract input name -> (1, C, Hm, Wm) float32 array.
        fit: the transform of the pair.
    """

    feeds: dict[str, np.ndarray]
    fit: FitTransform


def prepare_network_batch(left: np.ndarray, right: np.ndarray, *,
                          model_hw: tuple[int, int],
                          hints: SparseHints | None = None,
                          min_hw: tuple[int, int] = MIN_INPUT_HW) -> NetworkBatch:
    """Validate a pair and build the network feeds.

    The network sees (left, right) and the left-frame hints; its right-view
    output comes from the same volume, which the hints already shaped, and is
    refined with the hints moved into the right view inside the network, so
    both views are guided by them.

    Args:
        left: (H, W) uint8 grey or (H, W, 3) uint8 RGB, left rectified image.
        right: same shape and dtype, right rectified image.
        model_hw: (Hm, Wm) of the network input, px.
        hints: sparse left-frame hints, (H, W) float32 px, NaN = no hint.
        min_hw: smallest accepted (H, W), px.

    Returns:
        The :class:`NetworkBatch`.

    Raises:
        InputError: bad images or hints.
    """
    validate_image_pair(left, right, min_hw=min_hw)
    fit = compute_fit(left.shape[:2], model_hw)
    if hints is None:
        hint_disparity = hint_mask = np.zeros(fit.model_hw, dtype=np.float32)
    else:
        hint_disparity, hint_mask = fit_hints(validate_hints(hints.disparity_px, fit.input_hw), fit)
    images = [pad_to_model(resize_to_fit(to_rgb(image), fit), fit) for image in (left, right)]
    feeds = {
        INPUT_LEFT: to_nchw_float(images[:1]),
        INPUT_RIGHT: to_nchw_float(images[1:]),
        INPUT_HINT_DISPARITY: hint_disparity[None, None],
        INPUT_HINT_MASK: hint_mask[None, None],
    }
    return NetworkBatch(feeds=feeds, fit=fit)


def _check_output_shape(name: str, array: np.ndarray, batch: NetworkBatch) -> None:
    expected = (1, 1, *batch.fit.model_hw)
    if array.shape != expected:
        raise ModelError(f"network output {name!r} has shape {array.shape}, expected {expected}")


def _contract_disparity(disparity: np.ndarray) -> np.ndarray:
    """(Hm, Wm) copy with values outside the contract (negative, not finite) set to NaN."""
    clean = disparity.astype(np.float32, copy=True)
    clean[~(clean >= 0) | ~np.isfinite(clean)] = np.nan  # ~(clean >= 0) is also True for NaN
    return clean


def _unfit_result(disparity_model_px: np.ndarray, confidence_model: np.ndarray,
                  fit: FitTransform) -> MatchResult:
    disparity_px = unfit_disparity(disparity_model_px, fit)
    confidence = unfit_confidence(confidence_model, fit)
    confidence[np.isnan(disparity_px)] = 0.0
    return MatchResult(disparity_px=disparity_px, confidence=confidence)


def decode_network_outputs(disparity: np.ndarray, confidence: np.ndarray,
                           batch: NetworkBatch) -> MatchResult:
    """Turn raw network outputs into a :class:`MatchResult` at input size.

    Disparities that are not finite or negative (outside the contract) become
    NaN; confidence is clipped to [0, 1] and set to 0 wherever the disparity
    is NaN.

    Args:
        disparity: (1, 1, Hm, Wm) float32, px at model size.
        confidence: (1, 1, Hm, Wm) float32 in [0, 1].
        batch: the batch the outputs were computed from.

    Raises:
        ModelError: an output does not have the contract shape (1, 1, Hm, Wm).
    """
    for name, array in (("disparity", disparity), ("confidence", confidence)):
        _check_output_shape(name, array, batch)
    return _unfit_result(_contract_disparity(disparity[0, 0]), confidence[0, 0], batch.fit)


def decode_checked_outputs(disparity: np.ndarray, confidence: np.ndarray, disparity_right: np.ndarray,
                           batch: NetworkBatch, *, max_diff_px: float) -> tuple[MatchResult, float]:
    """Left-right check at model resolution, then the checked left map at input size.

    Both views are cropped to the valid (unpadded) region and checked there
    (:func:`~stereo_depth_ros.core.consistency.left_right_check`, nearest
    sampling) with the tolerance converted to model px; the kept left map is
    resized back once.

    Args:
        disparity, confidence, disparity_right: (1, 1, Hm, Wm) float32 network outputs.
        batch: the batch they were computed from.
        max_diff_px: largest |d_left - d_right| kept, px of the input images, > 0.

    Returns:
        (result at input size, NaN where rejected; share of the valid region's pixels that had a
        disparity and were rejected).

    Raises:
        ModelError: an output does not have the contract shape (1, 1, Hm, Wm).
    """
    for name, array in (("disparity", disparity), ("confidence", confidence),
                        ("disparity_right", disparity_right)):
        _check_output_shape(name, array, batch)
    fit = batch.fit
    resized_h, resized_w = fit.resized_hw
    region = np.s_[:resized_h, :resized_w]
    left = _contract_disparity(disparity[0, 0])
    right = _contract_disparity(disparity_right[0, 0])
    check = left_right_check(left[region], right[region], max_diff_px=max_diff_px / fit.disparity_scale)
    rejected = np.isfinite(left[region]) & ~check.keep_mask
    left[region] = check.disparity_px
    return _unfit_result(left, confidence[0, 0], fit), float(rejected.mean())
