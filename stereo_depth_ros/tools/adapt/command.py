"""Self-supervised adaptation of StereoNet to a user's own unlabelled rosbag (seeded, resumable).

    stereo_depth_adapt my_bag --run-dir runs/adapt --steps 1000
    stereo_depth_export runs/adapt/last.pt --sizes 640x480 --out-dir my_models

Frames come from the bag exactly as ``stereo_bag_process`` and the node see
them (``tools.adapt.bag_frames``): paired by the node's synchroniser,
rectified with each pair's CameraInfos (frames with a bad calibration or
image size are skipped and counted), at most ``--max-frames`` of them spread
evenly over the bag, with their classical hints and, with ``--lidar-topic``,
the LiDAR points of the cloud nearest in stamp where they land; every
``--holdout-every``-th frame is held out of training.

Training (``training.adaptation``): random crops with light photometric
augmentation, an auto-masked photometric reconstruction loss, edge-aware
smoothness and a supervised term on the hints (SGBM's sure pixels); hints
are network input in ``--hint-input-probability`` of the samples.

``last.pt`` in the run directory has the format of ``stereo_depth_train``'s,
so ``stereo_depth_export`` exports it unchanged; running the same command
again resumes from it. ``log.jsonl`` holds the losses and the evaluations.
Before training and at the end the self-supervised loss is measured on
training and held-out frames and, when the bag has ground truth
(``ground_truth/disparity``, as ``stereo_bag_from_dataset`` writes it), bad-2
and EPE without and with classical hints as input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from stereo_depth_ros.backends.contract import SIZE_MULTIPLE
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.ros.bag_io import GROUND_TRUTH_TOPIC, StereoTopics, normalize_topic
from stereo_depth_ros.ros.model_files import CHECKPOINT_PATH
from stereo_depth_ros.ros.parameters import PARAMETERS_BY_NAME
from stereo_depth_ros.tools.adapt.bag_frames import NODE_OPTIONS, BagSource, read_bag_frames
from stereo_depth_ros.tools.errors import ToolError, UsageError, run_tool
from stereo_depth_ros.tools.parameter_options import add_parameter_options
from stereo_depth_ros.training.adaptation import (
    AdaptConfig,
    adapt,
    model_config_of,
    open_adaptation,
    split_frames,
)
from stereo_depth_ros.training.errors import TrainingError
from stereo_depth_ros.training.export import parse_size
from stereo_depth_ros.training.self_supervised import SelfSupervisedWeights

__all__ = ["build_parser", "configs_from_args", "main"]


def _resolve_init_from(text: str) -> Path:
    """The checkpoint file: as given (relative to the working directory), else relative to the source checkout."""
    path = Path(text)
    if path.is_file():
        return path.resolve()
    checkout = Path(__file__).resolve().parents[3] / text
    if not path.is_absolute() and checkout.is_file():
        return checkout
    raise UsageError(f"--init-from {text}: no such checkpoint")


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_depth_adapt."""
    defaults = AdaptConfig()
    source_defaults = BagSource(bag="")
    weights = SelfSupervisedWeights()
    parser = argparse.ArgumentParser(
        prog="stereo_depth_adapt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 ok (also when the model got worse: then it says so, and stereo_depth_export "
               "refuses last.pt unless given --export-anyway), 2 usage (or a run directory of another "
               "configuration, or the training extra not installed), 3 input bag unreadable, 4 topics or frames "
               "missing, 5 bad images or calibration in every frame, or an unusable --init-from checkpoint "
               "(unreadable, or holding a pickled object), 130 interrupted (last.pt saved).")
    parser.add_argument("bag", help="input bag (directory, or .db3 / .mcap file) with stereo images and camera_info")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/adapt"),
                        help="where last.pt and log.jsonl go (default runs/adapt)")
    parser.add_argument("--init-from", default=CHECKPOINT_PATH,
                        help=f"checkpoint to adapt (default {CHECKPOINT_PATH}, the bundled weights)")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"optimiser steps (default {defaults.steps})")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"crops per step (default {defaults.batch_size})")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                        help=f"AdamW, after warm-up (default {defaults.learning_rate:g})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"sample seed (default {defaults.seed})")
    parser.add_argument("--crop", type=parse_size, default=(defaults.crop_width, defaults.crop_height),
                        metavar="WxH",
                        help=f"sample size, px, multiples of {SIZE_MULTIPLE} "
                             f"(default {defaults.crop_width}x{defaults.crop_height})")
    parser.add_argument("--hint-input-probability", type=float, default=defaults.hint_input_probability,
                        help="share of samples that get classical hints as network input "
                             f"(default {defaults.hint_input_probability:g})")
    parser.add_argument("--photometric-weight", type=float, default=weights.photometric,
                        help=f"weight of the photometric reconstruction loss (default {weights.photometric:g})")
    parser.add_argument("--smoothness-weight", type=float, default=weights.smoothness,
                        help=f"weight of the edge-aware smoothness (default {weights.smoothness:g})")
    parser.add_argument("--hint-weight", type=float, default=weights.hints,
                        help=f"weight of the supervised term on the classical hints (default {weights.hints:g})")
    parser.add_argument("--max-frames", type=int, default=source_defaults.max_frames,
                        help="frames kept in memory, spread evenly over the bag "
                             f"(default {source_defaults.max_frames})")
    parser.add_argument("--holdout-every", type=int, default=defaults.holdout_every,
                        help="hold out every N-th frame for the before/after evaluation "
                             f"(default {defaults.holdout_every}; 0 = none)")
    parser.add_argument("--eval-frames", type=int, default=defaults.eval_frames,
                        help=f"frames per split scored before and after (default {defaults.eval_frames})")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0,
                        help="minutes between rewrites of last.pt (default 5)")
    parser.add_argument("--namespace", default="",
                        help="namespace put in front of the relative topic names below, e.g. stereo (default none)")
    parser.add_argument("--left-image-topic", default=StereoTopics.left_image)
    parser.add_argument("--right-image-topic", default=StereoTopics.right_image)
    parser.add_argument("--left-info-topic", default=StereoTopics.left_info)
    parser.add_argument("--right-info-topic", default=StereoTopics.right_info)
    parser.add_argument("--ground-truth-topic", default=GROUND_TRUTH_TOPIC,
                        help=f"DisparityImage scored when present (default {GROUND_TRUTH_TOPIC}; '' = never)")
    parser.add_argument("--lidar-topic", default=None,
                        help="PointCloud2 topic whose clouds become hints (the cloud nearest in stamp to each frame; "
                        "see the --lidar_* options and the bag's /tf_static)")
    add_parameter_options(parser, [PARAMETERS_BY_NAME[name] for name in NODE_OPTIONS])
    return parser


