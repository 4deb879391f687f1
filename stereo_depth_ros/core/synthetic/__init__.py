"""Procedural rectified stereo scenes with exact ground truth (numpy + OpenCV, no torch).

A scene is rendered for a rectified rig (d = x_left - x_right, px) and returns
both views, the left disparity (every pixel valid), the left occlusion mask,
the right-view disparity (NaN where the right pixel is not visible in the left
view) and the mask of view-dependent highlights. Kinds (``SCENE_KINDS``):

* ``layered`` (:mod:`.layered`): textured slanted planar layers composited with
  a z-buffer, the original generator, bit-identical for ``SceneConfig()``;
* ``ground``, ``corridor``, ``poles_wires``, ``curved``, ``glossy``,
  ``cluttered`` (:mod:`.recipes`): robot-like scenes ray-cast per pixel from
  analytic surfaces (:mod:`.raycast`): floors receding to the horizon, walls,
  poles, railings, wires 1-3 px wide, cylinders and spheres, glossy surfaces
  whose highlights move differently from the surface between the views.

Camera effects (exposure and white balance per camera, vignetting, optical and
motion blur, shot and read noise, and a round trip through a raw distorted rig
rectified as the node does) are in :mod:`.camera`; training applies them per
sample. Scene ``index`` of a stream depends only on ``(seed, index, config)``.
``python -m stereo_depth_ros.core.synthetic --preview DIR`` writes PNGs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np

from stereo_depth_ros.core.synthetic.camera import (
    CameraEffectsConfig,
    apply_camera_effects,
    random_raw_rig,
    raw_view,
)
from stereo_depth_ros.core.synthetic.config import (
    LAYERED_ONLY,
    ROBOT_SCENE_MIX,
    SCENE_KINDS,
    SceneConfig,
    StereoScene,
)
from stereo_depth_ros.core.synthetic.errors import SceneConfigError
from stereo_depth_ros.core.synthetic.layered import layered_scene
from stereo_depth_ros.core.synthetic.recipes import RECIPES

__all__ = [
    "HELD_OUT_KINDS",
    "HELD_OUT_SCENES_PER_KIND",
    "HELD_OUT_SEED",
    "LAYERED_ONLY",
    "ROBOT_SCENE_MIX",
    "SCENE_KINDS",
    "CameraEffectsConfig",
    "SceneConfig",
    "SceneConfigError",
    "StereoScene",
    "apply_camera_effects",
    "generate_scene",
    "held_out_scenes",
    "random_raw_rig",
    "raw_view",
    "scene_for_index",
]

HELD_OUT_SEED: Final = 20261124
"""Seed of the held-out split; training uses other seeds and never this one."""

#: The new kinds in the held-out split (the layered held-out scenes are ``scene_for_index(i, seed=HELD_OUT_SEED)``).
HELD_OUT_KINDS: Final = ("ground", "corridor", "poles_wires", "curved", "glossy", "cluttered")

#: Held-out scenes per new kind (indices 0 .. N-1 of that kind's stream).
HELD_OUT_SCENES_PER_KIND: Final = 4


def generate_scene(rng: np.random.Generator, config: SceneConfig = SceneConfig()) -> StereoScene:
    """Render one random scene of a kind drawn from ``config.kind_mix`` (no draw when it has one kind)."""
    kinds = [kind for kind, weight in config.kind_mix if weight > 0.0]
    if len(kinds) == 1:
        kind = kinds[0]
    else:
        weights = np.array([weight for _, weight in config.kind_mix if weight > 0.0])
        drawn = int(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(), side="right"))
        kind = kinds[min(drawn, len(kinds) - 1)]  # the cumulative sum may end a rounding error below 1
    if kind == "layered":
        return layered_scene(rng, config)
    # a stream of its own per kind, so that scene i of two kinds shares no draws
    return RECIPES[kind](np.random.default_rng([int(rng.integers(2 ** 62)), SCENE_KINDS.index(kind)]), config)


def scene_for_index(index: int, *, seed: int, config: SceneConfig = SceneConfig()) -> StereoScene:
    """The deterministic scene number ``index`` of the stream started by ``seed``."""
    return generate_scene(np.random.default_rng([seed, index]), config)


def held_out_scenes(kind: str, *, count: int = HELD_OUT_SCENES_PER_KIND,
                    config: SceneConfig = SceneConfig()) -> list[StereoScene]:
    """The held-out scenes of one kind: ``scene_for_index(i, seed=HELD_OUT_SEED)`` for i < ``count`` with
    ``config`` (its size and disparity range) restricted to ``kind``.

    ``held_out_scenes("layered", count=6)`` is the original held-out split (``SceneConfig()``).

    Raises:
        SceneConfigError: ``kind`` is not in ``SCENE_KINDS``, or ``count`` < 1.
    """
    if kind not in SCENE_KINDS:
        raise SceneConfigError(f"held_out_scenes: unknown kind {kind!r}; choose from {SCENE_KINDS}")
    if count < 1:
        raise SceneConfigError(f"held_out_scenes: count must be >= 1, got {count}")
    single = replace(config, kind_mix=((kind, 1.0),))
    return [scene_for_index(index, seed=HELD_OUT_SEED, config=single) for index in range(count)]
