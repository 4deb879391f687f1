"""stereo_depth_demo: the bag tools end to end on bundled data, with a summary table.

1. writes two input bags with ground truth: Middlebury Motorcycle (741x500, from
   scikit-image) and a short sequence of synthetic scenes (``stereo_bag_from_dataset``);
2. processes each offline with the default backend (onnx, the bundled model) and
   with OpenCV SGBM for comparison (``stereo_bag_process``, the node's pipeline);
3. scores every output against the ground truth (``stereo_bag_evaluate``) and
   prints bad-2, EPE, density and ms/frame per dataset and backend.

Everything goes under ``demo_output/`` (bags, PNG previews of disparity and
depth with colour bars, ``summary.json``); each run replaces the previous one.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from stereo_depth_ros.backends.errors import BackendError
from stereo_depth_ros.ros.bag_io import BagReader, disparity_px_from_message
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.model_files import resolve_model_path
from stereo_depth_ros.ros.parameters import settings_from_values
from stereo_depth_ros.tools.bag_evaluate import evaluate_bags
from stereo_depth_ros.tools.bag_from_dataset import motorcycle_dataset, synthetic_dataset, write_dataset_bag
from stereo_depth_ros.tools.bag_process import BagProcessor, backend_from_settings
from stereo_depth_ros.tools.errors import EXIT_CODES, UsageError, run_tool
from stereo_depth_ros.tools.previews import disparity_preview, write_png

__all__ = ["DemoRow", "main", "run_demo"]

BACKENDS: Final = ("onnx", "sgbm")
#: Stamp of the first demo frame (fixed, so runs are comparable), ns.
_START_TIME_NS: Final = 1_700_000_000_000_000_000


@dataclass(frozen=True)
class DemoRow:
    """One line of the summary: a dataset processed by a backend and scored.

    Attributes:
        dataset, backend: names.
        frames: frames processed.
        bad2_percent, epe_px, density_percent: over all frames (``core.metrics`` definitions).
        ms_per_frame: mean pipeline milliseconds per frame (rectify to points).
        output: the output bag; note: why a backend could not run ("" when it did).
    """

    dataset: str
    backend: str
    frames: int
    bad2_percent: float
    epe_px: float
    density_percent: float
    ms_per_frame: float
    output: str
    note: str = ""


def _ground_truth_px(bag: Path) -> np.ndarray:
    """The first ground-truth frame of a dataset bag as d = x_left - x_right, px (NaN unknown)."""
    with BagReader(bag) as reader:
        truth = next(reader.messages(["ground_truth/disparity"])).deserialize()
        left = calibration_from_camera_info(next(reader.messages(["left/camera_info"])).deserialize())
        right = calibration_from_camera_info(next(reader.messages(["right/camera_info"])).deserialize())
    return disparity_px_from_message(truth, cx_offset_px=float(left.P[0, 2] - right.P[0, 2]))


def run_demo(output_dir: Path, *, synthetic_frames: int = 5, backends: Sequence[str] = BACKENDS,
             log: bool = True) -> list[DemoRow]:
    """Build the input bags, process them with each backend, score them; returns the summary rows."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)

    def say(text: str) -> None:
        if log:
            print(text, flush=True)

    inputs: list[tuple[str, Path, float]] = []
    rig, frames = motorcycle_dataset(1)
    gt_max = float(math.ceil(max(float(np.nanmax(np.where(np.isfinite(f.ground_truth_px), f.ground_truth_px,
                                                          np.nan)))
                                 for f in frames if f.ground_truth_px is not None)))
    path = output_dir / "motorcycle_input"
    write_dataset_bag(path, rig, frames, start_time_ns=_START_TIME_NS,
                      custom_data={"stereo_depth_ros.source": "motorcycle"})
    inputs.append(("motorcycle", path, gt_max))
    rig, scenes = synthetic_dataset(synthetic_frames, width=640, height=352, max_disparity_px=96.0, seed=11)
    path = output_dir / "synthetic_input"
    write_dataset_bag(path, rig, scenes, start_time_ns=_START_TIME_NS,
                      custom_data={"stereo_depth_ros.source": "synthetic"})
    inputs.append(("synthetic", path, 96.0))
    say(f"input bags: {', '.join(str(p) for _, p, _ in inputs)}")

    rows = []
    for backend_name in backends:
        settings = settings_from_values({"backend": backend_name})
        try:
            backend = backend_from_settings(settings)
        except BackendError as err:
            say(f"{backend_name}: cannot run ({err})")
            rows.extend(DemoRow(name, backend_name, 0, math.nan, math.nan, math.nan, math.nan, "", str(err))
                        for name, _, _ in inputs)
            continue
        if backend_name in ("onnx", "tensorrt"):
            version = backend.describe().get("model_version", "?")
            say(f"{backend_name}: model {resolve_model_path(settings).name} ({version})")
        for name, input_bag, max_disparity in inputs:
            output = output_dir / f"{name}_{backend_name}"
            previews = output_dir / "previews" / f"{name}_{backend_name}"
            processor = BagProcessor(settings, backend=backend, previews_dir=previews,
                                     preview_max_disparity_px=max_disparity)
            summary = processor.run(input_bag, output, progress=False)
            overall = evaluate_bags(output, input_bag).overall
            assert overall is not None
            rows.append(DemoRow(name, backend_name, summary.frames, overall.bad(2.0), overall.epe_px,
                                overall.density_percent, summary.pipeline_ms_per_frame, str(output)))
            say(f"{name} / {backend_name}: {summary.frames} frame(s), {summary.pipeline_ms_per_frame:.0f} ms/frame")
    for name, input_bag, max_disparity in inputs:
        write_png(output_dir / "previews" / f"{name}_ground_truth_disparity.png",
                  disparity_preview(_ground_truth_px(input_bag), max_disparity_px=max_disparity))
    (output_dir / "summary.json").write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    return rows