def configs_from_args(args: argparse.Namespace) -> tuple[BagSource, AdaptConfig]:
    """The bag to read and the run's configuration (whose ``source`` is the bag's, as plain data).

    The architecture comes from the ``--init-from`` checkpoint.

    Raises:
        UsageError: out-of-range values, or a missing or unusable checkpoint.
    """
    namespace = args.namespace.strip("/")

    def topic(name: str) -> str:
        return f"{namespace}/{name.strip('/')}" if namespace and not name.startswith("/") else name

    init_from = _resolve_init_from(args.init_from)
    try:
        model = model_config_of(init_from)
    except TrainingError as err:
        raise _tool_error(err) from err
    node_options: dict[str, object] = {name: getattr(args, f"param_{name}") for name in NODE_OPTIONS
                                       if getattr(args, f"param_{name}") is not None}
    if "lidar_transform" in node_options:
        node_options["lidar_transform"] = tuple(node_options["lidar_transform"])  # type: ignore[arg-type]
    try:
        source = BagSource(
            bag=str(args.bag),
            topics=StereoTopics(topic(args.left_image_topic), topic(args.right_image_topic),
                                topic(args.left_info_topic), topic(args.right_info_topic)),
            ground_truth_topic=topic(args.ground_truth_topic) if args.ground_truth_topic else None,
            lidar_topic=topic(args.lidar_topic) if args.lidar_topic else None, max_frames=args.max_frames,
            hints=ClassicalHintConfig(max_disparity_px=model.max_disparity), **node_options)  # type: ignore[arg-type]
        config = AdaptConfig(
            source=asdict(source), holdout_every=args.holdout_every, eval_frames=args.eval_frames,
            init_from=str(init_from), steps=args.steps, batch_size=args.batch_size,
            learning_rate=args.learning_rate, seed=args.seed, crop_width=args.crop[0], crop_height=args.crop[1],
            hint_input_probability=args.hint_input_probability,
            weights=SelfSupervisedWeights(photometric=args.photometric_weight, smoothness=args.smoothness_weight,
                                          hints=args.hint_weight),
            model=model)
    except ValueError as err:
        raise UsageError(str(err)) from err
    return source, config


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_minutes is not None and args.max_minutes < 0:
        raise UsageError(f"--max-minutes must be >= 0, got {args.max_minutes}")
    source, config = configs_from_args(args)
    try:
        run = open_adaptation(config, args.run_dir, threads=args.threads)
    except TrainingError as err:
        raise _tool_error(err) from err
    started = time.monotonic()
    loaded = read_bag_frames(source)
    train_frames, held_out = split_frames(loaded.frames, config.holdout_every)
    print(f"{len(loaded.frames)} frame(s) of {loaded.pairs} pairs (every {loaded.stride}): {len(train_frames)} for "
          f"training, {len(held_out)} held out, {loaded.ground_truth_frames} with ground truth "
          f"({time.monotonic() - started:.1f} s to read, rectify and hint)", flush=True)
    if source.lidar_topic:
        rejected = "".join(f", {count} {kind}" for kind, count in sorted(loaded.lidar_rejected.items()))
        print(f"LiDAR hints from {normalize_topic(source.lidar_topic)}: {loaded.lidar_frames} frame(s){rejected}",
              flush=True)
    path = adapt(run, train_frames, held_out, checkpoint_minutes=args.checkpoint_minutes,
                 max_minutes=args.max_minutes)
    worse = run.metrics.get("regressions", [])
    if worse:
        print(f"stereo_depth_adapt: the adapted model is worse than at the start ({len(worse)} metric(s) above); "
              f"stereo_depth_export refuses {path} unless given --export-anyway", file=sys.stderr)
        print(f"checkpoint: {path} (worse than its start: not for export; resume or change the settings)")
    else:
        print(f"checkpoint: {path} (export: stereo_depth_export {path} --sizes WxH --out-dir DIR)")
    return 0


def _tool_error(error: TrainingError) -> ToolError:
    """The training library's error as a tool error with the same message and exit code."""
    tool_error = ToolError(str(error))
    tool_error.exit_code = error.exit_code
    return tool_error


def main(argv: Sequence[str] | None = None) -> int:
    """``stereo_depth_adapt`` once the training extra is known to be there (see ``tools.adapt.main``)."""
    return run_tool("stereo_depth_adapt", _run, argv)
