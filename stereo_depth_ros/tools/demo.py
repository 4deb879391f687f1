"""stereo_depth_demo: the node's default configuration beside stereo_image_proc's SGBM, on bundled data.

1. writes two input bags with ground truth: Middlebury Motorcycle (741x500, from
   scikit-image) and a short sequence of synthetic scenes (``stereo_bag_from_dataset``);
2. processes each offline (``stereo_bag_process``, the node's pipeline) with the
   node's defaults (the bundled network with classical hints) and with OpenCV SGBM
   as ``stereo_image_proc`` configures it, plus any ``--backends`` with the node's
   other defaults;
3. scores every output against the ground truth (``stereo_bag_evaluate``), prints
   bad-2, EPE, density and ms/frame per dataset and configuration, and one verdict
   line per dataset: the default against stereo_image_proc's SGBM.

Everything goes under ``demo_output/`` (bags, PNG previews of disparity and
depth with colour bars, ``comparison_<dataset>.png`` with the left image, both
disparities and the ground truth side by side, ``summary.json``); each run
replaces the previous one.
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

from stereo_depth_ros.backends import (
    BackendError,
    SgbmBackend,
    SgbmParams,
    StereoBackend,
    scaled_num_disparities,
)
from stereo_depth_ros.ros.bag_io import BagReader, disparity_px_from_message
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.model_files import resolve_model_path
from stereo_depth_ros.ros.parameters import NodeSettings, settings_from_values
from stereo_depth_ros.tools.bag_evaluate import evaluate_bags
from stereo_depth_ros.tools.bag_from_dataset import motorcycle_dataset, synthetic_dataset, write_dataset_bag
from stereo_depth_ros.tools.bag_process import BagProcessor, backend_from_settings
from stereo_depth_ros.tools.benchmark import MOTORCYCLE_NUM_DISPARITIES
from stereo_depth_ros.tools.errors import EXIT_CODES, UsageError, run_tool
from stereo_depth_ros.tools.previews import comparison_preview, disparity_preview, write_png

__all__ = ["DEFAULT", "STEREO_IMAGE_PROC", "DemoRow", "main", "run_demo", "verdicts"]

#: The two configurations every demo compares: the node's defaults, and SGBM as stereo_image_proc sets it.
DEFAULT: Final = "default"
STEREO_IMAGE_PROC: Final = "stereo_image_proc_sgbm"
#: How the table and the previews name a configuration.
LABELS: Final = {DEFAULT: "ours (default)", STEREO_IMAGE_PROC: "SGBM as stereo_image_proc"}
#: Stamp of the first demo frame (fixed, so runs are comparable), ns.
_START_TIME_NS: Final = 1_700_000_000_000_000_000


@dataclass(frozen=True)
class DemoRow:
    """One line of the summary: a dataset processed by a backend and scored.

    Attributes:
        dataset: the input; backend: the configuration (``DEFAULT``, ``STEREO_IMAGE_PROC`` or a backend name
            run with the node's other defaults).
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


def _cx_offset_px(bag: Path) -> float:
    """cx_left - cx_right of a dataset bag's rectified projections, px."""
    with BagReader(bag) as reader:
        left = calibration_from_camera_info(next(reader.messages(["left/camera_info"])).deserialize())
        right = calibration_from_camera_info(next(reader.messages(["right/camera_info"])).deserialize())
    return float(left.P[0, 2] - right.P[0, 2])


def _ground_truth_px(bag: Path) -> np.ndarray:
    """The first ground-truth frame of a dataset bag as d = x_left - x_right, px (NaN unknown)."""
    with BagReader(bag) as reader:
        truth = next(reader.messages(["ground_truth/disparity"])).deserialize()
    return disparity_px_from_message(truth, cx_offset_px=_cx_offset_px(bag))


def _configuration(name: str, num_disparities: int) -> tuple[NodeSettings, StereoBackend]:
    """(node settings, backend) of a demo configuration; stereo_image_proc's SGBM searches ``num_disparities``."""
    if name == STEREO_IMAGE_PROC:
        settings = settings_from_values({"backend": "sgbm", "hints": "none", "lr_check": False})
        return settings, SgbmBackend(SgbmParams.stereo_image_proc(num_disparities))
    settings = settings_from_values({} if name == DEFAULT else {"backend": name})
    return settings, backend_from_settings(settings)


def run_demo(output_dir: Path, *, synthetic_frames: int = 5, backends: Sequence[str] = (),
             log: bool = True) -> list[DemoRow]:
    """Build the input bags, process them with each configuration, score them; returns the summary rows.

    ``backends``: extra rows, each a backend with the node's other defaults, beside ``DEFAULT`` and
    ``STEREO_IMAGE_PROC``.
    """
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
    built: dict[tuple[str, int], tuple[NodeSettings, StereoBackend]] = {}   # one backend per configuration
    for configuration in (DEFAULT, STEREO_IMAGE_PROC, *backends):
        for name, input_bag, max_disparity in inputs:
            # stereo_image_proc's search range as the benchmark sets it: 128 px on Motorcycle, else the
            # ground truth's largest disparity rounded up to 16 px; only that matcher depends on it
            num_disparities = (MOTORCYCLE_NUM_DISPARITIES if name == "motorcycle"
                               else scaled_num_disparities(max_disparity + 1.0, 1.0))
            key = (configuration, num_disparities if configuration == STEREO_IMAGE_PROC else 0)
            if key not in built:
                try:
                    built[key] = _configuration(configuration, num_disparities)
                except BackendError as err:
                    say(f"{configuration}: cannot run ({err})")
                    rows.append(DemoRow(name, configuration, 0, math.nan, math.nan, math.nan, math.nan, "",
                                        str(err)))
                    continue
                settings, backend = built[key]
                if settings.backend in ("onnx", "tensorrt"):
                    version = backend.describe().get("model_version", "?")
                    say(f"{configuration}: {settings.backend}, model {resolve_model_path(settings).name} "
                        f"({version}), hints {settings.hints}, lr_check {settings.lr_check}")
            settings, backend = built[key]
            output = output_dir / f"{name}_{configuration}"
            previews = output_dir / "previews" / f"{name}_{configuration}"
            processor = BagProcessor(settings, backend=backend, previews_dir=previews,
                                     preview_max_disparity_px=max_disparity)
            summary = processor.run(input_bag, output, progress=False)
            overall = evaluate_bags(output, input_bag).overall
            assert overall is not None
            rows.append(DemoRow(name, configuration, summary.frames, overall.bad(2.0), overall.epe_px,
                                overall.density_percent, summary.pipeline_ms_per_frame, str(output)))
            say(f"{name} / {configuration}: {summary.frames} frame(s), {summary.pipeline_ms_per_frame:.0f} ms/frame")
    for name, input_bag, max_disparity in inputs:
        truth = _ground_truth_px(input_bag)
        write_png(output_dir / "previews" / f"{name}_ground_truth_disparity.png",
                  disparity_preview(truth, max_disparity_px=max_disparity))
        done = {row.backend: row for row in rows if row.dataset == name and not row.note}
        if DEFAULT in done and STEREO_IMAGE_PROC in done:
            write_png(output_dir / f"comparison_{name}.png", comparison_preview(
                _first_left_rectified(Path(done[DEFAULT].output)),
                [(f"{LABELS[DEFAULT]}: bad-2 {done[DEFAULT].bad2_percent:.1f} %",
                  _first_disparity_px(Path(done[DEFAULT].output), input_bag)),
                 (f"{LABELS[STEREO_IMAGE_PROC]}: bad-2 {done[STEREO_IMAGE_PROC].bad2_percent:.1f} %",
                  _first_disparity_px(Path(done[STEREO_IMAGE_PROC].output), input_bag)),
                 ("ground truth", truth)], max_disparity_px=max_disparity))
    (output_dir / "summary.json").write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    return rows


def _first_disparity_px(output_bag: Path, input_bag: Path) -> np.ndarray:
    """The first disparity of an output bag as d = x_left - x_right, px (NaN invalid)."""
    with BagReader(output_bag) as reader:
        message = next(reader.messages(["disparity"])).deserialize()
    return disparity_px_from_message(message, cx_offset_px=_cx_offset_px(input_bag))


def _first_left_rectified(output_bag: Path) -> np.ndarray:
    """The first left rectified image of an output bag, (H, W[, 3]) uint8."""
    with BagReader(output_bag) as reader:
        return matching_image(next(reader.messages(["left/image_rect"])).deserialize()).copy()


def verdicts(rows: Sequence[DemoRow]) -> list[str]:
    """One line per dataset: the default's bad-2 against stereo_image_proc's SGBM, same frames."""
    lines = []
    for dataset in dict.fromkeys(row.dataset for row in rows):
        done = {row.backend: row for row in rows if row.dataset == dataset and not row.note}
        if DEFAULT not in done or STEREO_IMAGE_PROC not in done:
            continue
        ours, theirs = done[DEFAULT].bad2_percent, done[STEREO_IMAGE_PROC].bad2_percent
        if ours < theirs:
            verdict = f"ours wins: {theirs / max(ours, 1e-9):.1f}x fewer bad pixels"
        else:
            verdict = "stereo_image_proc's SGBM wins"
        lines.append(f"{dataset}: bad-2 {ours:.1f} % ({LABELS[DEFAULT]}) vs {theirs:.1f} % "
                     f"({LABELS[STEREO_IMAGE_PROC]}): {verdict}")
    return lines


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
        description="Make Motorcycle and synthetic stereo bags, process them offline with the node's default "
                    "configuration (the learned network with classical hints) and with OpenCV SGBM as "
                    "stereo_image_proc configures it, score both against ground truth and print a summary table "
                    "and a verdict. Outputs (bags, PNG previews, comparison_<dataset>.png, summary.json) go to "
                    "demo_output/.",
        epilog="Exit codes: 0 ok, 2 usage, 6 a backend could not run (the others still ran), 7 output not writable.")
    parser.add_argument("--output", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    parser.add_argument("--synthetic-frames", type=int, default=5, help="synthetic scenes (default 5)")
    parser.add_argument("--backends", nargs="+", choices=("onnx", "tensorrt", "sgbm", "bm"), default=[],
                        help="more rows: these backends with the node's other defaults (e.g. sgbm: ours, padded)")
    return parser


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.synthetic_frames < 1:
        raise UsageError(f"--synthetic-frames must be >= 1, got {args.synthetic_frames}")
    started = time.perf_counter()
    rows = run_demo(args.output, synthetic_frames=args.synthetic_frames, backends=args.backends)
    print()
    print(format_rows(rows))
    print()
    for line in verdicts(rows):
        print(line)
    for row in rows:
        if row.note:
            print(f"{row.backend}: {row.note}", file=sys.stderr)
    print(f"\nbad-2: % of pixels with ground truth whose disparity is off by more than 2 px (holes count as bad); "
          f"EPE: mean error where a disparity was given; density: % of pixels with ground truth that got one.\n"
          f"outputs in {args.output}/ ({time.perf_counter() - started:.0f} s). Replay one with: stereo_bag_play "
          f"{args.output}/motorcycle_input --loop, or score one with: stereo_bag_evaluate "
          f"{args.output}/motorcycle_{DEFAULT} --ground-truth {args.output}/motorcycle_input")
    return EXIT_CODES["backend"] if any(row.note for row in rows) else EXIT_CODES["ok"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_demo --help``."""
    return run_tool("stereo_depth_demo", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
