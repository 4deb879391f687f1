"""Where are the classical hints wrong, and what does the LR check's hint check remove?

    python scripts/measure_hint_reliability.py [MODELS_DIR]   # from the repository root, in the venv

On the scenes ``stereo_depth_benchmark --sections accuracy`` scores by default (Motorcycle, and the held-out
synthetic split: 10 layered scenes and 4 of each robot-like kind), prints three tables (models/README.md,
"Accuracy"):

1. Where full-size classical hints are wrong (off by more than 2 px from the ground truth): overall, near
   depth edges (the ground truth spans more than 2 px over 7x7 px), in low texture (elsewhere, mean
   |horizontal Sobel| over 5x5 px below 8 grey levels) and elsewhere, with each part's share of the hints.
2. The network with those hints, dense bad-2 (missing pixels count as errors), as it is and with the
   low-texture hints dropped: does dropping the unreliable kind of hint help?
3. The pipeline with the LR check (``lr_max_diff_px``) and its hint check (``lr_hint_max_diff_px``, 0 = off),
   with full-size hints and with the node default's hints at 0.5x: % kept / bad-2 among the kept %, and,
   over the held-out sets, how many of the pixels a setting removes beyond the row above it are wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from measure_hint_override import benchmark_datasets

from stereo_depth_ros.backends import StereoBackend, create_backend
from stereo_depth_ros.backends.base import SparseHints
from stereo_depth_ros.core.metrics import evaluate_disparity
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig, StereoPipeline
from stereo_depth_ros.tools.benchmark_metrics import choose_model
from stereo_depth_ros.tools.benchmark_model import find_models
from stereo_depth_ros.tools.benchmark_scenes import BenchmarkScene

WRONG_PX = 2.0
EDGE_SPAN_PX, EDGE_WINDOW_PX = 2.0, 7
LOW_TEXTURE_GREY, TEXTURE_WINDOW_PX = 8.0, 5
#: (lr_max_diff_px, lr_hint_max_diff_px) of table 3, each row removing more than the one above it
CHECKS = ((2.0, 0.0), (1.5, 0.0), (1.0, 0.0), (1.0, 3.0), (1.0, 2.0), (1.0, 1.0))


def low_texture(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: mean |horizontal Sobel| of the grey image over the window below ``LOW_TEXTURE_GREY``."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3))
    return cv2.blur(gradient, (TEXTURE_WINDOW_PX, TEXTURE_WINDOW_PX)) < LOW_TEXTURE_GREY


def depth_edges(truth: np.ndarray) -> np.ndarray:
    """(H, W) bool: the ground truth spans more than ``EDGE_SPAN_PX`` over the window (unknown = 0)."""
    known = np.where(np.isfinite(truth), truth, 0.0).astype(np.float32)
    kernel = np.ones((EDGE_WINDOW_PX, EDGE_WINDOW_PX), np.uint8)
    return (cv2.dilate(known, kernel) - cv2.erode(known, kernel)) > EDGE_SPAN_PX


def where_hints_are_wrong(scene: BenchmarkScene, hints: np.ndarray) -> dict[str, float]:
    truth = scene.disparity_px
    hinted = np.isfinite(hints) & np.isfinite(truth)
    wrong = hinted & (np.abs(hints - truth) > WRONG_PX)
    edge = depth_edges(truth)
    flat = low_texture(scene.left) & ~edge
    parts = {"near depth edges": edge, "low texture": flat, "elsewhere": ~edge & ~flat}
    row = {"wrong %": 100.0 * wrong.sum() / hinted.sum()}
    for name, part in parts.items():
        row[f"{name}: share %"] = 100.0 * (hinted & part).sum() / hinted.sum()
        row[f"{name}: wrong %"] = 100.0 * (wrong & part).sum() / max(int((hinted & part).sum()), 1)
    return row


def texture_gate(scene: BenchmarkScene, hints: np.ndarray, network: StereoBackend) -> dict[str, float]:
    def dense_bad2(given: np.ndarray) -> float:
        disparity = network.match(scene.left, scene.right, hints=SparseHints(given)).disparity_px
        return evaluate_disparity(disparity, scene.disparity_px, thresholds_px=(WRONG_PX,)).bad(WRONG_PX)
    return {"hints as they are": dense_bad2(hints),
            "low-texture hints dropped": dense_bad2(np.where(low_texture(scene.left), np.nan, hints))}


def checked_pixels(scene: BenchmarkScene, network: StereoBackend, hint_scale: float,
                   lr_max_diff_px: float, lr_hint_max_diff_px: float) -> tuple[int, int, int]:
    """(pixels with a ground truth, of them kept, of those wrong) through the pipeline with the LR check."""
    config = PipelineConfig(lr_check=True, lr_max_diff_px=lr_max_diff_px, lr_hint_max_diff_px=lr_hint_max_diff_px,
                            hints="classical", compute_points=False,
                            classical_hints=replace(ClassicalHintConfig(), scale=hint_scale))
    disparity = StereoPipeline(network, config).process(scene.left, scene.right, scene.rig).disparity_px
    truth = scene.disparity_px
    known = np.isfinite(truth)
    kept = known & np.isfinite(disparity)
    return int(known.sum()), int(kept.sum()), int((kept & (np.abs(disparity - truth) > WRONG_PX)).sum())


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    header = list(next(iter(rows.values())))
    print(f"\n{title}\n\n| data | " + " | ".join(header) + " |\n" + "|---" * (len(header) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[key]:.2f}" for key in header) + " |", flush=True)


def main(argv: Sequence[str]) -> int:
    models, _ = find_models(Path(argv[0]) if argv else Path("models"))
    networks: dict[tuple[int, int], StereoBackend] = {}
    reliability: dict[str, dict[str, float]] = {}
    gate: dict[str, dict[str, float]] = {}
    checks: dict[str, dict[str, np.ndarray]] = {}
    held_out_counts = {scale: np.zeros((len(CHECKS), 3), np.int64) for scale in (1.0, 0.5)}
    for name, (scenes, search_px) in benchmark_datasets().items():
        rows, gates, kept_bad = [], [], []
        for scene in scenes:
            size = scene.left.shape[:2]
            if size not in networks:
                networks[size] = create_backend("onnx", model_path=choose_model(size, models).path,
                                                providers=["cpu"])
            hints = classical_hints(scene.left, scene.right, ClassicalHintConfig(max_disparity_px=search_px))
            rows.append(where_hints_are_wrong(scene, hints))
            gates.append(texture_gate(scene, hints, networks[size]))
            counts = {scale: np.array([checked_pixels(scene, networks[size], scale, *check) for check in CHECKS])
                      for scale in (1.0, 0.5)}
            kept_bad.append({f"{scale:g}x, LR {lr:g} / hint {hint:g} px": (100.0 * c[1] / c[0],
                                                                        100.0 * c[2] / max(c[1], 1))
                             for scale, array in counts.items() for (lr, hint), c in zip(CHECKS, array)})
            if name != "Motorcycle":
                for scale in counts:
                    held_out_counts[scale] += counts[scale]
        reliability[name] = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        gate[name] = {key: float(np.mean([row[key] for row in gates])) for key in gates[0]}
        checks[name] = {key: np.mean([row[key] for row in kept_bad], axis=0) for key in kept_bad[0]}
    print_table("1. Where full-size classical hints are wrong (> 2 px)", reliability)
    print_table("2. Dense bad-2 % of the network with full-size classical hints", gate)
    print("\n3. LR check: % kept / bad-2 among the kept %, per setting\n\n| data | "
          + " | ".join(next(iter(checks.values()))) + " |")
    for name, row in checks.items():
        print(f"| {name} | " + " | ".join(f"{kept:.1f} / {bad:.2f}" for kept, bad in row.values()) + " |")
    print("\nHeld-out sets together: of the pixels each setting removes beyond the row above it, % wrong\n")
    for scale, counts in held_out_counts.items():
        for i in range(1, len(CHECKS)):
            removed = counts[i - 1, 1] - counts[i, 1]
            wrong = counts[i - 1, 2] - counts[i, 2]
            (lr_before, hint_before), (lr, hint) = CHECKS[i - 1], CHECKS[i]
            print(f"- hints at {scale:g}x, LR {lr_before:g} / hint {hint_before:g} -> LR {lr:g} / hint {hint:g} px: "
                  f"{100.0 * removed / counts[0, 0]:.2f} % of the pixels removed, "
                  f"{100.0 * wrong / max(removed, 1):.0f} % of them wrong")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
