"""Training samples: cached synthetic scenes, camera effects, augmentation and simulated hints.

Scenes are rendered once by :mod:`stereo_depth_ros.core.synthetic` (by
default the robot-like mix of scene kinds, ``ROBOT_SCENE_MIX``) and cached on
disk with their classical hints; every training sample is a random crop of a
cached scene seen through two simulated cameras of the crop's size
(``core.synthetic.apply_camera_effects``: exposure and white balance per
camera, vignetting, blur, sensor noise and, for some pairs, a raw distorted
rig rectified as the node does), with geometric augmentation. Sample ``i`` depends only on ``(seed, i)``,
so training is reproducible and resumable at any step whatever the number of
data-loader workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from stereo_depth_ros.core.paths import cache_root
from stereo_depth_ros.core.synthetic import (
    ROBOT_SCENE_MIX,
    CameraEffectsConfig,
    SceneConfig,
    apply_camera_effects,
    scene_for_index,
)
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints


@dataclass(frozen=True)
class AugmentConfig:
    """Sample size and augmentation ranges (stored in checkpoints).

    ``camera``: the camera effects every crop goes through (the crop is the cameras' image).
    """

    crop_height: int = 256
    crop_width: int = 512
    scale_range: tuple[float, float] = (0.8, 1.2)
    no_hint_probability: float = 0.4
    classical_hint_probability: float = 0.3     # else hints sampled from ground truth
    max_hint_density: float = 0.05
    hint_noise_px: float = 0.5
    max_outlier_fraction: float = 0.1
    camera: CameraEffectsConfig = field(default_factory=CameraEffectsConfig)


@dataclass(frozen=True)
class DataConfig:
    """Where samples come from (``scene`` defaults to the robot-like mix of kinds at 640x352)."""

    seed: int = 1
    num_scenes: int = 4000
    scene: SceneConfig = field(default_factory=lambda: SceneConfig(kind_mix=ROBOT_SCENE_MIX))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    hints: ClassicalHintConfig = field(default_factory=ClassicalHintConfig)


def default_cache_dir() -> Path:
    """The scene cache: ``core.paths.cache_root()`` (``$STEREO_DEPTH_CACHE``, else the XDG cache)."""
    return cache_root()


#: Version of the cached scene recipe and file layout: bump it whenever either changes (it is in the cache key).
CACHE_VERSION = 2


class SceneCache:
    """Renders scenes on first use and keeps them as .npz files (atomic writes).

    The directory is keyed by (seed, scene config, hint config, ``CACHE_VERSION``).
    """

    def __init__(self, root: Path, *, seed: int, scene: SceneConfig, hints: ClassicalHintConfig) -> None:
        key = json.dumps({"seed": seed, "scene": asdict(scene), "hints": asdict(hints), "v": CACHE_VERSION},
                         sort_keys=True)
        self.directory = Path(root) / "synthetic" / hashlib.sha256(key.encode()).hexdigest()[:12]
        self.directory.mkdir(parents=True, exist_ok=True)
        self.seed, self.scene, self.hints = seed, scene, hints

    def path(self, index: int) -> Path:
        """Where scene ``index`` is (or will be) kept."""
        return self.directory / f"{index:06d}.npz"

    def render(self, index: int) -> Path:
        """The file of scene ``index``, rendered with its classical hints first if it is not there yet."""
        path = self.path(index)
        if not path.exists():
            scene = scene_for_index(index, seed=self.seed, config=self.scene)
            hints = classical_hints(scene.left, scene.right, self.hints).astype(np.float16)
            temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(temporary, left=scene.left, right=scene.right, disparity=scene.disparity_px,
                     occluded=scene.occluded, disparity_right=scene.disparity_right_px, specular=scene.specular,
                     kind=np.array(scene.kind), classical_hints=hints)
            temporary.replace(path)
        return path

    def load(self, index: int) -> dict[str, np.ndarray]:
        """Scene ``index``: left, right (H, W, 3) uint8; disparity (H, W) float32 px; occluded (H, W) bool;
        disparity_right (H, W) float32 px, NaN = not visible in the left view; specular (H, W) bool;
        kind () str; classical_hints (H, W) float16 px, NaN = none."""
        with np.load(self.render(index)) as data:
            return {key: data[key] for key in data.files}


def _render_every(config: DataConfig, root: Path, first: int, stride: int) -> int:
    """Render scenes ``first, first + stride, ...`` of ``config`` missing from the cache; how many were missing."""
    cache = SceneCache(root, seed=config.seed, scene=config.scene, hints=config.hints)
    missing = [index for index in range(first, config.num_scenes, stride) if not cache.path(index).exists()]
    for index in missing:
        cache.render(index)
    return len(missing)


def render_scenes(config: DataConfig, *, processes: int = 1, cache_root: Path | None = None) -> int:
    """Render every scene of ``config`` that the cache lacks, ``processes`` at a time; how many were rendered.

    The loader renders a missing scene itself, but then the training step waits for it (about
    0.6 s of one core per scene of the default mix against 0.07 s for a sample from the cache),
    so a run on a fresh machine is about 2x slower per step until the cache fills. Worker
    processes are spawned (not forked), so a parent that has started torch's threads is safe.
    """
    root = cache_root or default_cache_dir()
    if processes <= 1:
        return _render_every(config, root, 0, 1)
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        return sum(pool.starmap(_render_every, [(config, root, first, processes) for first in range(processes)]))


def _sample_hints(disparity: np.ndarray, classical: np.ndarray, rng: np.random.Generator,
                  config: AugmentConfig, max_disparity: float) -> np.ndarray:
    """Hints for one sample, (H, W) float32 px, NaN = none."""
    hints = np.full(disparity.shape, np.nan, np.float32)
    mode = rng.random()
    if mode < config.no_hint_probability:
        return hints
    if mode < config.no_hint_probability + config.classical_hint_probability:
        keep = np.isfinite(classical) & (rng.random(disparity.shape) < rng.uniform(0.05, 1.0))
        hints[keep] = classical[keep]
        return hints
    valid = np.isfinite(disparity)
    keep = valid & (rng.random(disparity.shape) < rng.uniform(0.001, config.max_hint_density))
    values = disparity[keep] + rng.normal(0.0, config.hint_noise_px, int(keep.sum()))
    outliers = rng.random(values.size) < rng.uniform(0.0, config.max_outlier_fraction)
    values[outliers] = rng.uniform(0.0, max_disparity, int(outliers.sum()))
    hints[keep] = np.clip(values, 0.0, max_disparity)
    return hints


def make_sample(scene: dict[str, np.ndarray], rng: np.random.Generator, config: AugmentConfig,
                max_disparity: float) -> dict[str, np.ndarray]:
    """One augmented crop of a cached scene (``SceneCache.load``).

    Returns:
        left/right (3, h, w) float32 [0, 1]; disparity (1, h, w) left-view px (NaN = no ground truth);
        disparity_right (1, h, w) right-view px (NaN = none: not visible in the left view, or covered by
        the simulated right-only occluder); hint_disparity (1, h, w) px (0 = none); hint_mask (1, h, w).
    """
    # a generator of their own (one draw here), so the effects drawn do not shift the geometric draws
    camera_rng = np.random.default_rng(int(rng.integers(2 ** 63)))
    left, right = scene["left"], scene["right"]
    disparity = scene["disparity"].astype(np.float32)
    disparity_right = scene["disparity_right"].astype(np.float32)
    classical = scene["classical_hints"].astype(np.float32)
    height, width = disparity.shape
    scale = rng.uniform(*config.scale_range)
    scale = max(scale, config.crop_width / width, config.crop_height / height)
    if abs(scale - 1.0) > 1e-3:
        size = (int(round(width * scale)), int(round(height * scale)))
        x_scale = size[0] / width
        left = cv2.resize(left, size, interpolation=cv2.INTER_LINEAR)
        right = cv2.resize(right, size, interpolation=cv2.INTER_LINEAR)
        disparity, disparity_right, classical = (cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) * x_scale
                                                 for m in (disparity, disparity_right, classical))
        height, width = disparity.shape
    top = int(rng.integers(0, height - config.crop_height + 1))
    start = int(rng.integers(0, width - config.crop_width + 1))
    window = np.s_[top:top + config.crop_height, start:start + config.crop_width]
    left, right, disparity, disparity_right, classical = (
        left[window], right[window], disparity[window], disparity_right[window], classical[window])
    # the crop is what the two cameras (and, sometimes, a raw rig of the crop's size) see
    left, right = apply_camera_effects(np.ascontiguousarray(left), np.ascontiguousarray(right), camera_rng,
                                       config.camera)
    left, right = left.astype(np.float32) / 255.0, right.astype(np.float32) / 255.0
    if rng.random() < 0.3:  # imperfect rectification: sub-pixel vertical shift of the right view
        shift = np.float32([[1, 0, 0], [0, 1, rng.uniform(-1.0, 1.0)]])
        right = cv2.warpAffine(right, shift, right.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.3:  # an occluder only the right camera sees
        h = int(rng.integers(min(15, right.shape[0] // 4), min(70, right.shape[0] // 2)))  # fits small crops
        w = int(rng.integers(min(15, right.shape[1] // 4), min(90, right.shape[1] // 2)))
        y, x = int(rng.integers(0, right.shape[0] - h)), int(rng.integers(0, right.shape[1] - w))
        right, disparity_right = right.copy(), disparity_right.copy()
        right[y:y + h, x:x + w] = right.reshape(-1, 3).mean(axis=0)
        disparity_right[y:y + h, x:x + w] = np.nan
    if rng.random() < 0.5:  # an upside-down rig is still a rectified rig
        left, right, disparity, disparity_right, classical = (
            left[::-1], right[::-1], disparity[::-1], disparity_right[::-1], classical[::-1])
    with np.errstate(invalid="ignore"):
        disparity = np.where((disparity > 0) & (disparity < max_disparity), disparity, np.nan)
        disparity_right = np.where((disparity_right > 0) & (disparity_right < max_disparity), disparity_right,
                                   np.nan)
    hints = _sample_hints(disparity, classical, rng, config, max_disparity)
    hint_mask = np.isfinite(hints)
    return {"left": np.ascontiguousarray(left.transpose(2, 0, 1)),
            "right": np.ascontiguousarray(right.transpose(2, 0, 1)),
            "disparity": np.ascontiguousarray(disparity[None]),
            "disparity_right": np.ascontiguousarray(disparity_right[None], dtype=np.float32),
            "hint_disparity": np.where(hint_mask, hints, 0.0).astype(np.float32)[None],
            "hint_mask": hint_mask.astype(np.float32)[None]}


class SyntheticStereoDataset:
    """Map-style dataset: item ``i`` is the i-th training sample of the stream."""

    def __init__(self, config: DataConfig, max_disparity: float, cache_root: Path | None = None) -> None:
        self.config = config
        self.max_disparity = max_disparity
        self.cache = SceneCache(cache_root or default_cache_dir(), seed=config.seed,
                                scene=config.scene, hints=config.hints)

    def __len__(self) -> int:
        return 2 ** 31 - 1

    def __getitem__(self, sample_index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.config.seed, 7, sample_index])
        scene = self.cache.load(int(rng.integers(self.config.num_scenes)))
        return make_sample(scene, rng, self.config.augment, self.max_disparity)
