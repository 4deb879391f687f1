"""stereo_depth_benchmark: accuracy, speed, end-to-end and model figures in one run.

One command, one process: prints a markdown report (targets first) on stdout,
progress on stderr, and writes ``benchmark.json``, ``benchmark.md`` and PNG
plots to ``--out-dir``. Sections (``--sections``, all by default):

* ``accuracy`` (``benchmark_accuracy``): zero-shot bad-1/2/3, EPE and density,
  without and with the left-right check, on Middlebury Motorcycle and on
  held-out synthetic scenes (plus depth error per range of true depth there)
  and held-out scenes of each robot-like kind (a row per kind and method),
  for the network (the node's default hints, no hints, classical hints,
  simulated LiDAR hints), SGBM and
  StereoBM as ``stereo_image_proc`` configures them, and our padded SGBM;
* ``speed`` (``benchmark_speed``): per-stage median and p90 on this CPU for
  each backend and resolution (the node's default configuration first, with
  and without the LR check), the network split into pre / network / post,
  ratios to SGBM from the same run;
* ``node`` (``benchmark_node``; off with ``--no-node``): the node as a process
  over DDS (its defaults, the same with the LR check, SGBM), latency from image
  stamp to ``disparity`` / ``points2``, sustained output rate and peak RSS;
* ``model`` (``benchmark_model``): file size, parameters, MACs and FLOPs per resolution;
* ``gpu``: ONNX Runtime's CUDA / TensorRT EPs and native TensorRT FP16 where
  available, else "skipped: no GPU".

Timings depend on what else runs on the machine; the report states the load
average at start and end. Exit codes are those of ``tools.errors``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from stereo_depth_ros.core.synthetic import HELD_OUT_KINDS, HELD_OUT_SCENES_PER_KIND
from stereo_depth_ros.ros.allocator import keep_freed_buffers
from stereo_depth_ros.tools.benchmark_accuracy import METHOD_KEYS, AccuracySettings, evaluate_dataset
from stereo_depth_ros.tools.benchmark_metrics import ModelFile, choose_model, parse_size
from stereo_depth_ros.tools.benchmark_model import find_models, model_section
from stereo_depth_ros.tools.benchmark_node import (
    DEFAULT_RUNS,
    NO_LR_SUFFIX,
    NodeRunSettings,
    node_parameters,
    node_section,
)
from stereo_depth_ros.tools.benchmark_report import dump_json, render_markdown, targets, write_plots
from stereo_depth_ros.tools.benchmark_scenes import (
    held_out_kind_scenes,
    motorcycle_scene,
    raw_stereo_input,
    synthetic_scenes,
)
from stereo_depth_ros.tools.benchmark_speed import CPU_BACKENDS, SpeedSettings, gpu_section, speed_section
from stereo_depth_ros.tools.errors import UsageError, run_tool

__all__ = ["MOTORCYCLE_NUM_DISPARITIES", "SECTIONS", "build_parser", "main", "run_benchmark",
           "synthetic_num_disparities"]

TOOL: Final = "stereo_depth_benchmark"
SECTIONS: Final = ("accuracy", "speed", "node", "model", "gpu")
#: Search range of the classical matchers on Motorcycle (stereo_image_proc-like 128; the scene's largest
#: disparity is 60 px at 741 px width).
MOTORCYCLE_NUM_DISPARITIES: Final = 128


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _edges(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in _csv(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"depth edges must be numbers (or inf), got {text!r}") from err


def build_parser() -> argparse.ArgumentParser:
    """The command line (every count and size is configurable so tests can run a tiny version)."""
    parser = argparse.ArgumentParser(prog=TOOL, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=Path("out/benchmark"),
                        help="where benchmark.json, benchmark.md, PNG plots and node logs go")
    parser.add_argument("--sections", type=_csv, default=SECTIONS, help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--no-node", action="store_true", help="skip the end-to-end node section")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    models = parser.add_argument_group("network files")
    models.add_argument("--models-dir", type=Path, default=None,
                        help="directory with stereo_net.json and *.onnx (default: the bundled models/)")
    models.add_argument("--model", type=Path, default=None,
                        help="use only this .onnx file (default: per resolution the smallest bundled model that "
                             "holds the image without shrinking, else the largest)")
    models.add_argument("--onnx-threads", type=int, default=0, help="ONNX Runtime intra-op threads; 0 = its default")
    models.add_argument("--classical-hint-scale", type=float, default=1.0,
                        help="classical hints of onnx_classical and onnx+classical are matched at this fraction of "
                             "the image size, (0, 1] (the node's classical_hint_scale; the default rows use the "
                             "node's default)")
    accuracy = parser.add_argument_group("accuracy")
    accuracy.add_argument("--methods", type=_csv, default=METHOD_KEYS, help=f"subset of {METHOD_KEYS}")
    accuracy.add_argument("--synthetic-scenes", type=int, default=10, help="held-out synthetic scenes; 0 = none")
    accuracy.add_argument("--synthetic-size", type=parse_size, default=(480, 640), metavar="WxH",
                          help="synthetic scene size, px")
    accuracy.add_argument("--synthetic-max-disparity-px", type=float, default=160.0,
                          help="largest disparity in a synthetic scene, px")
    accuracy.add_argument("--synthetic-kinds", type=_csv, default=HELD_OUT_KINDS,
                          help=f"held-out robot-like kinds, subset of {HELD_OUT_KINDS} (size and disparity range "
                               "of --synthetic-size and --synthetic-max-disparity-px)")
    accuracy.add_argument("--synthetic-kind-scenes", type=int, default=HELD_OUT_SCENES_PER_KIND,
                          help="held-out scenes per robot-like kind; 0 = none")
    accuracy.add_argument("--lidar-fraction", type=float, default=0.02,
                          help="share of ground-truth pixels given as simulated LiDAR hints")
    accuracy.add_argument("--lidar-noise-px", type=float, default=0.5, help="Gaussian noise of the LiDAR hints, px")
    accuracy.add_argument("--seed", type=int, default=0, help="seed of the LiDAR hint sampling")
    accuracy.add_argument("--depth-edges-m", type=_edges, default=(0.0, 1.0, 2.0, 4.0, 8.0, math.inf),
                          help="ranges of true depth for the synthetic depth error, m")
    speed = parser.add_argument_group("speed")
    speed.add_argument("--sizes", type=lambda t: tuple(parse_size(s) for s in _csv(t)),
                       default=((480, 640), (720, 1280)), metavar="WxH,...", help="resolutions, px")
    speed.add_argument("--backends", type=_csv, default=CPU_BACKENDS, help=f"subset of {CPU_BACKENDS}")
    speed.add_argument("--max-disparity-px", type=int, default=192,
                       help="search range of the classical matchers, px (the network uses its own)")
    speed.add_argument("--warmup", type=int, default=5, help="frames discarded first, per backend and size")
    speed.add_argument("--frames", type=int, default=50, help="frames measured, per backend and size")
    speed.add_argument("--no-network-split", action="store_true", help="do not time pre / network / post separately")
    node = parser.add_argument_group("node (end to end over DDS)")
    node.add_argument("--node-backends", type=_csv, default=NodeRunSettings.backends,
                      help=f"one node run each: {' or '.join(DEFAULT_RUNS)} (the node's parameter defaults; "
                           "+lr: lr_check true), or a node backend (hints none, lr_check true; a "
                           f"{NO_LR_SUFFIX} suffix turns it off); @WxH after either runs it at that inference size "
                           "(default@512x384)")
    node.add_argument("--node-size", type=parse_size, default=(480, 640), metavar="WxH", help="streamed size, px")
    node.add_argument("--node-rate-hz", type=float, default=30.0, help="input pair rate, Hz")
    node.add_argument("--node-seconds", type=float, default=20.0, help="measuring window per backend, s")
    node.add_argument("--node-warmup-s", type=float, default=5.0,
                      help="time after the first output before measuring, s")
    node.add_argument("--node-startup-timeout-s", type=float, default=120.0,
                      help="longest wait for the node's topics and first output, s")
    node.add_argument("--node-executable", default=None,
                      help="the node's console script (default: stereo_depth_node next to this Python, else PATH)")
    node.add_argument("--ros-domain-id", type=int, default=None,
                      help="ROS_DOMAIN_ID for the node and this process (default: the environment's)")
    return parser


def _validate(args: argparse.Namespace) -> None:
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        raise UsageError(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    for name, values, allowed in (("--methods", args.methods, METHOD_KEYS),
                                  ("--backends", args.backends, CPU_BACKENDS)):
        if set(values) - set(allowed):
            raise UsageError(f"{name}: unknown {sorted(set(values) - set(allowed))}; choose from {list(allowed)}")
    if args.frames < 1 or args.warmup < 0 or args.synthetic_scenes < 0 or args.synthetic_kind_scenes < 0:
        raise UsageError("--frames must be >= 1, --warmup, --synthetic-scenes and --synthetic-kind-scenes >= 0")
    if set(args.synthetic_kinds) - set(HELD_OUT_KINDS):
        raise UsageError(f"--synthetic-kinds: unknown {sorted(set(args.synthetic_kinds) - set(HELD_OUT_KINDS))}; "
                         f"choose from {list(HELD_OUT_KINDS)}")
    if args.node_rate_hz <= 0 or args.node_seconds <= 0 or args.node_warmup_s < 0:
        raise UsageError("--node-rate-hz and --node-seconds must be > 0, --node-warmup-s >= 0")
    if "node" in args.sections and not args.no_node:
        for run in args.node_backends:  # a bad run name fails now, not after the other sections
            node_parameters(run, NodeRunSettings(max_disparity_px=args.max_disparity_px,
                                                 onnx_threads=args.onnx_threads), None)
    if not 0.0 < args.classical_hint_scale <= 1.0:
        raise UsageError(f"--classical-hint-scale must be in (0, 1], got {args.classical_hint_scale}")
    num_disparities = SpeedSettings(max_disparity_px=args.max_disparity_px).num_disparities
    if "speed" in args.sections and {"sgbm", "bm"} & set(args.backends):
        for height, width in args.sizes:
            if width <= num_disparities:
                raise UsageError(f"size {width}x{height}: the width must exceed the classical search range "
                                 f"{num_disparities} px (--max-disparity-px)")
    if (args.synthetic_scenes or args.synthetic_kind_scenes) and \
            args.synthetic_size[1] <= synthetic_num_disparities(args):
        raise UsageError(f"--synthetic-size width {args.synthetic_size[1]} px must exceed the classical search "
                         f"range {synthetic_num_disparities(args)} px (lower --synthetic-max-disparity-px)")


def synthetic_num_disparities(args: argparse.Namespace) -> int:
    """Classical search range covering the synthetic scenes' largest disparity, px (multiple of 16)."""
    return int(math.ceil((args.synthetic_max_disparity_px + 1.0) / 16.0)) * 16


