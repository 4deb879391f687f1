"""Supervised training of StereoNet on the synthetic generator (seeded, resumable).

    stereo_depth_train --run-dir runs/stereo_net --steps 12000

A continuation run starts from another run's weights with a new schedule and
fresh samples: ``--init-from runs/stereo_net/last.pt --first-sample 48000``
(the first run's steps x batch size).

Every few minutes ``last.pt`` in the run directory is rewritten atomically with
the model, optimiser, step, the full configuration and the moving average of
the weights (``--average-decay``; the evaluations, the export and runs started
from it use the average); running the same command again resumes from it.
``log.jsonl`` holds one line per logged step (the losses, and
``loader_wait_fraction``: the share of the time since the previous line spent
waiting for the data loader, which tells whether more loader workers or a
faster device would speed the run up) and per evaluation on the held-out split.

On a GPU (``--device auto`` picks it) or several (data-parallel, seeded so that
every sample is used once):

    torchrun --nproc-per-node 4 -m stereo_depth_ros.training.train --run-dir runs/gpu --steps 20000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stereo_depth_ros.backends.contract import SIZE_MULTIPLE
from stereo_depth_ros.core.synthetic import HELD_OUT_KINDS, held_out_scenes
from stereo_depth_ros.pipeline.classical_hints import classical_hints
from stereo_depth_ros.training import distributed
from stereo_depth_ros.training.averaging import DEFAULT_DECAY, WeightAverage
from stereo_depth_ros.training.checkpoints import deployable_weights, load_checkpoint_state
from stereo_depth_ros.training.dataset import DataConfig, SyntheticStereoDataset, render_scenes
from stereo_depth_ros.training.losses import stereo_loss
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig, load_initial_weights


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; with ``model`` and ``data`` this fixes a run.

    ``init_from``: checkpoint whose weights start the run (None: random).
    ``first_sample``: dataset index of the first sample, so a continuation run sees new samples.
    ``batch_size``: samples per step and process; ``processes``: how many train together
    (``torchrun``), so a step uses ``batch_size * processes`` samples.
    """

    steps: int = 12000
    batch_size: int = 4
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    final_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    seed: int = 1
    init_from: str | None = None
    first_sample: int = 0
    processes: int = 1
    model: StereoNetConfig = field(default_factory=StereoNetConfig)
    data: DataConfig = field(default_factory=DataConfig)


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction``."""
    if step < config.warmup_steps:
        return max(step / config.warmup_steps, 0.05)
    progress = min((step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1), 1.0)
    return config.final_lr_fraction + (1 - config.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def _pad_to_multiple(image: np.ndarray, multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    height, width = image.shape[:2]
    pad = ((0, -height % multiple), (0, -width % multiple)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, pad, mode="edge")


@torch.no_grad()
def predict(net: StereoNet, left: np.ndarray, right: np.ndarray,
            hints: np.ndarray | None = None) -> np.ndarray:
    """Disparity (H, W) float32 px for uint8 RGB images of any size (eager PyTorch).

    ``hints``: optional (H, W) float32 px, NaN where there is no hint.
    """
    height, width = left.shape[:2]
    tensors = [torch.from_numpy(_pad_to_multiple(image).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
               for image in (left, right)]
    hint_map = np.full((height, width), np.nan, np.float32) if hints is None else hints
    mask = np.isfinite(hint_map)
    hint_tensor = torch.from_numpy(_pad_to_multiple(np.where(mask, hint_map, 0.0).astype(np.float32)))[None, None]
    mask_tensor = torch.from_numpy(_pad_to_multiple(mask.astype(np.float32)))[None, None]
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    out = net(*(tensor.to(device) for tensor in (*tensors, hint_tensor, mask_tensor)))["disparity"]
    net.train(was_training)
    return out[0, 0, :height, :width].cpu().numpy()


def _bad_and_epe(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    valid = np.isfinite(truth)
    error = np.abs(prediction[valid] - truth[valid])
    return {"epe": float(error.mean()), "bad1": float((error > 1).mean() * 100),
            "bad2": float((error > 2).mean() * 100)}


def evaluate(net: StereoNet, num_scenes: int = 6, robot_scenes_per_kind: int = 2) -> dict[str, float]:
    """EPE (px), bad-1 and bad-2 (%) on held-out synthetic scenes and on Middlebury Motorcycle.

    ``held_out_*``: the layered held-out split (``num_scenes``), without and with classical hints;
    ``held_out_robot_*``: ``robot_scenes_per_kind`` held-out scenes of each robot-like kind
    (``HELD_OUT_KINDS``), without hints; ``motorcycle_*``: without hints. Models are chosen on the
    held-out synthetic scores, never on Motorcycle.
    """
    layered = held_out_scenes("layered", count=num_scenes)
    scores = [_bad_and_epe(predict(net, scene.left, scene.right), scene.disparity_px) for scene in layered]
    hinted = [_bad_and_epe(predict(net, scene.left, scene.right, classical_hints(scene.left, scene.right)),
                           scene.disparity_px) for scene in layered]
    robot = [_bad_and_epe(predict(net, scene.left, scene.right), scene.disparity_px)
             for kind in HELD_OUT_KINDS for scene in held_out_scenes(kind, count=robot_scenes_per_kind)]
    result: dict[str, float] = {}
    for prefix, group in (("held_out", scores), ("held_out_hints", hinted), ("held_out_robot", robot)):
        result.update({f"{prefix}_{key}": float(np.mean([s[key] for s in group])) for key in group[0]})
    import skimage.data

    left, right, truth = skimage.data.stereo_motorcycle()
    truth = np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)
    motorcycle = _bad_and_epe(predict(net, left, right), truth)
    result.update({f"motorcycle_{key}": value for key, value in motorcycle.items()})
    return result


def _to_tensors(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The loader's batch on ``device`` as channels_last tensors (the network's memory format)."""
    return {key: torch.as_tensor(value).to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            for key, value in batch.items()}


