"""What a synthetic scene is made of (SceneConfig) and what rendering returns (StereoScene)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from stereo_depth_ros.core.synthetic.errors import SceneConfigError

#: Scene kinds, each a recipe of :mod:`stereo_depth_ros.core.synthetic`:
#: "layered" (slanted planar layers, the original generator), "ground" (a floor receding to a far
#: backdrop), "corridor" (floor, ceiling, converging side walls, doors, ceiling lights), "poles_wires"
#: (poles, railings and wires 1-3 px wide over a ground), "curved" (cylinders, spheres, tunnels:
#: disparity that is not affine), "glossy" (low-texture and glossy surfaces with view-dependent
#: highlights), "cluttered" (a corridor with boxes, poles, balls and cables).
SCENE_KINDS: Final = ("layered", "ground", "corridor", "poles_wires", "curved", "glossy", "cluttered")

#: The original recipe alone: ``SceneConfig()`` renders exactly what it rendered before the new kinds.
LAYERED_ONLY: Final = (("layered", 1.0),)

#: A mix closer to what a robot sees (training default of ``training.dataset.DataConfig``).
ROBOT_SCENE_MIX: Final = (("layered", 0.3), ("ground", 0.1), ("corridor", 0.15), ("poles_wires", 0.15),
                          ("curved", 0.1), ("glossy", 0.1), ("cluttered", 0.1))


@dataclass(frozen=True)
class SceneConfig:
    """Size and content of generated scenes.

    Attributes:
        height, width: image size in pixels.
        max_disparity_px: largest disparity any surface may reach, pixels.
        min_layers, max_layers: number of foreground layers of a "layered" scene (the background is extra).
        thin_structure_probability: chance that a foreground layer is a thin bar ("layered").
        textureless_probability: chance that a layer or surface is a flat colour.
        kind_mix: ``(kind, weight)`` pairs, kinds from ``SCENE_KINDS``, weights >= 0 (normalised);
            each scene's kind is drawn from it. With a single kind no draw is made, so the default
            (layered only) reproduces the original generator bit for bit.

    Raises:
        SceneConfigError: a size or disparity is not positive, or ``kind_mix`` names an unknown kind,
            has a negative weight or no positive one.
    """

    height: int = 352
    width: int = 640
    max_disparity_px: float = 160.0
    min_layers: int = 6
    max_layers: int = 16
    thin_structure_probability: float = 0.15
    textureless_probability: float = 0.1
    kind_mix: tuple[tuple[str, float], ...] = LAYERED_ONLY

    def __post_init__(self) -> None:
        if self.height < 16 or self.width < 16:
            raise SceneConfigError(f"height and width must be >= 16 px, got {self.width}x{self.height}")
        if not self.max_disparity_px >= 2.0:
            raise SceneConfigError(f"max_disparity_px must be >= 2 px, got {self.max_disparity_px}")
        mix = tuple((str(kind), float(weight)) for kind, weight in self.kind_mix)
        object.__setattr__(self, "kind_mix", mix)
        for kind, weight in mix:
            if kind not in SCENE_KINDS:
                raise SceneConfigError(f"kind_mix: unknown kind {kind!r}; choose from {SCENE_KINDS}")
            if not weight >= 0.0:
                raise SceneConfigError(f"kind_mix: weight of {kind!r} must be >= 0, got {weight}")
        if not any(weight > 0.0 for _, weight in mix):
            raise SceneConfigError(f"kind_mix needs a positive weight, got {mix}")


@dataclass(frozen=True)
class StereoScene:
    """One rendered rectified stereo pair with ground truth.

    Attributes:
        left, right: (H, W, 3) uint8 RGB.
        disparity_px: (H, W) float32 left-view disparity, pixels (d = x_left - x_right);
            every pixel is valid, >= 0.5.
        occluded: (H, W) bool, True where the left pixel is not visible in the right
            view (hidden by a nearer surface or outside the right image).
        disparity_right_px: (H, W) float32 right-view disparity, pixels: at right pixel x_r,
            x_left - x_r of the surface point it shows; NaN where that point is not visible
            in the left view (hidden, or outside the left image).
        specular: (H, W) bool, True where the left pixel carries a view-dependent highlight
            (its colour differs between the two views by more than about 1 %).
        kind: the recipe, one of ``SCENE_KINDS``.
    """

    left: np.ndarray
    right: np.ndarray
    disparity_px: np.ndarray
    occluded: np.ndarray
    disparity_right_px: np.ndarray
    specular: np.ndarray
    kind: str
