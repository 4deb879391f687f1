"""Preview synthetic scenes as PNGs: ``python -m stereo_depth_ros.core.synthetic --preview DIR``.

Each PNG is one scene, 2 x 2 tiles: left | right on top; below, the left
disparity (colour map, near = warm; occluded pixels darkened, highlights
magenta) | the right-view disparity (black where the right pixel is not
visible in the left view). ``--camera-effects`` shows the pair as training
sees it after the camera effects (exposure, white balance, vignetting, blur,
noise and, sometimes, a raw distorted rig rectified as the node does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from stereo_depth_ros.core.synthetic import (
    HELD_OUT_SEED,
    SCENE_KINDS,
    SceneConfig,
    StereoScene,
    apply_camera_effects,
    scene_for_index,
)


def _colour_disparity(disparity_px: np.ndarray, max_disparity_px: float) -> np.ndarray:
    """(H, W, 3) uint8 BGR colour map of a disparity map (NaN = black)."""
    scaled = np.nan_to_num(disparity_px / max_disparity_px * 255.0, nan=0.0)
    coloured = cv2.applyColorMap(np.clip(scaled, 0, 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    coloured[~np.isfinite(disparity_px)] = 0
    return coloured


def preview_image(scene: StereoScene, max_disparity_px: float, left: np.ndarray | None = None,
                  right: np.ndarray | None = None) -> np.ndarray:
    """The 2 x 2 preview of a scene, (2H, 2W, 3) uint8 BGR (``left``/``right`` replace its images)."""
    left = scene.left if left is None else left
    right = scene.right if right is None else right
    disparity = _colour_disparity(scene.disparity_px, max_disparity_px)
    disparity[scene.occluded] = disparity[scene.occluded] // 3
    disparity[scene.specular] = (255, 0, 255)
    top = np.hstack([cv2.cvtColor(left, cv2.COLOR_RGB2BGR), cv2.cvtColor(right, cv2.COLOR_RGB2BGR)])
    bottom = np.hstack([disparity, _colour_disparity(scene.disparity_right_px, max_disparity_px)])
    return np.vstack([top, bottom])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stereo_depth_ros.core.synthetic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--preview", type=Path, required=True, metavar="DIR", help="where the PNGs go")
    parser.add_argument("--kinds", default=",".join(SCENE_KINDS), help=f"comma-separated subset of {SCENE_KINDS}")
    parser.add_argument("--count", type=int, default=3, help="scenes per kind")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="scene stream (default: the held-out one)")
    parser.add_argument("--size", default="640x352", help="WxH, px")
    parser.add_argument("--max-disparity-px", type=float, default=160.0)
    parser.add_argument("--camera-effects", action="store_true", help="show the pair after the camera effects")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(SCENE_KINDS))
    if unknown or args.count < 1:
        parser.error(f"--kinds: unknown {unknown}; choose from {SCENE_KINDS}" if unknown else "--count must be >= 1")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, got {args.size!r}")
    args.preview.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        config = SceneConfig(height=height, width=width, max_disparity_px=args.max_disparity_px,
                             kind_mix=((kind, 1.0),))
        for index in range(args.count):
            scene = scene_for_index(index, seed=args.seed, config=config)
            left = right = None
            if args.camera_effects:
                left, right = apply_camera_effects(scene.left, scene.right,
                                                   np.random.default_rng([args.seed, index, 99]))
            path = args.preview / f"{kind}_{index:02d}.png"
            cv2.imwrite(str(path), preview_image(scene, args.max_disparity_px, left, right))
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
