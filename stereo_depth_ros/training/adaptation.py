"""Self-supervised adaptation of StereoNet to rectified frames of a user's camera (seeded, resumable).

The library under ``stereo_depth_adapt`` (``tools.adapt``, which reads the
frames from a bag): it takes rectified frames in memory (``AdaptFrame``:
arrays, never messages), not a bag.

Training sample ``i`` (a random crop of a random training frame, light
photometric augmentation of the network's inputs, random vertical flip, the
classical hints as input with probability ``hint_input_probability``)
depends only on ``(seed, i)``. The loss (``training.self_supervised``) is an
auto-masked photometric reconstruction of the left image, edge-aware
smoothness and a supervised term on the frames' hints (SGBM's sure pixels,
and LiDAR points where the tool put them).

``last.pt`` in the run directory has the format of ``stereo_depth_train``'s
(model, optimiser, step, the full configuration with ``model``, metrics), so
``stereo_depth_export`` exports it unchanged; opening the same run directory
with the same configuration resumes from it. ``log.jsonl`` holds the losses and
the evaluations. Before training and at the end the self-supervised loss is
measured on training and held-out frames and, on frames with ground truth,
bad-2 and EPE without and with the hints as input.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import torch

from stereo_depth_ros.backends.contract import SIZE_MULTIPLE
from stereo_depth_ros.core.metrics import StereoMetrics, combine, evaluate_disparity
from stereo_depth_ros.training.checkpoints import deployable_weights, load_checkpoint_state
from stereo_depth_ros.training.errors import CheckpointError, RunConfigurationError
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig
from stereo_depth_ros.training.self_supervised import SelfSupervisedWeights, self_supervised_loss
from stereo_depth_ros.training.train import open_run, predict, save_checkpoint

__all__ = [
    "CHECKED_METRICS",
    "AdaptConfig",
    "AdaptFrame",
    "AdaptRun",
    "adapt",
    "crop_size",
    "evaluate_frames",
    "format_report",
    "make_adapt_sample",
    "model_config_of",
    "open_adaptation",
    "regressions",
    "split_frames",
]

#: (metric, label) compared before and after adaptation, lower = better: the self-supervised losses, and
#: ground-truth bad-2 where the frames have ground truth.
CHECKED_METRICS: Final = (("loss", "self-supervised loss without hints"),
                          ("loss_with_hints", "self-supervised loss with hints"),
                          ("bad2_no_hints", "bad-2 % without hints"),
                          ("bad2_classical_hints", "bad-2 % with hints"))


@dataclass(frozen=True)
class AdaptConfig:
    """Everything that fixes an adaptation run (stored in every checkpoint, compared on resume).

    Attributes:
        source: where the frames come from, as plain data (the tool's description of its input:
            bag, topics, how frames are read and hinted); stored and compared, never read here.
        holdout_every: every n-th frame (n-1, 2n-1, ...) is held out; 0 = none.
        eval_frames: frames per split scored before and after (evenly spaced).
        init_from: checkpoint whose weights start the run (None: random initialisation).
        steps, batch_size, learning_rate, weight_decay, warmup_steps, grad_clip, seed: optimisation
            (AdamW; linear warm-up, then constant).
        crop_height, crop_width: sample size, px, multiples of ``SIZE_MULTIPLE`` (32; smaller frames:
            the largest multiple that fits).
        hint_input_probability: share of samples with the frame's hints as network input.
        weights: the loss weights.
        model: the architecture (that of ``init_from``).
    """

    source: Mapping[str, object] = field(default_factory=dict)
    holdout_every: int = 10
    eval_frames: int = 8
    init_from: str | None = None
    steps: int = 1000
    batch_size: int = 4
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    grad_clip: float = 1.0
    seed: int = 1
    crop_height: int = 256
    crop_width: int = 512
    hint_input_probability: float = 0.5
    weights: SelfSupervisedWeights = field(default_factory=SelfSupervisedWeights)
    model: StereoNetConfig = field(default_factory=StereoNetConfig)

    def __post_init__(self) -> None:
        for name in ("eval_frames", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.holdout_every < 0 or self.holdout_every == 1:
            raise ValueError(f"holdout_every must be 0 (none) or >= 2, got {self.holdout_every}")
        multiple = SIZE_MULTIPLE
        if min(self.crop_height, self.crop_width) < multiple or self.crop_height % multiple \
                or self.crop_width % multiple:
            raise ValueError(f"crop must be multiples of {multiple} px, got {self.crop_width}x{self.crop_height}")
        if not 0.0 <= self.hint_input_probability <= 1.0:
            raise ValueError(f"hint_input_probability must be in [0, 1], got {self.hint_input_probability}")
        if not (self.learning_rate >= 0.0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a finite number >= 0, got {self.learning_rate}")


@dataclass(frozen=True)
class AdaptFrame:
    """One rectified frame in memory.

    Attributes:
        stamp_ns: header stamp of the left image, ns.
        left, right: (H, W, 3) uint8 RGB, rectified (grey images repeated in 3 channels); H, W >= 32.
        hints_px: (H, W) float16 hints, px, d = x_left - x_right; NaN = none.
        ground_truth_px: (H, W) float32 disparity d = x_left - x_right, px, NaN = unknown;
            None when there is no ground truth for this frame.
    """

    stamp_ns: int
    left: np.ndarray
    right: np.ndarray
    hints_px: np.ndarray
    ground_truth_px: np.ndarray | None = None


def split_frames(frames: Sequence[AdaptFrame], holdout_every: int) -> tuple[list[AdaptFrame], list[AdaptFrame]]:
    """(training frames, held-out frames): frame k is held out when k % n == n - 1 (n = ``holdout_every``, 0 = none)."""
    if holdout_every <= 0:
        return list(frames), []
    held = [k % holdout_every == holdout_every - 1 for k in range(len(frames))]
    return ([f for f, h in zip(frames, held) if not h], [f for f, h in zip(frames, held) if h])


def model_config_of(path: str | Path) -> StereoNetConfig:
    """The architecture stored in a checkpoint's ``config["model"]``.

    Raises:
        CheckpointError: unreadable, or without a model configuration.
    """
    state = load_checkpoint_state(path)
    try:
        return StereoNetConfig(**state["config"]["model"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: no model configuration in the checkpoint ({err})") from err


# ------------------------------------------------------------------ samples

def crop_size(config: AdaptConfig, height: int, width: int) -> tuple[int, int]:
    """(crop height, crop width), px: the configured crop, shrunk to multiples of 32 that fit the frame."""
    multiple = SIZE_MULTIPLE
    return min(config.crop_height, height // multiple * multiple), min(config.crop_width, width // multiple * multiple)


def _light_photometric(left: np.ndarray, right: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shared gamma and brightness, small per-view colour gains and noise; (h, w, 3) float32 [0, 1]."""
    gamma, brightness = rng.uniform(0.9, 1.1), rng.uniform(-0.05, 0.05)
    views = []
    for image in (left, right):
        image = np.clip(image * rng.uniform(0.95, 1.05, 3).astype(np.float32) + brightness, 0.0, 1.0) ** gamma
        image = image + rng.normal(0.0, rng.uniform(0.0, 0.01), image.shape).astype(np.float32)
        views.append(np.clip(image, 0.0, 1.0).astype(np.float32))
    return views[0], views[1]


