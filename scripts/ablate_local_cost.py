"""Ablation (2026-12-02): the bundled weights fine-tuned at equal budget with the refinement's local cost.

    python scripts/ablate_local_cost.py OFFSETS STEPS      # -> /tmp/work/abl_local_cost/last.pt
    python scripts/measure_sub_bin_bias.py /tmp/work/abl_local_cost/last.pt

The same recipe as the plain arm of the 2026-12-02 sub-bin offsets ablation (commit 565a135,
``scripts/ablate_bin_offsets.py train plain 400``): the bundled weights, samples 500000+, lr 1e-4 after
20 warm-up steps, one thread, a 0.99 weight average. The refinement's first layer gets one input per
local cost (d + k px at 1/2, k = -OFFSETS..OFFSETS) with zero weights, so the arm starts as the bundled
network. Its score: ``scripts/ablate_bin_offsets.py score`` at 565a135, i.e. ``training.train.evaluate``
with 12 held-out layered scenes.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from stereo_depth_ros.training.dataset import DataConfig
from stereo_depth_ros.training.model import StereoNetConfig
from stereo_depth_ros.training.train import TrainConfig, evaluate, train
from stereo_depth_ros.training.export import load_checkpoint

BUNDLED = Path("models/checkpoints/stereo_net.pt")
RUN = Path("/tmp/work/abl_local_cost")

if __name__ == "__main__":
    offsets, steps = int(sys.argv[1]), int(sys.argv[2])
    source = torch.load(BUNDLED, weights_only=True)
    model = dataclasses.replace(StereoNetConfig(**source["config"]["model"]), local_cost_offsets=offsets)
    weights = dict(source["model"])
    first = weights["refinement.body.0.weight"]
    weights["refinement.body.0.weight"] = torch.cat([first, first.new_zeros(first.shape[0], 2 * offsets + 1,
                                                                             *first.shape[2:])], dim=1)
    config = dict(source["config"], model=model.to_dict())
    init = RUN.with_name("abl_local_cost_init.pt")
    torch.save({"model": weights, "step": source["step"], "config": config, "metrics": source["metrics"]}, init)
    train(TrainConfig(steps=steps, batch_size=4, learning_rate=1e-4, warmup_steps=20, seed=1, init_from=str(init),
                      first_sample=500_000, model=model, data=DataConfig(seed=1)),
          RUN, threads=1, num_workers=1, checkpoint_minutes=5.0, eval_every=0, average_decay=0.99)
    torch.set_num_threads(2)
    net, _ = load_checkpoint(RUN / "last.pt")
    result = evaluate(net, num_scenes=12)
    print(RUN / "last.pt", " ".join(f"{key}={value:.2f}" for key, value in sorted(result.items())), flush=True)
