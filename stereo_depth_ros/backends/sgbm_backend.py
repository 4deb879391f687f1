"""Classical matchers: OpenCV StereoSGBM (``sgbm``) and StereoBM (``bm``).

Parameters follow ``stereo_image_proc`` (same meaning, snake_case names,
stated units). Output conventions are the package's, not OpenCV's:

* disparity is float32 px (OpenCV returns int16 fixed point x16), and pixels
  OpenCV marks invalid, ``(min_disparity - 1) * 16`` (no match, speckle,
  uniqueness or its own left-right test), are NaN;
* confidence is binary: 1 where the disparity is valid, 0 where it is NaN.
  OpenCV exposes no matching cost, so there is nothing graded to report;
  its uniqueness test (``uniqueness_ratio``) has already removed ambiguous
  pixels. Use ``core.consistency`` for a left-right check on top.

OpenCV's own left-right test (``disp12_max_diff``) is disabled by default
(-1): :meth:`OpenCvStereoBackend.match_checked` applies the check of
``stereo_depth_ros.core.consistency`` against
:meth:`OpenCvStereoBackend.match_right`, which runs the matcher on the
mirrored, swapped pair (fliplr(right), fliplr(left)) and mirrors the result
back, so right-view disparities are positive too (d = x_left - x_right).

Left border: OpenCV leaves the first ``min_disparity + num_disparities``
columns invalid, even where the match lies inside the right image. With
``pad_left_border=True`` (default) both images are padded on the left by
that many columns (edge replication) before matching and the padding is
cropped afterwards, so those columns get estimates wherever their match
exists; pixels whose match is outside the right image may get a wrong value,
which the left-right check removes. On Middlebury Motorcycle (128
disparities, 3-way) this takes bad-2 from 25.7 % to 12.2 % and density from
79 % to 93 % (15.1 % and 89 % after the left-right check), at the cost of
matching a wider image.

Hints are accepted (interface) and ignored: these matchers cannot use them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

from stereo_depth_ros.backends.base import CheckedMatch, MatchResult, SparseHints
from stereo_depth_ros.backends.errors import ConfigurationError, InputError
from stereo_depth_ros.backends.preprocessing import (
    MIN_INPUT_HW,
    to_grey,
    validate_image_pair,
)
from stereo_depth_ros.core.consistency import left_right_check

__all__ = [
    "BmBackend",
    "BmParams",
    "OpenCvStereoBackend",
    "SgbmBackend",
    "SgbmMode",
    "SgbmParams",
]

#: StereoSGBM modes: 5-direction single pass ("sgbm"), full 8-direction
#: two-pass ("hh", slow, more memory), 3-way (faster, similar quality) and HH4.
SgbmMode = Literal["sgbm", "hh", "3way", "hh4"]
_SGBM_MODES = {
    "sgbm": cv2.StereoSGBM_MODE_SGBM,
    "hh": cv2.StereoSGBM_MODE_HH,
    "3way": cv2.StereoSGBM_MODE_SGBM_3WAY,
    "hh4": cv2.StereoSGBM_MODE_HH4,
}
_BM_PREFILTERS = {
    "xsobel": cv2.StereoBM_PREFILTER_XSOBEL,
    "normalized_response": cv2.StereoBM_PREFILTER_NORMALIZED_RESPONSE,
}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(message)


def _check_common(min_disparity: int, num_disparities: int, uniqueness_ratio: int,
                  speckle_window_size: int, speckle_range: int) -> None:
    _check(num_disparities > 0 and num_disparities % 16 == 0,
           f"num_disparities={num_disparities} must be a positive multiple of 16 (px)")
    _check(-1024 <= min_disparity <= 1024, f"min_disparity={min_disparity} px is out of range")
    _check(0 <= uniqueness_ratio <= 100, f"uniqueness_ratio={uniqueness_ratio} must be 0..100 (%)")
    _check(speckle_window_size >= 0,
           f"speckle_window_size={speckle_window_size} must be >= 0 (px, 0 = off)")
    _check(speckle_range >= 0, f"speckle_range={speckle_range} must be >= 0 (px)")


@dataclass(frozen=True)
class SgbmParams:
    """StereoSGBM settings (``stereo_image_proc`` names, snake_case).

    Attributes:
        min_disparity: smallest disparity searched, px (negative for verged rigs).
        num_disparities: search range, px; a positive multiple of 16.
        block_size: matching window side, px; odd, 1..255 (3..11 is usual).
        p1: smoothness penalty for disparity changes of 1 px; ``None`` =
            8 * channels * block_size**2.
        p2: penalty for larger changes, > p1; ``None`` = 32 * channels * block_size**2.
        disp12_max_diff: OpenCV's own left-right tolerance, px; < 0 = off
            (the package's check lives in ``core.consistency``).
        pre_filter_cap: clip of the x-derivative prefilter, 1..63.
        uniqueness_ratio: % by which the best cost must beat the second best, 0..100.
        speckle_window_size: largest speckle region removed, px; 0 = off.
        speckle_range: largest disparity step inside a region, px.
        mode: ``"sgbm"``, ``"hh"``, ``"3way"`` or ``"hh4"``.
        use_color: match on RGB (3 channels) instead of grey.
        pad_left_border: pad the left border so it gets estimates (module docstring).
    """

    min_disparity: int = 0
    num_disparities: int = 128
    block_size: int = 5
    p1: int | None = None
    p2: int | None = None
    disp12_max_diff: int = -1
    pre_filter_cap: int = 31
    uniqueness_ratio: int = 10
    speckle_window_size: int = 100
    speckle_range: int = 2
    mode: SgbmMode = "3way"
    use_color: bool = False
    pad_left_border: bool = True

    def __post_init__(self) -> None:
        _check_common(self.min_disparity, self.num_disparities, self.uniqueness_ratio,
                      self.speckle_window_size, self.speckle_range)
        _check(1 <= self.block_size <= 255 and self.block_size % 2 == 1,
               f"block_size={self.block_size} must be odd, 1..255 (px)")
        _check(self.mode in _SGBM_MODES, f"mode={self.mode!r} must be one of {list(_SGBM_MODES)}")
        _check(1 <= self.pre_filter_cap <= 63, f"pre_filter_cap={self.pre_filter_cap} must be 1..63")
        _check(self.p1 is None or self.p1 > 0, f"p1={self.p1} must be > 0")
        p1, p2 = self.penalties(3 if self.use_color else 1)
        _check(p2 > p1, f"p2={p2} must be greater than p1={p1}")

    @classmethod
    def stereo_image_proc(cls, num_disparities: int) -> SgbmParams:
        """StereoSGBM as ``stereo_image_proc``'s disparity node configures it by default, with this
        search range, px (a positive multiple of 16): block 15, P1 200, P2 400, disp12MaxDiff 0,
        uniqueness 15 %, speckle window 100 px / range 4, full SGBM on grey images, no border padding."""
        return cls(num_disparities=num_disparities, block_size=15, p1=200, p2=400, disp12_max_diff=0,
                   pre_filter_cap=31, uniqueness_ratio=15, speckle_window_size=100, speckle_range=4,
                   mode="sgbm", use_color=False, pad_left_border=False)

    def penalties(self, channels: int) -> tuple[int, int]:
        """(P1, P2) for images with ``channels`` channels (defaults 8 / 32 * cn * bs^2)."""
        area = channels * self.block_size ** 2
        return (self.p1 if self.p1 is not None else 8 * area,
                self.p2 if self.p2 is not None else 32 * area)


@dataclass(frozen=True)
class BmParams:
    """StereoBM settings (``stereo_image_proc`` names, snake_case); grey images only.

    Attributes:
        min_disparity: smallest disparity searched, px.
        num_disparities: search range, px; a positive multiple of 16.
        block_size: matching window side, px; odd, 5..255.
        pre_filter_type: ``"xsobel"`` or ``"normalized_response"``.
        pre_filter_size: normalised-response window, px; odd, 5..255.
        pre_filter_cap: prefilter clip, 1..63.
        texture_threshold: minimum window texture for a match, >= 0.
        uniqueness_ratio: % by which the best cost must beat the second best, 0..100.
        speckle_window_size: largest speckle region removed, px; 0 = off.
        speckle_range: largest disparity step inside a region, px.
        disp12_max_diff: OpenCV's own left-right tolerance, px; < 0 = off.
        pad_left_border: pad the left border so it gets estimates (module docstring).
    """

    min_disparity: int = 0
    num_disparities: int = 128
    block_size: int = 15
    pre_filter_type: Literal["xsobel", "normalized_response"] = "xsobel"
    pre_filter_size: int = 9
    pre_filter_cap: int = 31
    texture_threshold: int = 10
    uniqueness_ratio: int = 15
    speckle_window_size: int = 100
    speckle_range: int = 4
    disp12_max_diff: int = -1
    pad_left_border: bool = True

    @classmethod
    def stereo_image_proc(cls, num_disparities: int) -> BmParams:
        """StereoBM as ``stereo_image_proc``'s disparity node configures it by default, with this
        search range, px: block 15, prefilter 9 / cap 31, texture threshold 10, uniqueness 15 %,
        speckle window 100 px / range 4, no border padding."""
        return cls(num_disparities=num_disparities, block_size=15, pre_filter_size=9, pre_filter_cap=31,
                   texture_threshold=10, uniqueness_ratio=15, speckle_window_size=100, speckle_range=4,
                   pad_left_border=False)

    def __post_init__(self) -> None:
        _check_common(self.min_disparity, self.num_disparities, self.uniqueness_ratio,
                      self.speckle_window_size, self.speckle_range)
        _check(5 <= self.block_size <= 255 and self.block_size % 2 == 1,
               f"block_size={self.block_size} must be odd, 5..255 (px)")
        _check(5 <= self.pre_filter_size <= 255 and self.pre_filter_size % 2 == 1,
               f"pre_filter_size={self.pre_filter_size} must be odd, 5..255 (px)")
        _check(self.pre_filter_type in _BM_PREFILTERS,
               f"pre_filter_type={self.pre_filter_type!r} must be one of {list(_BM_PREFILTERS)}")
        _check(1 <= self.pre_filter_cap <= 63, f"pre_filter_cap={self.pre_filter_cap} must be 1..63")
        _check(self.texture_threshold >= 0,
               f"texture_threshold={self.texture_threshold} must be >= 0")


class OpenCvStereoBackend:
    """Shared match/mirror/convert logic of the two OpenCV matchers.

    Attributes:
        max_disparity_px: min_disparity + num_disparities, px (any image size).
        model_hw: None: images are matched at their own size.
        accepts_hints: False: hints are ignored.
    """

    name: str
    max_disparity_px: float
    model_hw: tuple[int, int] | None = None
    accepts_hints: bool = False

    def __init__(self, params: SgbmParams | BmParams, *,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        self.params = params
        self._min_input_hw = min_input_hw
        self.max_disparity_px = float(params.min_disparity + params.num_disparities)

    def max_disparity_px_for(self, input_hw: tuple[int, int]) -> float:
        """The search range's upper end, px; the same for every image size."""
        return self.max_disparity_px

    def _matcher(self, channels: int) -> cv2.StereoMatcher:
        raise NotImplementedError

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        return to_grey(image)

    def _disparity(self, reference: np.ndarray, other: np.ndarray) -> np.ndarray:
        """(H, W) float32 px, NaN invalid, for already prepared images."""
        channels = 1 if reference.ndim == 2 else reference.shape[2]
        pad = 0
        if self.params.pad_left_border:
            pad = self.params.num_disparities + max(self.params.min_disparity, 0)
            reference = cv2.copyMakeBorder(reference, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
            other = cv2.copyMakeBorder(other, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
        fixed_point = self._matcher(channels).compute(reference, other)[:, pad:]
        # OpenCV marks invalid as (min_disparity - 1) * 16; anything below
        # min_disparity * 16 is not a valid estimate either.
        invalid = fixed_point < self.params.min_disparity * 16
        disparity = fixed_point.astype(np.float32) * np.float32(1.0 / 16.0)
        disparity[invalid] = np.nan
        return disparity

    def _validate(self, left: np.ndarray, right: np.ndarray) -> None:
        validate_image_pair(left, right, min_hw=self._min_input_hw)
        width = left.shape[1]
        if width <= self.params.num_disparities:
            raise InputError(
                f"image width {width} px must exceed num_disparities="
                f"{self.params.num_disparities} px")

    @staticmethod
    def _result(disparity: np.ndarray) -> MatchResult:
        return MatchResult(disparity_px=disparity,
                           confidence=np.isfinite(disparity).astype(np.float32))

    def match(self, left: np.ndarray, right: np.ndarray, *,
              hints: SparseHints | None = None) -> MatchResult:
        """Left-view disparity of a rectified pair.

        Args:
            left: (H, W) uint8 grey or (H, W, 3) uint8 RGB, left rectified image.
            right: same shape and dtype, right rectified image.
            hints: ignored (classical matcher).

        Returns:
            disparity (H, W) float32 px, NaN = invalid; confidence (H, W)
            float32, 1 where valid else 0.

        Raises:
            InputError: bad images, or width <= ``num_disparities``.
        """
        self._validate(left, right)
        return self._result(self._disparity(self._prepare(left), self._prepare(right)))

    def match_right(self, left: np.ndarray, right: np.ndarray) -> MatchResult:
        """Right-view disparity (d = x_left - x_right >= 0) via the mirrored, swapped pair."""
        self._validate(left, right)
        mirrored_right = np.ascontiguousarray(self._prepare(right)[:, ::-1])
        mirrored_left = np.ascontiguousarray(self._prepare(left)[:, ::-1])
        disparity = self._disparity(mirrored_right, mirrored_left)[:, ::-1]
        return self._result(np.ascontiguousarray(disparity))

    def match_checked(self, left: np.ndarray, right: np.ndarray, *, hints: SparseHints | None = None,
                      max_diff_px: float) -> CheckedMatch:
        """Left-view disparity after the left-right check against :meth:`match_right`.

        OpenCV's matchers have no right view of their own to hand back, so the
        right view is a second, mirrored match (about twice the time of :meth:`match`).

        Args:
            left, right: as for :meth:`match`; hints: ignored.
            max_diff_px: largest |d_left - d_right| kept, px, > 0.
        """
        left_result = self.match(left, right)
        check = left_right_check(left_result.disparity_px, self.match_right(left, right).disparity_px,
                                 max_diff_px=max_diff_px, confidence=left_result.confidence)
        rejected = float((np.isfinite(left_result.disparity_px) & ~check.keep_mask).mean())
        return CheckedMatch(result=MatchResult(disparity_px=check.disparity_px, confidence=check.confidence),
                            rejected_fraction=rejected)

    def describe(self) -> dict[str, str]:
        """Facts for diagnostics: backend, OpenCV version and every parameter."""
        facts = {"backend": self.name, "provider": "opencv-cpu", "opencv": cv2.__version__,
                 "max_disparity_px": f"{self.max_disparity_px:g}"}
        facts.update({key: str(value) for key, value in asdict(self.params).items()})
        return facts


class SgbmBackend(OpenCvStereoBackend):
    """OpenCV StereoSGBM (implements ``StereoBackend``); ``name`` is ``"sgbm"``."""

    name = "sgbm"
    params: SgbmParams

    def __init__(self, params: SgbmParams | None = None, *,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        """Args: params: matcher settings (default :class:`SgbmParams`); min_input_hw: (H, W) px."""
        super().__init__(params if params is not None else SgbmParams(),
                         min_input_hw=min_input_hw)
        self._matchers: dict[int, cv2.StereoMatcher] = {}

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        if self.params.use_color and image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return image if self.params.use_color else to_grey(image)

    def _matcher(self, channels: int) -> cv2.StereoMatcher:
        if channels not in self._matchers:
            params = self.params
            p1, p2 = params.penalties(channels)
            self._matchers[channels] = cv2.StereoSGBM_create(
                minDisparity=params.min_disparity, numDisparities=params.num_disparities,
                blockSize=params.block_size, P1=p1, P2=p2,
                disp12MaxDiff=params.disp12_max_diff, preFilterCap=params.pre_filter_cap,
                uniquenessRatio=params.uniqueness_ratio,
                speckleWindowSize=params.speckle_window_size,
                speckleRange=params.speckle_range, mode=_SGBM_MODES[params.mode])
        return self._matchers[channels]


class BmBackend(OpenCvStereoBackend):
    """OpenCV StereoBM block matcher on grey images; ``name`` is ``"bm"``."""

    name = "bm"
    params: BmParams

    def __init__(self, params: BmParams | None = None, *,
                 min_input_hw: tuple[int, int] = MIN_INPUT_HW) -> None:
        """Args: params: matcher settings (default :class:`BmParams`); min_input_hw: (H, W) px."""
        super().__init__(params if params is not None else BmParams(),
                         min_input_hw=min_input_hw)
        params = self.params
        matcher = cv2.StereoBM_create(numDisparities=params.num_disparities,
                                      blockSize=params.block_size)
        matcher.setMinDisparity(params.min_disparity)
        matcher.setPreFilterType(_BM_PREFILTERS[params.pre_filter_type])
        matcher.setPreFilterSize(params.pre_filter_size)
        matcher.setPreFilterCap(params.pre_filter_cap)
        matcher.setTextureThreshold(params.texture_threshold)
        matcher.setUniquenessRatio(params.uniqueness_ratio)
        matcher.setSpeckleWindowSize(params.speckle_window_size)
        matcher.setSpeckleRange(params.speckle_range)
        matcher.setDisp12MaxDiff(params.disp12_max_diff)
        self._bm = matcher

    def _matcher(self, channels: int) -> cv2.StereoMatcher:
        return self._bm
