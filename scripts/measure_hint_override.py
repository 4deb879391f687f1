"""Is the network more or less precise than the classical hints it is guided by, where they exist?

    python scripts/measure_hint_override.py [MODELS_DIR]   # from the repository root, in the venv

For Middlebury Motorcycle and the held-out synthetic scenes ``stereo_depth_benchmark --sections accuracy``
scores by default (10 layered scenes and 4 of each robot-like kind, 640x480, largest disparity 160 px),
this runs the bundled ONNX network with full-size classical hints (the benchmark's ``onnx_classical`` row,
LR check off) and prints, per dataset (the mean over its scenes), dense bad-1 / bad-2
(pixels with a ground truth; a missing prediction is an error) of

- ``net``: the network's output, as the node publishes it;
- ``hints``: the output with every hinted pixel replaced by its hint (hints where they exist, network elsewhere);
- ``near T``: the hint only where it is within T px of the network's value (sub-pixel refinement by the hint);

and, among the hinted pixels with a ground truth, bad-2 of the hints and of the network, how often the network
is wrong (off by more than 2 px) where its hint is right, and right where its hint is wrong. A replacement rule
that helps on Motorcycle but not on the held-out split is tuned to Motorcycle (models/README.md, "Accuracy").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stereo_depth_ros.backends import StereoBackend, create_backend
from stereo_depth_ros.backends.base import SparseHints
from stereo_depth_ros.core.metrics import evaluate_disparity
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints
from stereo_depth_ros.tools import benchmark
from stereo_depth_ros.tools.benchmark_metrics import ModelFile, choose_model
from stereo_depth_ros.tools.benchmark_model import find_models
from stereo_depth_ros.tools.benchmark_scenes import (
    BenchmarkScene,
    held_out_kind_scenes,
    motorcycle_scene,
    synthetic_scenes,
)

NEAR_PX = (0.5, 1.0, 2.0)


def scene_rows(scene: BenchmarkScene, network: StereoBackend, search_px: int) -> dict[str, float]:
    hints = classical_hints(scene.left, scene.right, ClassicalHintConfig(max_disparity_px=search_px))
    net = network.match(scene.left, scene.right, hints=SparseHints(hints)).disparity_px
    hinted = np.isfinite(hints)
    truth = scene.disparity_px

    def bad(prediction: np.ndarray, threshold_px: float, mask: np.ndarray | None = None) -> float:
        return evaluate_disparity(prediction, truth, mask=mask, thresholds_px=(threshold_px,)).bad(threshold_px)

    outputs = {"net": net, "hints": np.where(hinted, hints, net),
               **{f"near {t:g}": np.where(hinted & (np.abs(hints - net) <= t), hints, net) for t in NEAR_PX}}
    rows = {f"{name} bad-{t:g}": bad(output, t) for name, output in outputs.items() for t in (1.0, 2.0)}
    right_hint = hinted & (np.abs(hints - truth) <= 2.0)
    rows["hint density %"] = 100.0 * float(hinted.mean())
    rows["bad-2 at hints: hints"] = bad(hints, 2.0, hinted)
    rows["bad-2 at hints: net"] = bad(net, 2.0, hinted)
    rows["net wrong where the hint is right %"] = bad(net, 2.0, right_hint)
    rows["net right where the hint is wrong %"] = 100.0 - bad(net, 2.0, hinted & ~right_hint)
    return rows


def dataset_means(scenes: Sequence[BenchmarkScene], networks: dict[tuple[int, int], StereoBackend],
                  models: Sequence[ModelFile], search_px: int) -> dict[str, float]:
    rows = []
    for scene in scenes:
        size = scene.left.shape[:2]
        if size not in networks:
            networks[size] = create_backend("onnx", model_path=choose_model(size, models).path, providers=["cpu"])
        rows.append(scene_rows(scene, networks[size], search_px))
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def benchmark_datasets() -> dict[str, tuple[list[BenchmarkScene], int]]:
    """The scenes ``stereo_depth_benchmark`` scores by default, per dataset name (Motorcycle first), each
    with the classical search range it uses there, px."""
    defaults = benchmark.build_parser().parse_args([])
    (height, width), max_disparity_px = defaults.synthetic_size, defaults.synthetic_max_disparity_px
    search_px = benchmark.synthetic_num_disparities(defaults)
    datasets = {"Motorcycle": ([motorcycle_scene()], benchmark.MOTORCYCLE_NUM_DISPARITIES),
                f"held-out layered ({defaults.synthetic_scenes})": (synthetic_scenes(
                    defaults.synthetic_scenes, height=height, width=width, max_disparity_px=max_disparity_px),
                    search_px)}
    for kind in defaults.synthetic_kinds:
        datasets[f"held-out {kind} ({defaults.synthetic_kind_scenes})"] = (held_out_kind_scenes(
            kind, defaults.synthetic_kind_scenes, height=height, width=width, max_disparity_px=max_disparity_px),
            search_px)
    return datasets


def main(argv: Sequence[str]) -> int:
    models, _ = find_models(Path(argv[0]) if argv else Path("models"))
    networks: dict[tuple[int, int], StereoBackend] = {}
    header = None
    for name, (scenes, search_px) in benchmark_datasets().items():
        means = dataset_means(scenes, networks, models, search_px)
        if header is None:
            header = list(means)
            print("| data | " + " | ".join(header) + " |")
            print("|---" * (len(header) + 1) + "|")
        print(f"| {name} | " + " | ".join(f"{means[key]:.2f}" for key in header) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