def make_adapt_sample(frame: AdaptFrame, rng: np.random.Generator, config: AdaptConfig) -> dict[str, np.ndarray]:
    """One training sample of a frame.

    Returns:
        ``left``, ``right``: (3, h, w) float32 [0, 1], the crop the loss compares (no augmentation);
        ``left_input``, ``right_input``: the same, photometrically augmented, for the network;
        ``hints``: (1, h, w) float32 px, every hint of the crop, NaN = none (loss target);
        ``hint_disparity`` (1, h, w) float32 px, 0 = none, and ``hint_mask`` (1, h, w) float32
        {0, 1}: the network's hint input (a random subset of ``hints``, or none).
    """
    height, width = frame.left.shape[:2]
    crop_h, crop_w = crop_size(config, height, width)
    top = int(rng.integers(0, height - crop_h + 1))
    start = int(rng.integers(0, width - crop_w + 1))
    window = np.s_[top:top + crop_h, start:start + crop_w]
    left = frame.left[window].astype(np.float32) / 255.0
    right = frame.right[window].astype(np.float32) / 255.0
    hints = frame.hints_px[window].astype(np.float32)
    if rng.random() < 0.5:  # an upside-down rig is still a rectified rig
        left, right, hints = left[::-1], right[::-1], hints[::-1]
    left_input, right_input = _light_photometric(left, right, rng)
    mask = np.zeros(hints.shape, bool)
    if rng.random() < config.hint_input_probability:
        mask = np.isfinite(hints) & (rng.random(hints.shape) < rng.uniform(0.05, 1.0))

    def chw(image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image.transpose(2, 0, 1))

    return {"left": chw(left), "right": chw(right), "left_input": chw(left_input), "right_input": chw(right_input),
            "hints": np.ascontiguousarray(hints[None]),
            "hint_disparity": np.where(mask, hints, 0.0).astype(np.float32)[None],
            "hint_mask": mask.astype(np.float32)[None]}


