"""Ablation (2026-12-02): the bundled weights fine-tuned N steps with / without the refinement's bin phase input.

    python scripts/ablate_bin_phase.py plain|phase STEPS   # then scripts/measure_sub_bin_bias.py /tmp/work/abl_ARM/last.pt
"""
import sys, dataclasses, torch
from pathlib import Path
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig
from stereo_depth_ros.training.train import TrainConfig, train
from stereo_depth_ros.training.dataset import DataConfig
arm, steps = sys.argv[1], int(sys.argv[2])
src = torch.load("models/checkpoints/stereo_net.pt", weights_only=True)
model = StereoNetConfig(**src["config"]["model"])
init = Path(f"/tmp/work/abl_init_{arm}.pt")
if arm == "phase":
    model = dataclasses.replace(model, refinement_bin_phase=True)
    weights = dict(src["model"])
    key = "refinement.body.0.weight"
    w = weights[key]
    weights[key] = torch.cat([w, torch.zeros(w.shape[0], 2, *w.shape[2:])], dim=1)  # starts as the bundled net
    net = StereoNet(model); net.load_state_dict(weights)
else:
    weights = src["model"]
config = dict(src["config"]); config["model"] = model.to_dict()
torch.save({"model": weights, "step": src["step"], "config": config, "metrics": src["metrics"]}, init)
cfg = TrainConfig(steps=steps, batch_size=4, learning_rate=1e-4, warmup_steps=20, seed=1, init_from=str(init),
                  first_sample=400000, model=model, data=DataConfig(seed=1))
train(cfg, Path(f"/tmp/work/abl_{arm}"), threads=1, num_workers=1, checkpoint_minutes=60, eval_every=10**9,
      average_decay=0.99)
