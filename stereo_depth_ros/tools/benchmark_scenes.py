"""Inputs of ``stereo_depth_benchmark``: Middlebury Motorcycle, held-out synthetic scenes,
and raw (distorted, unrectified) pairs of a realistic calibration for the speed runs.

The synthetic scenes are ``core.synthetic.scene_for_index(i,
seed=HELD_OUT_SEED)`` (numpy/OpenCV only, never trained on; the layered kind)
and, per robot-like kind, ``core.synthetic.held_out_scenes(kind)``, seen by
``bag_from_dataset.synthetic_rig`` (fx = 0.8 * width, baseline 0.12 m,
cx_right = cx_left + 2.5 px), so ground-truth depth is
``fx * baseline_m / (d - cx_offset_px)``; Motorcycle's rig is
``bag_from_dataset.MOTORCYCLE`` (imported when used: that module needs the ROS
message packages).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.tools.calibration_io import DEFAULT_FRAME_IDS

__all__ = [
    "BenchmarkScene",
    "RawStereoInput",
    "distorted_rig",
    "ground_truth_depth_m",
    "held_out_kind_scenes",
    "motorcycle_scene",
    "raw_stereo_input",
    "synthetic_scenes",
]

@dataclass(frozen=True)
class BenchmarkScene:
    """One rectified pair with ground truth.

    Attributes:
        name: where it comes from, for reports.
        left, right: (H, W, 3) uint8 RGB, rectified.
        disparity_px: (H, W) float32 ground truth, px, d = x_left - x_right; NaN or inf = unknown.
        rig: the rectified rig (``rectified_input=True``).
    """

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity_px: np.ndarray
    rig: StereoCameraModel


def motorcycle_scene() -> BenchmarkScene:
    """Middlebury 2014 Motorcycle as scikit-image ships it (741x500, inf = unknown ground truth)."""
    import skimage.data

    from stereo_depth_ros.tools.bag_from_dataset import MOTORCYCLE

    left, right, disparity = skimage.data.stereo_motorcycle()
    rig = MOTORCYCLE.rig(left.shape[1], left.shape[0])
    return BenchmarkScene(name="Middlebury 2014 Motorcycle (scikit-image, 741x500)",
                          left=np.ascontiguousarray(left), right=np.ascontiguousarray(right),
                          disparity_px=np.asarray(disparity, dtype=np.float32), rig=rig)


def synthetic_scenes(count: int, *, height: int, width: int, max_disparity_px: float,
                     seed: int | None = None) -> list[BenchmarkScene]:
    """``count`` held-out synthetic scenes (every pixel has ground truth, occluded ones included).

    Args:
        count: number of scenes, >= 1.
        height, width: image size, px.
        max_disparity_px: largest disparity in a scene, px.
        seed: scene stream; None = ``core.synthetic.HELD_OUT_SEED`` (never trained on).
    """
    from stereo_depth_ros.core.synthetic import (
        HELD_OUT_SEED,
        SceneConfig,
        scene_for_index,
    )
    from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig

    stream = HELD_OUT_SEED if seed is None else seed
    config = SceneConfig(height=height, width=width, max_disparity_px=max_disparity_px)
    rig = synthetic_rig(width, height)
    scenes = []
    for index in range(count):
        scene = scene_for_index(index, seed=stream, config=config)
        scenes.append(BenchmarkScene(name=f"synthetic {index} (seed {stream})", left=scene.left, right=scene.right,
                                     disparity_px=scene.disparity_px, rig=rig))
    return scenes


def held_out_kind_scenes(kind: str, count: int, *, height: int, width: int,
                         max_disparity_px: float) -> list[BenchmarkScene]:
    """The first ``count`` held-out scenes of one robot-like kind (``core.synthetic.HELD_OUT_KINDS``).

    Raises:
        SceneConfigError: unknown ``kind`` or ``count`` < 1.
    """
    from stereo_depth_ros.core.synthetic import HELD_OUT_SEED, SceneConfig, held_out_scenes
    from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig

    config = SceneConfig(height=height, width=width, max_disparity_px=max_disparity_px)
    rig = synthetic_rig(width, height)
    return [BenchmarkScene(name=f"{kind} {index} (seed {HELD_OUT_SEED})", left=scene.left, right=scene.right,
                           disparity_px=scene.disparity_px, rig=rig)
            for index, scene in enumerate(held_out_scenes(kind, count=count, config=config))]


def ground_truth_depth_m(disparity_px: np.ndarray, rig: StereoCameraModel) -> np.ndarray:
    """True depth of ground-truth disparities, metres: fx * baseline_m / (d - cx_offset_px); NaN where d is
    unknown or at/beyond infinity (computed in float64, unlike the pipeline's float32)."""
    shifted = np.asarray(disparity_px, dtype=np.float64) - rig.cx_offset_px
    depth = np.full(shifted.shape, np.nan)
    np.divide(rig.fx * rig.baseline_m, shifted, out=depth, where=np.isfinite(shifted) & (shifted > 0))
    return depth


def distorted_rig(width: int, height: int) -> StereoCameraModel:
    """A realistic raw rig to rectify: plumb_bob distortion, slightly rotated cameras, 0.12 m baseline.

    Asymmetric on purpose (fx != fy, cx != cy, different intrinsics per camera);
    R and P come from ``cv2.stereoRectify`` (alpha 0: only valid pixels), so
    rectification costs what it costs on a real camera. Scaled with the width.
    """
    scale = width / 640.0
    k_left = np.array([[520.0 * scale, 0.0, 0.5 * width + 6.0 * scale],
                       [0.0, 516.0 * scale, 0.5 * height - 4.0 * scale], [0.0, 0.0, 1.0]])
    k_right = np.array([[523.0 * scale, 0.0, 0.5 * width - 5.0 * scale],
                        [0.0, 519.5 * scale, 0.5 * height + 3.0 * scale], [0.0, 0.0, 1.0]])
    d_left = np.array([-0.28, 0.085, 0.0007, -0.0004, -0.011])
    d_right = np.array([-0.275, 0.081, -0.0005, 0.0006, -0.010])
    rotation = cv2.Rodrigues(np.array([0.004, -0.009, 0.002]))[0]
    translation = np.array([[-0.12], [0.0015], [-0.001]])  # right camera frame from left: x_r = R x_l + t
    r_left, r_right, p_left, p_right, *_ = cv2.stereoRectify(
        k_left, d_left, k_right, d_right, (width, height), rotation, translation,
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=0.0)
    left = CameraCalibration(width, height, k_left, d_left, r_left, p_left, frame_id=DEFAULT_FRAME_IDS[0])
    right = CameraCalibration(width, height, k_right, d_right, r_right, p_right, frame_id=DEFAULT_FRAME_IDS[1])
    return StereoCameraModel.from_calibrations(left, right)


@dataclass(frozen=True)
class RawStereoInput:
    """Raw images of a rectified scene as the distorted rig would capture them.

    Attributes:
        rig: the raw rig (``rectified_input=False``).
        left, right: (H, W, 3) uint8 RGB raw (distorted, unrectified) images.
    """

    rig: StereoCameraModel
    left: np.ndarray
    right: np.ndarray


def raw_stereo_input(left_rect: np.ndarray, right_rect: np.ndarray) -> RawStereoInput:
    """Raw pair of :func:`distorted_rig` (at the images' size) that rectifies back to the given pair.

    Args:
        left_rect, right_rect: (H, W, 3) uint8 RGB rectified images.
    """
    from stereo_depth_ros.core.synthetic import raw_view

    height, width = left_rect.shape[:2]
    rig = distorted_rig(width, height)
    return RawStereoInput(rig=rig, left=raw_view(left_rect, rig.left), right=raw_view(right_rect, rig.right))