def open_run(checkpoint_path: Path, config: Any) -> tuple[StereoNet, torch.optim.Optimizer, int, dict]:
    """(network, AdamW optimiser, step, metrics) of a run, resumed from ``checkpoint_path`` when it exists.

    ``config`` is the run's dataclass (``TrainConfig``, ``AdaptConfig``) with ``model``,
    ``learning_rate`` and ``weight_decay``; a new run starts at step 0 with random weights.

    Raises:
        ValueError: the checkpoint was written with another configuration.
        CheckpointError: it cannot be loaded safely (``training.checkpoints``).
    """
    net = StereoNet(config.model)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    if not checkpoint_path.exists():
        return net, optimiser, 0, {}
    state = load_checkpoint_state(checkpoint_path)
    # A model field added after the checkpoint was written takes its default (the architecture it had then).
    stored = {**state["config"], "model": asdict(StereoNetConfig(**state["config"]["model"]))}
    if stored != asdict(config):
        raise ValueError(f"{checkpoint_path} was made with another configuration; use a new --run-dir")
    net.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimizer"])
    return net, optimiser, state["step"], state["metrics"]


def _on_cpu(value: object) -> object:
    """``value`` with every tensor in it (through dicts, lists and tuples) copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def save_checkpoint(path: Path, net: StereoNet, optimiser: torch.optim.Optimizer, step: int,
                     config: TrainConfig, metrics: dict[str, float], average: WeightAverage | None = None) -> None:
    """Write ``path`` atomically: model, optimiser, step, configuration (``asdict``), metrics and the
    weight average's state (when there is one), every tensor on the CPU, so that a checkpoint trained
    on a GPU loads with a plain ``torch.load`` on a machine without one."""
    temporary = path.with_suffix(".tmp")
    state = {"model": net.state_dict(), "optimizer": optimiser.state_dict(), "step": step,
             "config": asdict(config), "metrics": metrics}
    if average is not None:
        state["average"] = average.state()
    torch.save(_on_cpu(state), temporary)
    temporary.replace(path)


def train(config: TrainConfig, run_dir: Path, *, threads: int = 2, num_workers: int = 1,
          checkpoint_minutes: float = 5.0, eval_every: int = 500, log_every: int = 25,
          max_minutes: float | None = None, cache_root: Path | None = None, device: str = "auto",
          average_decay: float = 0.0) -> Path:
    """Train (or resume) until ``config.steps`` or ``max_minutes``; returns ``last.pt``.

    Runs as one process, or as one rank of a ``torchrun`` job (:mod:`.distributed`;
    ``config.processes`` must equal its world size). ``device``: auto, cpu or cuda.
    ``eval_every`` <= 0 turns the held-out evaluation off. ``average_decay`` > 0 keeps a moving
    average of the weights (:class:`WeightAverage`; the command line's default is ``DEFAULT_DECAY``,
    this function's 0, none), which the evaluations score and ``last.pt`` stores; a run resumed
    without an average starts one at the step it resumes from. The average reads the trajectory
    and never changes it, so it is not part of ``config``.
    """
    process = distributed.start(device)
    try:
        checkpoint = _train(config, run_dir, process, threads=threads, num_workers=num_workers,
                            checkpoint_minutes=checkpoint_minutes, eval_every=eval_every, log_every=log_every,
                            max_minutes=max_minutes, cache_root=cache_root, average_decay=average_decay)
    except BaseException:
        distributed.finish(process, completed=False)
        raise
    distributed.finish(process, completed=True)
    return checkpoint


def _train(config: TrainConfig, run_dir: Path, process: distributed.TrainingProcess, *, threads: int,
           num_workers: int, checkpoint_minutes: float, eval_every: int, log_every: int,
           max_minutes: float | None, cache_root: Path | None, average_decay: float) -> Path:
    if config.processes != process.world_size:
        raise ValueError(f"the configuration is for {config.processes} process(es) but {process.world_size} "
                         "are running (--processes must match torchrun's --nproc-per-node)")
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "last.pt"
    net, optimiser, step, metrics = open_run(checkpoint_path, config)
    if step > 0:
        _say(process, f"resumed at step {step}")
    elif config.init_from is not None:
        load_initial_weights(net, deployable_weights(load_checkpoint_state(config.init_from)))
        _say(process, f"started from the weights of {config.init_from}")
    # channels_last: about 25 % faster convolutions on the CPU (oneDNN's native layout).
    net = net.to(process.device, memory_format=torch.channels_last)
    if process.device.type == "cuda":
        optimiser.load_state_dict(optimiser.state_dict())   # moves a resumed optimiser's state to the GPU
    average = None
    if average_decay > 0.0:
        saved = load_checkpoint_state(checkpoint_path).get("average") if step > 0 else None
        average = WeightAverage(net, average_decay, since_step=step, saved=saved)
        evaluated = StereoNet(config.model).to(process.device, memory_format=torch.channels_last)
    replica = net
    if process.distributed:
        if process.device.type == "cuda":
            replica = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        replica = torch.nn.parallel.DistributedDataParallel(
            replica, device_ids=[process.device.index] if process.device.type == "cuda" else None)
    dataset = SyntheticStereoDataset(config.data, config.model.max_disparity, cache_root)
    sampler = distributed.sample_indices(first_sample=config.first_sample, first_step=step, steps=config.steps,
                                         batch_size=config.batch_size, process=process)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, sampler=sampler,
                                         num_workers=num_workers, persistent_workers=num_workers > 0,
                                         prefetch_factor=4 if num_workers else None,
                                         pin_memory=process.device.type == "cuda")
    started = last_checkpoint = last_log = fetch_started = time.monotonic()
    waited_s = 0.0   # waiting for the loader since the last log line (the step syncs with the device)
    replica.train()
    with open(run_dir / f"log.jsonl{'' if process.is_main else f'.rank{process.rank}'}", "a") as log:
        for batch in loader:
            waited_s += time.monotonic() - fetch_started
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * learning_rate_factor(step, config)
            batch = _to_tensors(batch, process.device)
            outputs = replica(batch["left"], batch["right"], batch["hint_disparity"], batch["hint_mask"])
            losses = stereo_loss(outputs, batch["disparity"])
            optimiser.zero_grad(set_to_none=True)
            if not distributed.any_process(not bool(torch.isfinite(losses["total"])), process):
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                optimiser.step()
                if average is not None:
                    average.update(net)
            else:
                _say(process, f"step {step}: non-finite loss, batch skipped")
            step += 1
            elapsed = time.monotonic() - started
            if step % log_every == 0:
                now = time.monotonic()
                record = {"step": step, "lr": optimiser.param_groups[0]["lr"], "minutes": elapsed / 60,
                          "loader_wait_fraction": min(1.0, waited_s / max(now - last_log, 1e-9)),
                          **{key: distributed.mean_over_processes(value, process).item()
                             for key, value in losses.items()}}
                waited_s, last_log = 0.0, now
                if process.is_main:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                _say(process, f"step {step}/{config.steps} loss {record['total']:.3f} full {record['full']:.3f} "
                              f"ce {record['cross_entropy']:.3f} lr {record['lr']:.2e} {elapsed / 60:.1f} min "
                              f"(waiting for data {100 * record['loader_wait_fraction']:.0f} %)")
            if process.is_main and eval_every > 0 and (step % eval_every == 0 or step == config.steps):
                if average is not None:
                    evaluated.load_state_dict(average.weights)
                metrics = evaluate(evaluated if average is not None else net)
                log.write(json.dumps({"step": step, "eval": metrics}) + "\n")
                log.flush()
                _say(process, f"step {step} eval {metrics}")
            out_of_time = distributed.any_process(max_minutes is not None and elapsed > max_minutes * 60, process)
            if process.is_main and (time.monotonic() - last_checkpoint > checkpoint_minutes * 60
                                    or step == config.steps or out_of_time):
                save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics, average)
                last_checkpoint = time.monotonic()
            if out_of_time:
                _say(process, f"stopping at step {step}: --max-minutes reached (resume with the same command)")
                break
            fetch_started = time.monotonic()
    return checkpoint_path


def _say(process: distributed.TrainingProcess, line: str) -> None:
    """Progress on standard output, from rank 0 only."""
    if process.is_main:
        print(line, flush=True)


def initial_model_config(init_from: str | None, **overrides: object) -> StereoNetConfig:
    """The architecture of a new run: the ``init_from`` checkpoint's (the defaults without one; a field
    its configuration predates gets the default), with the ``overrides`` that are not None on top, so
    that ``--init-from`` the bundled weights trains their architecture unless an option changes it.

    Raises:
        CheckpointError: ``init_from`` is not a readable checkpoint.
    """
    base = StereoNetConfig() if init_from is None else StereoNetConfig(
        **load_checkpoint_state(init_from)["config"]["model"])
    return replace(base, **{name: value for name, value in overrides.items() if value is not None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/stereo_net"))
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--warmup-steps", type=int, default=TrainConfig.warmup_steps)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--init-from", default=None, help="start from this checkpoint's weights")
    parser.add_argument("--first-sample", type=int, default=0, help="dataset index of the first sample")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--num-workers", type=int, default=1, help="data-loader processes")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--eval-every", type=int, default=500, help="steps between held-out evaluations")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--average-decay", type=float, default=DEFAULT_DECAY,
                        help="keep a moving average of the weights with this decay (0: none); the evaluations, "
                             "the export and runs started from the checkpoint use it")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (auto: CUDA when PyTorch sees a GPU)")
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WORLD_SIZE", "1")),
                        help="processes training together (torchrun's --nproc-per-node; read from WORLD_SIZE)")
    parser.add_argument("--hint-pooling", choices=("mean", "max"), default=None,
                        help="how hints reach 1/2 and 1/4 (max: the nearest surface's hint, never a blend; "
                             "default: the --init-from checkpoint's, else max)")
    parser.add_argument("--coarsest-level", type=int, choices=(16, 32), default=None,
                        help="the cost regulariser's coarsest resolution, 1/16 or 1/32 (default: the --init-from "
                             "checkpoint's, else 1/16; a 1/32 level started from a 1/16 checkpoint begins at zero)")
    parser.add_argument("--num-scenes", type=int, default=DataConfig.num_scenes,
                        help="samples are crops of the first this many scenes of the data set (a short ablation "
                             "on a machine whose cache holds fewer need not render the rest)")
    parser.add_argument("--render-scenes", action="store_true",
                        help="only render the data set's scenes missing from the cache, --num-workers processes at "
                             "a time, and exit (on a fresh machine this makes the first steps about 2x faster)")
    args = parser.parse_args(argv)
    data = DataConfig(seed=args.seed, num_scenes=args.num_scenes)
    if args.render_scenes:
        started = time.monotonic()
        rendered = render_scenes(data, processes=args.num_workers)
        print(f"rendered {rendered} scenes into the cache in {(time.monotonic() - started) / 60:.1f} min", flush=True)
        return 0
    model = initial_model_config(args.init_from, hint_pooling=args.hint_pooling, coarsest_level=args.coarsest_level)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         warmup_steps=args.warmup_steps, seed=args.seed, init_from=args.init_from,
                         first_sample=args.first_sample, processes=args.processes, model=model,
                         data=data)
    try:
        train(config, args.run_dir, threads=args.threads, num_workers=args.num_workers,
              checkpoint_minutes=args.checkpoint_minutes, eval_every=args.eval_every, max_minutes=args.max_minutes,
              device=args.device, average_decay=args.average_decay)
    except ValueError as err:   # a bad device, process count or resumed configuration: one line, no traceback
        print(f"stereo_depth_train: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
