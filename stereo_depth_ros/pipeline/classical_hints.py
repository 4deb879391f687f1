"""Classical hints: the pixels OpenCV's semi-global matcher is sure of (ROS-free).

Hints are an (H, W) float32 disparity map in pixels of the left rectified
image with NaN where there is no hint. The network takes them as
``hint_disparity`` (0 where none) plus ``hint_mask``. Classical hints pass
SGBM's uniqueness test and its own left-right check (``disp12MaxDiff``); the
same function produces the hints used in training and at run time. LiDAR
hints (points projected into the left rectified image) are
``stereo_depth_ros.core.hints.lidar_hints``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from stereo_depth_ros.backends.sgbm_backend import SgbmBackend, SgbmParams


@dataclass(frozen=True)
class ClassicalHintConfig:
    """Settings of the classical matcher that produces hints.

    Attributes:
        max_disparity_px: search range in pixels of the full-size images (rounded up to a multiple of 16
            at the matching scale).
        block_size: matching window side in pixels (odd).
        uniqueness_ratio: percent margin the best cost must win by.
        lr_max_diff_px: largest left-right disagreement kept, pixels of the matching scale.
        scale: the images are matched at this fraction of their size, (0, 1]; each hint then covers
            the full-size pixels of its matched pixel (nearest neighbour), its value scaled back.
    """

    max_disparity_px: int = 192
    block_size: int = 5
    uniqueness_ratio: int = 15
    lr_max_diff_px: int = 1
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")


def classical_hints(left: np.ndarray, right: np.ndarray,
                    config: ClassicalHintConfig = ClassicalHintConfig()) -> np.ndarray:
    """Disparities the semi-global matcher is sure of.

    Args:
        left, right: (H, W) or (H, W, 3) uint8 rectified images (RGB or grey).
        config: matcher settings.
    Returns:
        (H, W) float32 disparity in pixels, NaN where the matcher is not sure.
    """
    height, width = left.shape[:2]
    size = (max(1, round(width * config.scale)), max(1, round(height * config.scale)))
    if config.scale < 1.0:
        left, right = (cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in (left, right))
    x_scale = size[0] / width  # the scale actually applied to disparities (rounded image width)
    params = SgbmParams(num_disparities=int(np.ceil(config.max_disparity_px * x_scale / 16.0)) * 16,
                        block_size=config.block_size, uniqueness_ratio=config.uniqueness_ratio,
                        disp12_max_diff=config.lr_max_diff_px, mode="3way")
    disparity_px = _matcher(params).match(left, right).disparity_px
    if config.scale == 1.0:
        return disparity_px
    full = cv2.resize(disparity_px, (width, height), interpolation=cv2.INTER_NEAREST)  # NaN stays NaN
    return (full / np.float32(x_scale)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _matcher(params: SgbmParams) -> SgbmBackend:
    """One matcher per configuration (and search range), built on first use and kept."""
    return SgbmBackend(params)