def _meta(argv: Sequence[str]) -> dict[str, Any]:
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__,
            "git_commit": commit, "command": " ".join(shlex.quote(a) for a in [TOOL, *argv]),
            "load_average_start": _load()}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def run_benchmark(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    """Run the selected sections and return the results dict (also written as JSON by ``main``)."""
    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    sections = [s for s in args.sections if not (s == "node" and args.no_node)]
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"meta": _meta(argv)}
    if args.model is not None and not args.model.is_file():
        raise UsageError(f"--model {args.model}: no such file")
    if args.models_dir is None:
        from stereo_depth_ros.ros.model_files import bundled_model_path
        models_dir = bundled_model_path().parent
    else:
        models_dir = args.models_dir
    models, card = find_models(models_dir, only=args.model)
    log(f"network files: {', '.join(f'{m.path.name}' for m in models) or 'none'} (in {models_dir})")
    if card:
        results["meta"]["model_version"] = card.get("model_version")
    maps: dict[str, dict[str, np.ndarray]] = {}
    motorcycle = None
    if "accuracy" in sections:
        settings = AccuracySettings(methods=tuple(args.methods), onnx_threads=args.onnx_threads,
                                    lidar_fraction=args.lidar_fraction, lidar_noise_px=args.lidar_noise_px,
                                    seed=args.seed, depth_edges_m=tuple(args.depth_edges_m),
                                    classical_hint_scale=args.classical_hint_scale)
        log("accuracy: Middlebury Motorcycle")
        motorcycle = motorcycle_scene()
        accuracy: dict[str, Any] = {}
        accuracy["motorcycle"], maps = evaluate_dataset([motorcycle], settings,
                                                        num_disparities=MOTORCYCLE_NUM_DISPARITIES, models=models,
                                                        with_depth=False, keep_maps=not args.no_plots)
        if args.synthetic_scenes:
            height, width = args.synthetic_size
            log(f"accuracy: {args.synthetic_scenes} held-out synthetic scenes at {width}x{height}")
            scenes = synthetic_scenes(args.synthetic_scenes, height=height, width=width,
                                      max_disparity_px=args.synthetic_max_disparity_px)
            accuracy["synthetic"], _ = evaluate_dataset(scenes, settings,
                                                        num_disparities=synthetic_num_disparities(args),
                                                        models=models, with_depth=True)
        if args.synthetic_kind_scenes and args.synthetic_kinds:
            height, width = args.synthetic_size
            kinds: dict[str, Any] = {}
            for kind in args.synthetic_kinds:
                log(f"accuracy: {args.synthetic_kind_scenes} held-out {kind} scenes at {width}x{height}")
                scenes = held_out_kind_scenes(kind, args.synthetic_kind_scenes, height=height, width=width,
                                              max_disparity_px=args.synthetic_max_disparity_px)
                kinds[kind], _ = evaluate_dataset(scenes, settings, num_disparities=synthetic_num_disparities(args),
                                                  models=models, with_depth=False)
            accuracy["synthetic_kinds"] = kinds
        results["accuracy"] = accuracy
    speed_settings = SpeedSettings(backends=tuple(args.backends), max_disparity_px=args.max_disparity_px,
                                   warmup=args.warmup, frames=args.frames, onnx_threads=args.onnx_threads,
                                   split_network=not args.no_network_split,
                                   classical_hint_scale=args.classical_hint_scale)
    raw_inputs = []
    if {"speed", "gpu"} & set(sections):
        for height, width in args.sizes:
            scene = synthetic_scenes(1, height=height, width=width,
                                     max_disparity_px=min(0.25 * width, 0.8 * args.max_disparity_px))[0]
            raw_inputs.append(raw_stereo_input(scene.left, scene.right))
    if "speed" in sections:
        results["speed"] = speed_section(raw_inputs, speed_settings, models, log=log)
    if "node" in sections:
        height, width = args.node_size
        scene = synthetic_scenes(1, height=height, width=width,
                                 max_disparity_px=min(0.25 * width, 0.8 * args.max_disparity_px))[0]
        node_settings = NodeRunSettings(backends=tuple(args.node_backends), rate_hz=args.node_rate_hz,
                                        seconds=args.node_seconds, warmup_s=args.node_warmup_s,
                                        startup_timeout_s=args.node_startup_timeout_s,
                                        executable=args.node_executable, max_disparity_px=args.max_disparity_px,
                                        onnx_threads=args.onnx_threads)
        model: ModelFile | None = choose_model((height, width), models) if models else None
        results["node"] = node_section(raw_stereo_input(scene.left, scene.right), node_settings, model,
                                       out_dir=out_dir, ros_domain_id=args.ros_domain_id, log=log)
        if "skipped" in results["node"]:
            log(f"node: {results['node']['skipped']}")
    elif "node" in args.sections:
        results["node"] = {"skipped": "skipped: --no-node"}
    if "model" in sections:
        synthetic = args.synthetic_scenes or (args.synthetic_kind_scenes and args.synthetic_kinds)
        sizes = [*args.sizes, (500, 741)] + ([tuple(args.synthetic_size)] if synthetic else [])
        results["model"] = model_section(models, card, list(dict.fromkeys(sizes)))
    if "gpu" in sections:
        results["gpu"] = gpu_section(raw_inputs, speed_settings, models, log=log)
    results["targets"] = [t.__dict__ for t in targets(results)]
    results["meta"]["load_average_end"] = _load()
    load = results["meta"]["load_average_start"].split()[0]
    cores = os.cpu_count() or 1
    if load.replace(".", "", 1).isdigit() and float(load) > 0.5 * cores:
        results["meta"]["busy_note"] = (f"The machine was busy (1-min load average {load} on {cores} CPUs at the "
                                        "start): timings are noisy; re-measure on an idle machine.")
    if not args.no_plots:
        written, note = write_plots(results, maps, motorcycle.disparity_px if motorcycle else None, out_dir)
        results["plots"] = written
        results["plots_note"] = note or (", ".join(written) if written else "")
    return results


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    _validate(args)
    keep_freed_buffers()   # as the node does, so that the speed section's packing is the node's
    results = run_benchmark(args, arguments)
    markdown = render_markdown(results)
    dump_json(results, args.out_dir / "benchmark.json")
    (args.out_dir / "benchmark.md").write_text(markdown + "\n")
    print(markdown)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_benchmark [options]``; returns the exit code."""
    return run_tool(TOOL, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
