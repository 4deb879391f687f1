"""Trainer speed in one process: a training step in both memory formats, and a sample from the cache vs rendered.

    python scripts/measure_training_speed.py      # from the repository root, in the venv; pause other work first

Prints the median time of a forward + backward + AdamW step on one batch of 4 crops (256x512, 2 torch
threads) with the default and the channels_last memory format, the time of one training sample taken
from the pre-rendered scene cache, and the time to render one scene of the training mix with its
classical hints (what the loader does for a scene not yet cached). models/README.md quotes it.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from stereo_depth_ros.core.synthetic import scene_for_index
from stereo_depth_ros.pipeline.classical_hints import classical_hints
from stereo_depth_ros.training.dataset import DataConfig, SyntheticStereoDataset
from stereo_depth_ros.training.losses import stereo_loss
from stereo_depth_ros.training.model import StereoNet


def _median_step_s(batch: dict[str, torch.Tensor], *, channels_last: bool, steps: int = 5) -> float:
    torch.manual_seed(0)
    net = StereoNet()
    optimiser = torch.optim.AdamW(net.parameters(), 1e-4)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        batch = {key: value.contiguous(memory_format=torch.channels_last) for key, value in batch.items()}
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        outputs = net(batch["left"], batch["right"], batch["hint_disparity"], batch["hint_mask"])
        loss = stereo_loss(outputs, batch["disparity"])["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[2:]))   # the first steps warm up


def main() -> int:
    torch.set_num_threads(2)
    config = DataConfig()
    dataset = SyntheticStereoDataset(config, 192)
    dataset[100]   # the scene is rendered and cached if it was not
    start = time.perf_counter()
    samples = [dataset[index] for index in range(100, 112)]
    cached_s = (time.perf_counter() - start) / len(samples)
    start = time.perf_counter()
    for index in range(4):   # scenes no cached run uses
        scene = scene_for_index(50_000 + index, seed=config.seed, config=config.scene)
        classical_hints(scene.left, scene.right, config.hints)
    render_s = (time.perf_counter() - start) / 4
    print(f"one sample from the cache: {cached_s * 1000:.0f} ms; rendering a scene and its hints: "
          f"{render_s * 1000:.0f} ms")
    batch = {key: torch.as_tensor(np.stack([s[key] for s in samples[:4]])) for key in samples[0]}
    for channels_last in (False, True):
        step_s = _median_step_s(batch, channels_last=channels_last)
        name = "channels_last" if channels_last else "default memory format"
        print(f"training step, batch 4 of 256x512, 2 threads, {name}: {step_s:.3f} s ({4 / step_s:.2f} samples/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
