"""Where the network's disparity bias comes from: signed error by position inside a 4 px bin, per stage.

    python scripts/measure_sub_bin_bias.py [CHECKPOINT]   # from the repository root, in the venv

The cost volume has 4 px bins (1/4 resolution); the soft-argmin, the convex x2 and the refinement
build the sub-pixel estimate on it. For the held-out layered scenes of the training evaluation
(``training.train.evaluate``'s split: 6 scenes of 640x352, no hints, non-occluded pixels with a
ground truth), this prints the median signed error (prediction - truth, px of the full-size image;
> 0 = too large a disparity, a depth too near) of each stage brought to full size, over errors
below 3 px: overall and in eight slices of the true disparity's position inside its bin,
(d / 4) mod 1. A flat row is an unbiased sub-pixel estimate; a row that swings with the position
is "pixel locking" towards the bin centres. A line gives the final stage's median by true
disparity, and a last table each stage's median error on a fronto-parallel plane (the astronaut
photo, shifted by d px, central pixels) at d = 1 to 48 px. models/README.md ("Depth bias") quotes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch
import torch.nn.functional as F

from stereo_depth_ros.training.export import load_checkpoint
from stereo_depth_ros.training.train import held_out_scenes

#: Bin width of the cost volume in full-size pixels, and the number of slices of a bin.
BIN_PX, SLICES = 4.0, 8
#: Errors at or above this are outliers (wrong match, not sub-pixel precision), px.
INLIER_PX = 3.0
#: True-disparity ranges of the last line, px (small disparities are far surfaces).
DISPARITY_RANGES_PX = ((0, 16), (16, 32), (32, 64), (64, 128), (128, 256))
#: True disparities of the plane table, px, and its image size (H, W).
PLANE_DISPARITIES_PX = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0, 48.0)
PLANE_SIZE = (352, 640)


def _full_size(disparity: torch.Tensor, factor: int) -> np.ndarray:
    """A (1, 1, h, w) disparity in px of its resolution, bilinear to full size and in full-size px."""
    return (factor * F.interpolate(disparity, scale_factor=factor, mode="bilinear", align_corners=False))[0, 0].numpy()


def _tensor(image: np.ndarray) -> torch.Tensor:
    """An (h, w, 3) uint8 image as a (1, 3, h, w) float tensor in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def _stages(out: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 1/4, 1/2 and final disparity of one pair at full size, px."""
    return _full_size(out["disparity4"], 4), _full_size(out["disparity2"], 2), out["disparity"][0, 0].numpy()


def _plane(disparity_px: float) -> tuple[np.ndarray, np.ndarray]:
    """A textured fronto-parallel plane as a rectified pair: right(x) = left(x + d)."""
    height, width = PLANE_SIZE
    photo = cv2.resize(skimage.data.astronaut(), (width + 160, height + 48), interpolation=cv2.INTER_AREA)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32) + 100, np.arange(height, dtype=np.float32) + 20)
    return (cv2.remap(photo, xs, ys, cv2.INTER_LINEAR), cv2.remap(photo, xs + disparity_px, ys, cv2.INTER_LINEAR))


def main(checkpoint: Path) -> None:
    torch.set_num_threads(2)
    net, _ = load_checkpoint(checkpoint)
    stages: dict[str, list[np.ndarray]] = {"1/4 soft-argmin": [], "1/2 convex upsampling": [], "final (line fit)": []}
    truths = []
    for scene in held_out_scenes("layered", count=6):
        no_hints = torch.zeros(1, 1, *scene.left.shape[:2])
        with torch.no_grad():
            out = net(_tensor(scene.left), _tensor(scene.right), no_hints, no_hints)
        truth = scene.disparity_px
        known = np.isfinite(truth) & ~scene.occluded
        for errors, prediction in zip(stages.values(), _stages(out), strict=True):
            errors.append((prediction - truth)[known])
        truths.append(truth[known])
    position = (np.concatenate(truths) / BIN_PX) % 1.0
    edges = np.arange(SLICES + 1) / SLICES
    print("median signed error (px) of errors < 3 px, overall | by (d / 4) mod 1 in "
          + " ".join(f"[{lo:.3f},{hi:.3f})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)))
    for stage, errors in stages.items():
        error = np.concatenate(errors)
        inlier = np.abs(error) < INLIER_PX
        row = [np.median(error[inlier & (position >= lo) & (position < hi)])
               for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        print(f"{stage:22s} {np.median(error[inlier]):+.3f} | " + " ".join(f"{value:+.2f}" for value in row))
    final = np.concatenate(stages["final (line fit)"])
    truth = np.concatenate(truths)
    inlier = np.abs(final) < INLIER_PX
    print("final, by true disparity: " + "; ".join(
        f"{lo:g}-{hi:g} px {np.median(final[inlier & (truth >= lo) & (truth < hi)]):+.3f}"
        for lo, hi in DISPARITY_RANGES_PX if np.any(inlier & (truth >= lo) & (truth < hi))))
    print("plane at d px: median signed error (px) of " + ", ".join(stages))
    no_hints = torch.zeros(1, 1, *PLANE_SIZE)
    central = np.s_[40:-40, 100:-40]
    for disparity_px in PLANE_DISPARITIES_PX:
        left, right = _plane(disparity_px)
        with torch.no_grad():
            out = net(_tensor(left), _tensor(right), no_hints, no_hints)
        print(f"d = {disparity_px:4.0f}: " + " ".join(f"{np.median(stage[central]) - disparity_px:+.3f}"
                                                   for stage in _stages(out)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/checkpoints/stereo_net.pt"))
