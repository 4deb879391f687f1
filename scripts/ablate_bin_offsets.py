"""Ablation (2026-12-02): the bundled weights fine-tuned at equal budget with and without sub-bin offsets.

    python scripts/ablate_bin_offsets.py train plain|offsets STEPS   # -> /tmp/work/abl_ARM/last.pt
    python scripts/ablate_bin_offsets.py score CHECKPOINT...          # held-out scores of each checkpoint
    python scripts/measure_sub_bin_bias.py /tmp/work/abl_ARM/last.pt  # the sub-bin error of an arm

Both arms start from ``models/checkpoints/stereo_net.pt`` (the offsets arm with its offset head at zero,
so it starts as the bundled network) and train on the same fresh samples (500000+, never used by the
stage runs), lr 1e-4 after 20 warm-up steps, one thread each, with a 0.99 weight average, which the
score reads (``load_checkpoint`` exports the average). The score is ``training.train.evaluate`` with
12 held-out layered scenes (twice the training evaluation's, which swings by 3-4 pp between checkpoints).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from stereo_depth_ros.training.dataset import DataConfig
from stereo_depth_ros.training.export import load_checkpoint
from stereo_depth_ros.training.model import StereoNetConfig
from stereo_depth_ros.training.train import TrainConfig, evaluate, train

BUNDLED = Path("models/checkpoints/stereo_net.pt")
FIRST_SAMPLE = 500_000


def train_arm(arm: str, steps: int) -> Path:
    """Fine-tune the bundled weights as ``arm`` (plain or offsets); returns the run's last.pt."""
    source = torch.load(BUNDLED, weights_only=True)
    model = StereoNetConfig(**source["config"]["model"])
    model = dataclasses.replace(model, bin_offsets=arm == "offsets")
    config = TrainConfig(steps=steps, batch_size=4, learning_rate=1e-4, warmup_steps=20, seed=1,
                         init_from=str(BUNDLED), first_sample=FIRST_SAMPLE, model=model, data=DataConfig(seed=1))
    return train(config, Path(f"/tmp/work/abl_{arm}"), threads=1, num_workers=1, checkpoint_minutes=5.0,
                 eval_every=0, average_decay=0.99)


def score(checkpoint: Path) -> None:
    torch.set_num_threads(2)
    net, _ = load_checkpoint(checkpoint)
    result = evaluate(net, num_scenes=12)
    print(checkpoint, " ".join(f"{key}={value:.2f}" for key, value in sorted(result.items())), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train_arm(sys.argv[2], int(sys.argv[3]))
    else:
        for path in sys.argv[2:]:
            score(Path(path))