def _batch(frames: Sequence[AdaptFrame], config: AdaptConfig, first_sample: int) -> dict[str, torch.Tensor]:
    samples = []
    for index in range(first_sample, first_sample + config.batch_size):
        rng = np.random.default_rng([config.seed, 11, index])
        samples.append(make_adapt_sample(frames[int(rng.integers(len(frames)))], rng, config))
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}


# ------------------------------------------------------------------ evaluation

def _spread(frames: Sequence[AdaptFrame], count: int) -> list[AdaptFrame]:
    if len(frames) <= count:
        return list(frames)
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, count).round()]


def _tensor_image(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


@torch.no_grad()
def evaluate_frames(net: StereoNet, frames: Sequence[AdaptFrame],
                    weights: SelfSupervisedWeights) -> dict[str, float]:
    """Self-supervised loss and, where there is ground truth, bad-2 and EPE, on whole frames.

    The loss is measured on the top-left crop of each frame to multiples of 32 px,
    without (``loss``) and with (``loss_with_hints``) the frame's hints as input; its
    terms without hints are ``photometric``, ``smoothness``, ``hints``. Ground truth is
    scored on the whole frame (``training.train.predict``), with bad-2 (%, missing
    counted as bad) and EPE (px) pooled over the frames' pixels, without
    (``*_no_hints``) and with (``*_classical_hints``) hints.

    Returns:
        the means over ``frames`` as Python floats (``frames`` and ``ground_truth_frames``
        count them); {} for no frames.
    """
    if not frames:
        return {}
    was_training = net.training
    net.eval()
    sums: dict[str, float] = {}
    scored: dict[str, list[StereoMetrics]] = {"no_hints": [], "classical_hints": []}
    for frame in frames:
        height, width = (size // SIZE_MULTIPLE * SIZE_MULTIPLE for size in frame.left.shape[:2])
        left = _tensor_image(frame.left[:height, :width])
        right = _tensor_image(frame.right[:height, :width])
        hints = torch.from_numpy(frame.hints_px[:height, :width].astype(np.float32))[None, None]
        mask = torch.isfinite(hints).float()
        zeros = torch.zeros_like(hints)
        plain = self_supervised_loss(net(left, right, zeros, zeros), left, right, hints, weights)
        hinted = self_supervised_loss(net(left, right, torch.nan_to_num(hints, nan=0.0), mask), left, right, hints,
                                      weights)
        for key, value in (("loss", plain["total"]), ("photometric", plain["photometric"]),
                           ("smoothness", plain["smoothness"]), ("hints", plain["hints"]),
                           ("loss_with_hints", hinted["total"])):
            sums[key] = sums.get(key, 0.0) + float(value)
        if frame.ground_truth_px is not None:
            full_hints = frame.hints_px.astype(np.float32)
            for name, hint_input in (("no_hints", None), ("classical_hints", full_hints)):
                prediction = predict(net, frame.left, frame.right, hint_input)
                scored[name].append(evaluate_disparity(prediction, frame.ground_truth_px, thresholds_px=(2.0,)))
    net.train(was_training)
    result = {key: value / len(frames) for key, value in sums.items()}
    result.update(frames=float(len(frames)), ground_truth_frames=float(len(scored["no_hints"])))
    for name, metrics in scored.items():
        if metrics:
            pooled = combine(metrics)
            result[f"bad2_{name}"] = float(pooled.bad(2.0))
            result[f"epe_{name}"] = float(pooled.epe_px)
    return result


def _evaluate_splits(net: StereoNet, train_frames: Sequence[AdaptFrame], held_out: Sequence[AdaptFrame],
                     config: AdaptConfig) -> dict[str, dict[str, float]]:
    return {"train": evaluate_frames(net, _spread(train_frames, config.eval_frames), config.weights),
            "held_out": evaluate_frames(net, _spread(held_out, config.eval_frames), config.weights)}


def format_report(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> list[str]:
    """Lines comparing the evaluations before and after adaptation."""
    lines = []
    for split, label in (("train", "training frames"), ("held_out", "held-out frames")):
        old, new = before.get(split, {}), after.get(split, {})
        if not old or not new:
            lines.append(f"{label}: none")
            continue
        lines.append(f"{label} ({int(new['frames'])}): self-supervised loss without hints {old['loss']:.4f} -> "
                     f"{new['loss']:.4f}, with classical hints {old['loss_with_hints']:.4f} -> "
                     f"{new['loss_with_hints']:.4f} (photometric {old['photometric']:.4f} -> "
                     f"{new['photometric']:.4f}, hint term {old['hints']:.3f} -> {new['hints']:.3f})")
        for name, text in (("no_hints", "without hints"), ("classical_hints", "with classical hints")):
            if f"bad2_{name}" in old and f"bad2_{name}" in new:
                lines.append(f"  ground truth ({int(new['ground_truth_frames'])} frame(s)) {text}: bad-2 "
                             f"{old[f'bad2_{name}']:.2f} % -> {new[f'bad2_{name}']:.2f} %, EPE "
                             f"{old[f'epe_{name}']:.3f} px -> {new[f'epe_{name}']:.3f} px")
    return lines


def regressions(before: Mapping[str, Mapping[str, float]],
                after: Mapping[str, Mapping[str, float]]) -> tuple[str, list[str]]:
    """Which of ``CHECKED_METRICS`` got worse (higher) from ``before`` to ``after``.

    Args:
        before, after: evaluations as ``adapt`` stores them (``{"train": ..., "held_out": ...}``).

    Returns:
        (the split compared: ``held_out``, or ``train`` when there are no held-out frames;
        one line per metric that got worse (higher, or NaN), e.g.
        ``held-out frames: bad-2 % without hints 28.2 -> 28.7``).
    """
    split = "held_out" if before.get("held_out") and after.get("held_out") else "train"
    old, new = before.get(split, {}), after.get(split, {})
    label = "held-out frames" if split == "held_out" else "training frames (none held out)"
    return split, [f"{label}: {text} {old[key]:.4g} -> {new[key]:.4g}" for key, text in CHECKED_METRICS
                   if key in old and key in new and _worse(old[key], new[key])]


def _worse(before: float, after: float) -> bool:
    """Higher, or NaN where it was a number (a diverged network)."""
    return after > before or (math.isnan(after) and not math.isnan(before))


# ------------------------------------------------------------------ training

def _learning_rate(step: int, config: AdaptConfig) -> float:
    """Linear warm-up over ``warmup_steps`` (from 5 %), then constant."""
    if step < config.warmup_steps:
        return config.learning_rate * max(step / config.warmup_steps, 0.05)
    return config.learning_rate


def _load_weights(net: StereoNet, config: AdaptConfig) -> None:
    if config.init_from is None:
        return
    state = load_checkpoint_state(config.init_from)
    model_config = state["config"].get("model")
    if model_config != asdict(config.model):
        raise CheckpointError(f"{config.init_from} holds a model {model_config}, "
                              f"not the configured {asdict(config.model)}")
    net.load_state_dict(deployable_weights(state))


@dataclass
class AdaptRun:
    """An adaptation run, opened (new or resumed) and ready to train.

    Attributes:
        config: its configuration.
        checkpoint_path: ``last.pt`` in the run directory.
        net, optimiser: the network (initial or resumed weights) and its AdamW optimiser.
        step: optimiser steps done so far.
        metrics: what the checkpoint holds (``before``, ``after``, ``after_step``), {} for a new run.
    """

    config: AdaptConfig
    checkpoint_path: Path
    net: StereoNet
    optimiser: torch.optim.Optimizer
    step: int
    metrics: dict[str, object]


def open_adaptation(config: AdaptConfig, run_dir: Path, *, threads: int = 1,
                    out: Callable[[str], None] = lambda text: print(text, flush=True)) -> AdaptRun:
    """Resume the run in ``run_dir``, or start one from ``config.init_from``'s weights (seeded).

    Raises:
        RunConfigurationError: ``run_dir`` holds a run of another configuration.
        CheckpointError: ``init_from`` holds another architecture.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "last.pt"
    try:
        net, optimiser, step, metrics = open_run(checkpoint_path, config)
    except ValueError as err:
        raise RunConfigurationError(str(err)) from err
    if step > 0:
        out(f"resumed at step {step}")
    else:
        _load_weights(net, config)
        out(f"starting from {config.init_from or 'random weights'}")
    return AdaptRun(config, checkpoint_path, net, optimiser, step, metrics)


def adapt(run: AdaptRun, train_frames: Sequence[AdaptFrame], held_out: Sequence[AdaptFrame], *,
          checkpoint_minutes: float = 5.0, log_every: int = 10, max_minutes: float | None = None,
          evaluate: bool = True, out: Callable[[str], None] = lambda text: print(text, flush=True)) -> Path:
    """Adapt (or resume) until ``config.steps`` or ``max_minutes``; returns ``last.pt``.

    Args:
        run: from ``open_adaptation``.
        train_frames: frames sampled for training (at least one).
        held_out: frames only evaluated.

    The checkpoint's ``metrics`` hold ``before`` (measured once, before the first
    step) and ``after`` (at the end of every invocation), each ``{"train": ...,
    "held_out": ...}`` as ``evaluate_frames`` returns them, and ``checked_split`` and
    ``regressions`` (``regressions(before, after)``: what got worse on the held-out
    frames, or on the training frames when none are held out; ``stereo_depth_export``
    refuses a checkpoint with regressions unless ``--export-anyway``); ``evaluate=False``
    skips all of them.
    """
    if not train_frames:
        raise ValueError("adaptation needs at least one training frame")
    config, net, optimiser, step, metrics = run.config, run.net, run.optimiser, run.step, run.metrics
    checkpoint_path = run.checkpoint_path
    with open(checkpoint_path.parent / "log.jsonl", "a") as log:
        def record(entry: dict[str, object]) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()

        if evaluate and "before" not in metrics:
            metrics = {"before": _evaluate_splits(net, train_frames, held_out, config)}
            record({"step": step, "eval": "before", **metrics["before"]})
        started = last_checkpoint = time.monotonic()
        net.train()
        try:
            while step < config.steps:
                for group in optimiser.param_groups:
                    group["lr"] = _learning_rate(step, config)
                batch = _batch(train_frames, config, step * config.batch_size)
                outputs = net(batch["left_input"], batch["right_input"], batch["hint_disparity"], batch["hint_mask"])
                losses = self_supervised_loss(outputs, batch["left"], batch["right"], batch["hints"], config.weights)
                optimiser.zero_grad(set_to_none=True)
                if torch.isfinite(losses["total"]):
                    losses["total"].backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                    optimiser.step()
                else:
                    out(f"step {step}: non-finite loss, batch skipped")
                step += 1
                elapsed = time.monotonic() - started
                if step % log_every == 0 or step == config.steps:
                    entry = {"step": step, "lr": optimiser.param_groups[0]["lr"], "minutes": elapsed / 60,
                             **{key: value.item() for key, value in losses.items()}}
                    record(entry)
                    out(f"step {step}/{config.steps} loss {entry['total']:.4f} photometric {entry['photometric']:.4f} "
                        f"hints {entry['hints']:.3f} smoothness {entry['smoothness']:.4f} {elapsed / 60:.1f} min")
                out_of_time = max_minutes is not None and elapsed > max_minutes * 60
                if time.monotonic() - last_checkpoint > checkpoint_minutes * 60:
                    save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
                    last_checkpoint = time.monotonic()
                if out_of_time:
                    out(f"stopping at step {step}: --max-minutes reached (resume with the same command)")
                    break
        except KeyboardInterrupt:
            save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
            out(f"interrupted at step {step}; saved {checkpoint_path} (resume with the same command)")
            raise
        if evaluate:
            after = _evaluate_splits(net, train_frames, held_out, config)
            checked, worse = regressions(metrics["before"], after)
            metrics = {**metrics, "after": after, "after_step": step, "checked_split": checked, "regressions": worse}
            record({"step": step, "eval": "after", **after, "regressions": worse})
        save_checkpoint(checkpoint_path, net, optimiser, step, config, metrics)
    run.step, run.metrics = step, metrics
    if evaluate and "before" in metrics:
        out(f"before (initial weights) -> after (step {step}):")
        for line in format_report(metrics["before"], metrics["after"]):
            out(line)
        for line in metrics["regressions"]:
            out(f"worse than at the start: {line}")
    return checkpoint_path
