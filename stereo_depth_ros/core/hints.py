"""Sparse reliable disparity hints for guided matching (ROS-free).

Hints are an (H, W) float32 disparity map in pixels of the left rectified
image with NaN where there is no hint. The network takes them as
``hint_disparity`` (0 where none) plus ``hint_mask``.

Classical hints are the pixels where OpenCV's semi-global matcher is sure:
they pass its uniqueness test and its own left-right check (``disp12MaxDiff``).
The same function produces the hints used in training and at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ClassicalHintConfig:
    """Settings of the classical matcher that produces hints.

    Attributes:
        max_disparity_px: search range in pixels (rounded up to a multiple of 16).
        block_size: matching window side in pixels (odd).
        uniqueness_ratio: percent margin the best cost must win by.
        lr_max_diff_px: largest left-right disagreement kept, pixels.
    """

    max_disparity_px: int = 192
    block_size: int = 5
    uniqueness_ratio: int = 15
    lr_max_diff_px: int = 1


def classical_hints(left: np.ndarray, right: np.ndarray,
                    config: ClassicalHintConfig = ClassicalHintConfig()) -> np.ndarray:
    """Disparities the semi-global matcher is sure of.

    Args:
        left, right: (H, W) or (H, W, 3) uint8 rectified images (RGB or grey).
        config: matcher settings.
    Returns:
        (H, W) float32 disparity in pixels, NaN where the matcher is not sure.
    """
    if left.shape != right.shape:
        raise ValueError(f"left {left.shape} and right {right.shape} differ")
    grey_left = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY) if left.ndim == 3 else left
    grey_right = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY) if right.ndim == 3 else right
    num_disparities = int(np.ceil(config.max_disparity_px / 16.0)) * 16
    block = config.block_size
    matcher = cv2.StereoSGBM_create(
        minDisparity=0, numDisparities=num_disparities, blockSize=block,
        P1=8 * block * block, P2=32 * block * block, disp12MaxDiff=config.lr_max_diff_px,
        uniquenessRatio=config.uniqueness_ratio, speckleWindowSize=100, speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    fixed_point = matcher.compute(grey_left, grey_right)
    disparity = fixed_point.astype(np.float32) / 16.0
    disparity[fixed_point < 0] = np.nan
    return disparity