def format_rows(rows: Sequence[DemoRow]) -> str:
    """The summary table (bad-2: % of ground-truth pixels off by > 2 px, holes included)."""
    header = ("dataset", "backend", "frames", "bad-2 %", "EPE px", "density %", "ms/frame")
    table = [header] + [
        (r.dataset, r.backend, str(r.frames), f"{r.bad2_percent:.1f}", f"{r.epe_px:.2f}",
         f"{r.density_percent:.1f}", f"{r.ms_per_frame:.0f}") if not r.note else
        (r.dataset, r.backend, "-", "-", "-", "-", "unavailable") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))) for row in table)


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_depth_demo."""
    parser = argparse.ArgumentParser(
        prog="stereo_depth_demo",
        description="Make Motorcycle and synthetic stereo bags, process them offline with the learned network "
                    "(onnx) and with SGBM, score both against ground truth and print a summary table. "
                    "Outputs (bags, PNG previews, summary.json) go to demo_output/.",
        epilog="Exit codes: 0 ok, 2 usage, 6 a backend could not run (the others still ran), 7 output not writable.")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    parser.add_argument("--synthetic-frames", type=int, default=5, help="synthetic scenes (default 5)")
    parser.add_argument("--backends", nargs="+", choices=("onnx", "tensorrt", "sgbm", "bm"), default=list(BACKENDS),
                        help="backends to compare (default onnx sgbm)")
    return parser


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.synthetic_frames < 1:
        raise UsageError(f"--synthetic-frames must be >= 1, got {args.synthetic_frames}")
    started = time.perf_counter()
    rows = run_demo(args.output, synthetic_frames=args.synthetic_frames, backends=args.backends)
    print()
    print(format_rows(rows))
    for row in rows:
        if row.note:
            print(f"{row.backend}: {row.note}", file=sys.stderr)
    print(f"\nbad-2: % of pixels with ground truth whose disparity is off by more than 2 px (holes count as bad); "
          f"EPE: mean error where a disparity was given; density: % of pixels with ground truth that got one.\n"
          f"outputs in {args.output}/ ({time.perf_counter() - started:.0f} s). Replay one with: stereo_bag_play "
          f"{args.output}/motorcycle_input --loop, or score one with: stereo_bag_evaluate "
          f"{args.output}/motorcycle_sgbm --ground-truth {args.output}/motorcycle_input")
    return EXIT_CODES["backend"] if any(row.note for row in rows) else EXIT_CODES["ok"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_demo --help``."""
    return run_tool("stereo_depth_demo", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
