"""Camera effects on a rendered rectified pair: what two real cameras and rectification add.

Per sample and per camera, in this order (the order of a real imaging chain):

1. optionally, the rectified pair becomes the raw pair of a random distorted,
   slightly rotated rig (plumb_bob; ``random_raw_rig``) by sampling it through
   the inverse rectification map (``raw_view``); everything below then happens
   in raw pixels, and the result is rectified with ``StereoCameraModel.rectify``
   exactly as the node does, so its interpolation is in the data;
2. in linear light: vignetting (radial, different per camera), exposure and
   white-balance gains (a common exposure, per-camera gain and per-channel
   white-balance differences), optical blur and, sometimes, motion blur (the
   same in both cameras or different), shot noise (variance proportional to the
   signal) and read noise;
3. a tone curve (gamma, slightly different per camera) and 8-bit quantisation.

Ground truth is untouched: it stays in the rectified frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import cv2
import numpy as np

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.synthetic.errors import SceneConfigError

#: Distinct random raw rigs per image size (a sample draws one; each is built once per process).
RAW_RIGS_PER_SIZE: Final = 16
_RIG_SEED: Final = 90210
_LINEAR: Final = ((np.arange(256, dtype=np.float32) / 255.0) ** 2.2).astype(np.float32)


@dataclass(frozen=True)
class CameraEffectsConfig:
    """Ranges of the camera effects (each sample draws its values from them).

    Attributes:
        exposure_stops: common exposure factor 2**U(-x, x) of both cameras.
        gain_difference: per-camera gain factor U(1 - x, 1 + x).
        white_balance_difference: per-camera, per-channel gain U(1 - x, 1 + x).
        gamma_range: tone-curve exponent range (1 = sRGB-like 1/2.2); the right camera's
            differs from the left's by up to +-5 %.
        vignetting_max: largest darkening at the image corner, fraction; each camera draws U(0, x).
        optical_blur_sigma_px: range of the Gaussian lens blur, px (per camera).
        motion_blur_probability: chance of motion blur in a sample.
        motion_blur_max_px: longest motion-blur streak, px.
        motion_blur_same_probability: chance that both cameras get the same streak (else each its own).
        shot_noise_max: largest shot-noise variance per unit linear signal (U(0, x) per sample).
        read_noise_max: largest read-noise standard deviation, linear units (U(0, x) per sample).
        raw_rig_probability: chance that the pair goes through a raw distorted rig and rectification.

    Raises:
        SceneConfigError: a probability is outside [0, 1] or a range is negative or reversed.
    """

    exposure_stops: float = 0.7
    gain_difference: float = 0.12
    white_balance_difference: float = 0.06
    gamma_range: tuple[float, float] = (0.8, 1.25)
    vignetting_max: float = 0.45
    optical_blur_sigma_px: tuple[float, float] = (0.0, 0.8)
    motion_blur_probability: float = 0.2
    motion_blur_max_px: float = 4.0
    motion_blur_same_probability: float = 0.5
    shot_noise_max: float = 0.004
    read_noise_max: float = 0.006
    raw_rig_probability: float = 0.3

    def __post_init__(self) -> None:
        for name in ("motion_blur_probability", "motion_blur_same_probability", "raw_rig_probability",
                     "vignetting_max"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SceneConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("exposure_stops", "gain_difference", "white_balance_difference", "motion_blur_max_px",
                     "shot_noise_max", "read_noise_max"):
            if not getattr(self, name) >= 0.0:
                raise SceneConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("gamma_range", "optical_blur_sigma_px"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise SceneConfigError(f"{name} must be (low, high) with 0 <= low <= high, got {(low, high)}")
        if self.gain_difference >= 1.0 or self.white_balance_difference >= 1.0:
            raise SceneConfigError("gain_difference and white_balance_difference must be < 1, got "
                                   f"{self.gain_difference} and {self.white_balance_difference}")


def random_raw_rig(rng: np.random.Generator, width: int, height: int) -> StereoCameraModel:
    """A random raw rig: plumb_bob distortion, slightly rotated cameras, baseline 0.05-0.25 m.

    Intrinsics differ per camera (fx != fy, cx != cy); R and P come from
    ``cv2.stereoRectify`` with alpha 0 (every rectified pixel has raw data).
    """
    def intrinsics() -> np.ndarray:
        focal = width * rng.uniform(0.6, 1.0)
        return np.array([[focal, 0.0, width * (0.5 + rng.uniform(-0.03, 0.03))],
                         [0.0, focal * rng.uniform(0.985, 1.015), height * (0.5 + rng.uniform(-0.03, 0.03))],
                         [0.0, 0.0, 1.0]])

    def distortion(k1: float) -> np.ndarray:
        k1 = k1 + rng.uniform(-0.01, 0.01)
        return np.array([k1, -0.3 * k1 * rng.uniform(0.6, 1.4), *rng.uniform(-8e-4, 8e-4, 2),
                         0.04 * k1 * rng.uniform(0.0, 1.0)])

    k_left, k_right = intrinsics(), intrinsics()
    k1 = rng.uniform(-0.3, 0.05)
    d_left, d_right = distortion(k1), distortion(k1)
    rotation = cv2.Rodrigues(rng.uniform(-0.012, 0.012, 3))[0]
    translation = np.array([[-rng.uniform(0.05, 0.25)], [rng.uniform(-0.002, 0.002)], [rng.uniform(-0.002, 0.002)]])
    r_left, r_right, p_left, p_right, *_ = cv2.stereoRectify(
        k_left, d_left, k_right, d_right, (width, height), rotation, translation,
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=0.0)
    return StereoCameraModel.from_calibrations(CameraCalibration(width, height, k_left, d_left, r_left, p_left),
                                               CameraCalibration(width, height, k_right, d_right, r_right, p_right))


def raw_view_map(calibration: CameraCalibration) -> tuple[np.ndarray, np.ndarray]:
    """Per raw pixel, its position in the rectified image: (H, W) float32 x and y maps, px."""
    height, width = calibration.height, calibration.width
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    raw_pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    rectified_pixels = cv2.undistortPoints(raw_pixels, calibration.K, calibration.D, R=calibration.R,
                                           P=calibration.P[:, :3]).reshape(height, width, 2)
    return rectified_pixels[..., 0], rectified_pixels[..., 1]


def raw_view(rectified: np.ndarray, calibration: CameraCalibration,
             maps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The raw image whose rectification (K, D, R, P of ``calibration``) is ``rectified``.

    Args:
        rectified: (H, W[, C]) image of the calibration's size, any dtype cv2.remap takes.
        calibration: one camera of a raw rig.
        maps: ``raw_view_map(calibration)``, if already computed.
    Returns:
        Same shape and dtype; raw pixels that see outside the rectified image repeat its border.
    """
    map_x, map_y = raw_view_map(calibration) if maps is None else maps
    return cv2.remap(rectified, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@lru_cache(maxsize=2 * RAW_RIGS_PER_SIZE)
def _cached_rig(number: int, width: int, height: int) -> tuple[StereoCameraModel, tuple, tuple]:
    rig = random_raw_rig(np.random.default_rng([_RIG_SEED, number, width, height]), width, height)
    return rig, raw_view_map(rig.left), raw_view_map(rig.right)


_TONE_LEVELS: Final = 65536


@lru_cache(maxsize=64)
def _tone_table(gamma_milli: int) -> np.ndarray:
    levels = np.arange(_TONE_LEVELS, dtype=np.float64) / (_TONE_LEVELS - 1)
    return np.clip(np.rint(levels ** (gamma_milli / 1000.0 / 2.2) * 255.0), 0, 255).astype(np.uint8)


def _tone_curve(gamma: float) -> np.ndarray:
    """Lookup table from ``_tone_index`` to uint8: linear ** (gamma / 2.2) (gamma rounded to 1e-3)."""
    return _tone_table(int(round(gamma * 1000.0)))


def _tone_index(linear: np.ndarray) -> np.ndarray:
    """Linear values (clipped to [0, 1]) as indices into a tone table."""
    return (np.clip(linear, 0.0, 1.0) * np.float32(_TONE_LEVELS - 1) + np.float32(0.5)).astype(np.uint16)


def _motion_kernel(length_px: float, angle: float) -> np.ndarray:
    size = int(np.ceil(length_px)) | 1
    kernel = np.zeros((size, size), np.float32)
    centre = (size - 1) / 2.0
    offset = 0.5 * length_px * np.array([np.cos(angle), np.sin(angle)])
    start, end = centre - offset, centre + offset
    for fraction in np.linspace(0.0, 1.0, 4 * size):
        x, y = start + fraction * (end - start)
        kernel[int(round(y)), int(round(x))] += 1.0
    return kernel / kernel.sum()


def apply_camera_effects(left: np.ndarray, right: np.ndarray, rng: np.random.Generator,
                         config: CameraEffectsConfig = CameraEffectsConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The pair as two real cameras (and, sometimes, the node's rectification) would deliver it.

    Args:
        left, right: (H, W, 3) uint8 RGB rectified renders.
        rng: the sample's generator (every effect is drawn from it).
        config: effect ranges.
    Returns:
        (left, right) (H, W, 3) uint8 RGB, rectified; the ground truth of the input still applies.
    """
    height, width = left.shape[:2]
    rig = None
    if rng.random() < config.raw_rig_probability:
        rig, left_map, right_map = _cached_rig(int(rng.integers(RAW_RIGS_PER_SIZE)), width, height)
        left, right = raw_view(left, rig.left, left_map), raw_view(right, rig.right, right_map)
    exposure = 2.0 ** rng.uniform(-config.exposure_stops, config.exposure_stops)
    gamma = rng.uniform(*config.gamma_range)
    shot, read = rng.uniform(0.0, config.shot_noise_max), rng.uniform(0.0, config.read_noise_max)
    motion = None
    if rng.random() < config.motion_blur_probability:
        same = rng.random() < config.motion_blur_same_probability
        first = _motion_kernel(rng.uniform(1.0, max(config.motion_blur_max_px, 1.0)), rng.uniform(0, np.pi))
        motion = (first, first if same else _motion_kernel(rng.uniform(1.0, max(config.motion_blur_max_px, 1.0)),
                                                           rng.uniform(0, np.pi)))
    ramp_x, ramp_y = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    corner2 = np.float32(0.25 * (width ** 2 + height ** 2))
    outputs = []
    for view, image in enumerate((left, right)):
        linear = _LINEAR[image]
        centre_x = width * (0.5 + rng.uniform(-0.05, 0.05))
        centre_y = height * (0.5 + rng.uniform(-0.05, 0.05))
        radius2 = ((ramp_x - np.float32(centre_x)) ** 2)[None, :] + ((ramp_y - np.float32(centre_y)) ** 2)[:, None]
        strength = np.float32(rng.uniform(0.0, config.vignetting_max))
        vignette = 1.0 - strength * np.minimum(radius2 / corner2, np.float32(1.5))
        gains = (exposure * rng.uniform(1 - config.gain_difference, 1 + config.gain_difference)
                 * rng.uniform(1 - config.white_balance_difference, 1 + config.white_balance_difference, 3))
        linear *= vignette[..., None] * gains.astype(np.float32)
        sigma = rng.uniform(*config.optical_blur_sigma_px)
        if sigma > 0.3:
            linear = cv2.GaussianBlur(linear, (0, 0), sigma)
        if motion is not None:
            linear = cv2.filter2D(linear, -1, motion[view], borderType=cv2.BORDER_REFLECT)
        np.clip(linear, 0.0, 1.0, out=linear)
        noise = rng.standard_normal(linear.shape, dtype=np.float32)
        if shot > 0.0 or read > 0.0:
            linear += noise * np.sqrt(np.float32(shot) * linear + np.float32(read ** 2))
        camera_gamma = gamma * (1.0 if view == 0 else rng.uniform(0.95, 1.05))
        outputs.append(_tone_curve(camera_gamma)[_tone_index(linear)])
    left, right = outputs
    if rig is not None:
        left, right = rig.rectify(left, right)
    return left, right
