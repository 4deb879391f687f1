"""Ablation (2026-12-03): the bundled weights fine-tuned at equal budget with the plain loss or a sub-pixel one.

    python scripts/ablate_loss.py train plain|l1|inlier STEPS   # -> /tmp/work/abl_ARM/last.pt
    python scripts/ablate_loss.py score CHECKPOINT...           # held-out scores of each checkpoint
    python scripts/measure_sub_bin_bias.py /tmp/work/abl_ARM/last.pt

Arms: ``plain`` (``stereo_loss`` as it is: smooth-L1 with beta 1 px, whose gradient on a 0.1 px error
is a tenth of an outlier's, so sub-pixel errors hardly pull); ``l1``: every smooth-L1 term with beta
0.1 px (nearly L1: each pixel pulls with the same strength, and the optimum is the conditional median,
which is what the depth-bias bar measures); ``inlier``: the plain loss plus the mean absolute error of
the full-size pixels within 1 px of the truth. All start from ``models/checkpoints/stereo_net.pt`` and
train on the same fresh samples (500000+), lr 1e-4 after 20 warm-up steps, one thread each, with a 0.99
weight average, which the score reads. The score is ``training.train.evaluate`` with 12 held-out
layered scenes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from stereo_depth_ros.training import losses, train as train_module
from stereo_depth_ros.training.dataset import DataConfig
from stereo_depth_ros.training.export import load_checkpoint
from stereo_depth_ros.training.model import StereoNetConfig
from stereo_depth_ros.training.train import TrainConfig, evaluate, train

BUNDLED = Path("models/checkpoints/stereo_net.pt")
FIRST_SAMPLE = 500_000
INLIER_PX, INLIER_WEIGHT = 1.0, 1.0


def _inlier_loss(outputs: dict[str, torch.Tensor], disparity: torch.Tensor) -> dict[str, torch.Tensor]:
    terms = losses.stereo_loss(outputs, disparity)
    error = (outputs["disparity"] - torch.nan_to_num(disparity)).abs()
    inlier = torch.isfinite(disparity) & (error < INLIER_PX)
    terms["inlier"] = losses._masked_mean(error, inlier)
    terms["total"] = terms["total"] + INLIER_WEIGHT * terms["inlier"]
    return terms


def train_arm(arm: str, steps: int) -> Path:
    if arm == "l1":
        losses.SMOOTH_L1_BETA_PX = 0.1
    elif arm == "inlier":
        train_module.stereo_loss = _inlier_loss
    source = torch.load(BUNDLED, weights_only=True)
    model = StereoNetConfig(**source["config"]["model"])
    config = TrainConfig(steps=steps, batch_size=4, learning_rate=1e-4, warmup_steps=20, seed=1,
                         init_from=str(BUNDLED), first_sample=FIRST_SAMPLE, model=model, data=DataConfig(seed=1))
    return train(config, Path(f"/tmp/work/abl_{arm}"), threads=1, num_workers=1, checkpoint_minutes=5.0,
                 eval_every=0, average_decay=0.99)


def score(checkpoint: Path) -> None:
    torch.set_num_threads(1)
    net, _ = load_checkpoint(checkpoint)
    result = evaluate(net, num_scenes=12)
    print(checkpoint, " ".join(f"{key}={value:.2f}" for key, value in sorted(result.items())), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train_arm(sys.argv[2], int(sys.argv[3]))
    else:
        for path in sys.argv[2:]:
            score(Path(path))
