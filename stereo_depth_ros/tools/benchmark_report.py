"""Report of ``stereo_depth_benchmark``: targets, the markdown tables, JSON and PNG plots.

Everything here reads the results dict the sections return (the same dict is
written as JSON), so the markdown can be regenerated from a saved JSON file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from stereo_depth_ros.tools.benchmark_metrics import TargetResult, check_target
from stereo_depth_ros.tools.benchmark_speed import NETWORK_SPLIT_PARTS

__all__ = ["TARGET_SIZE", "dump_json", "json_safe", "render_markdown", "targets", "write_plots"]

#: The resolution the speed targets refer to.
TARGET_SIZE: Final = "640x480"
_STAGE_COLUMNS: Final = ("rectify", "hints", "match", "depth", "points", "pack", "serialize")


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, NaN as null and infinities as "inf"/"-inf" (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        number = float(value)
        if math.isnan(number):
            return None
        return number if math.isfinite(number) else ("inf" if number > 0 else "-inf")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _get(data: Any, *keys: Any) -> Any:
    """data[k0][k1]... or None where a key is missing."""
    for key in keys:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
        elif isinstance(data, list) and callable(key):
            data = next((item for item in data if key(item)), None)
        else:
            return None
    return data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _by(field: str, wanted: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, Mapping) and item.get(field) == wanted


def targets(results: Mapping[str, Any]) -> list[TargetResult]:
    """The issue's bars against this run, for the network as the node runs it by default (no hints);
    rows marked "(classical hints)" show the hinted variant for comparison."""
    speed = _get(results, "speed", "resolutions", _by("size", TARGET_SIZE), "backends", _by("backend", "onnx"))
    node = _get(results, "node", "runs", _by("backend", "onnx"))
    motorcycle = _get(results, "accuracy", "motorcycle", "methods")
    sgbm_bad2 = _number(_get(motorcycle, _by("key", "sgbm_sip"), "lr_off", "bad2"))
    rows = [
        check_target(f"network alone, median at {TARGET_SIZE} (one pass, both views)",
                     _number(_get(speed, "network_split", "network", "median_ms")),
                     limit=60.0, direction="at_most", unit="ms"),
        check_target(f"whole pipeline, median at {TARGET_SIZE} (rectify .. serialize, LR check on)",
                     _number(_get(speed, "total", "median_ms")), limit=100.0, direction="at_most", unit="ms"),
        check_target("sustained output rate through the node (disparity)",
                     _number(_get(node, "disparity", "sustained_rate_hz")),
                     limit=10.0, direction="at_least", unit="Hz", decimals=2),
        check_target("node peak RSS (VmHWM)", _number(_get(node, "peak_rss_mb")),
                     limit=600.0, direction="at_most", unit="MB", decimals=0),
    ]
    for key, suffix in (("onnx", ""), ("onnx_classical", " (classical hints)")):
        method = _get(motorcycle, _by("key", key))
        if method is None:
            if key == "onnx":
                rows.append(check_target("Motorcycle dense bad-2", None, limit=0.0, direction="at_most", unit="%"))
            continue
        limit = 0.5 * sgbm_bad2 if sgbm_bad2 is not None else float("nan")
        dense = check_target(f"Motorcycle dense bad-2{suffix}", _number(_get(method, "lr_off", "bad2")),
                             limit=limit, direction="at_most", unit="%")
        rows.append(TargetResult(name=dense.name, measured=dense.measured,
                                 bar=f"<= half of stereo_image_proc SGBM's {sgbm_bad2 or float('nan'):.1f} % "
                                     f"= {limit:.1f} %", status=dense.status if sgbm_bad2 is not None else "n/a"))
        rows.append(check_target(f"Motorcycle after LR check: bad-2 among kept{suffix}",
                                 _number(_get(method, "lr_on", "bad2_kept")), limit=5.0, direction="below", unit="%"))
        rows.append(check_target(f"Motorcycle after LR check: density{suffix}",
                                 _number(_get(method, "lr_on", "density_percent")), limit=85.0,
                                 direction="above", unit="%"))
    return rows


# ------------------------------------------------------------------------------------------- markdown

def _f(value: Any, decimals: int = 1) -> str:
    number = _number(value)
    return "–" if number is None or not math.isfinite(number) else f"{number:.{decimals}f}"


def _ms(stats: Any) -> str:
    """"median / p90" of a TimingStats dict."""
    if not isinstance(stats, Mapping) or not stats.get("n"):
        return "–"
    decimals = 1 if (_number(stats.get("median_ms")) or 0.0) >= 1.0 else 2
    return f"{_f(stats.get('median_ms'), decimals)} / {_f(stats.get('p90_ms'), decimals)}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _skipped(section: Any) -> str | None:
    return section.get("skipped") if isinstance(section, Mapping) and "skipped" in section else None


def _accuracy_lines(title: str, dataset: Mapping[str, Any]) -> list[str]:
    lines = [f"### {title}", ""]
    rows = []
    for method in dataset["methods"]:
        for label, name in (("lr_off", "off"), ("lr_on", "on")):
            metrics = method[label]
            rows.append([method["label"], name, _f(metrics.get("bad1")), _f(metrics.get("bad2")),
                         _f(metrics.get("bad3")), _f(metrics.get("epe_px"), 2), _f(metrics.get("density_percent")),
                         _f(metrics.get("bad2_kept"))])
    lines += _table(["method", "LR check", "bad-1 %", "bad-2 %", "bad-3 %", "EPE px (kept)", "density %",
                     "bad-2 kept %"], rows)
    return lines + [""]


def _kind_lines(kinds: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One row per held-out robot-like kind and method."""
    first = next(iter(kinds.values()))
    lines = [f"### Held-out robot-like kinds: {len(first['scenes'])} scenes each at {first['image_size']} "
             "(never trained on)", ""]
    rows = []
    for kind, dataset in kinds.items():
        for method in dataset["methods"]:
            off, on = method["lr_off"], method["lr_on"]
            rows.append([kind, method["label"], _f(off.get("bad1")), _f(off.get("bad2")), _f(off.get("bad3")),
                         _f(off.get("epe_px"), 2), _f(on.get("bad2_kept")), _f(on.get("density_percent"))])
    lines += _table(["kind", "method", "bad-1 %", "bad-2 %", "bad-3 %", "EPE px", "LR on: bad-2 kept %",
                     "LR on: density %"], rows)
    return lines + [""]


def _depth_lines(dataset: Mapping[str, Any]) -> list[str]:
    edges = dataset.get("depth_edges_m")
    if not edges:
        return []
    ranges = [f"{lo:g}–{hi if isinstance(hi, str) else format(hi, 'g')} m" for lo, hi in zip(edges, edges[1:],
                                                                                          strict=False)]
    rig = dataset.get("rig", {})
    lines = ["", f"Depth error after the LR check (rig fx {_f(rig.get('fx_px'))} px, baseline "
                 f"{_f(rig.get('baseline_m'), 3)} m): median absolute error m / median relative error % "
                 "(density %), by true depth", ""]
    rows = []
    for method in dataset["methods"]:
        cells = [method["label"]]
        for entry in method.get("depth_lr_on", []):
            cells.append(f"{_f(entry.get('median_abs_error_m'), 3)} / {_f(entry.get('median_rel_error_percent'))} "
                         f"({_f(entry.get('density_percent'), 0)})")
        rows.append(cells)
    return lines + _table(["method", *ranges], rows) + [""]


def _speed_lines(speed: Mapping[str, Any], *, title: str) -> list[str]:
    lines = [f"## {title}", ""]
    if _skipped(speed):
        return lines + [speed["skipped"], ""]
    lines += [f"median / p90 ms over {speed.get('frames')} frames after {speed.get('warmup')} warm-up frames; "
              f"classical search range {speed.get('classical_num_disparities')} px; raw pairs of a distorted rig "
              "(rectify is a real remap); LR check on (onnx-no-lr: off); total = rectify .. serialize.", ""]
    if speed.get("pack_note"):
        lines += [f"Message packing: {speed['pack_note']}", ""]
    splits = []
    for resolution in speed.get("resolutions", []):
        lines += [f"### {resolution['size']}" + (f" (network file {resolution['model']})" if resolution.get("model")
                                                  else ""), ""]
        rows = []
        for row in resolution["backends"]:
            if "skipped" in row:
                rows.append([row["backend"], row["skipped"], *[""] * (len(_STAGE_COLUMNS) + 1)])
                continue
            ratio = row.get("ratio_to_sgbm", {})
            rows.append([row["backend"], *[_ms(row["stages"].get(stage)) for stage in _STAGE_COLUMNS],
                         _ms(row["total"]), f"{_f(ratio.get('total'), 2)} ({_f(ratio.get('match'), 2)})"])
            if "network_split" in row:
                split = row["network_split"]
                splits.append([resolution["size"], row.get("model", ""),
                               *[_ms(split.get(part)) for part in NETWORK_SPLIT_PARTS]])
        lines += _table(["backend", *_STAGE_COLUMNS, "total", "× SGBM total (match)"], rows) + [""]
    if splits:
        lines += ["Network split (inside match): one pass gives both views; post_checked runs the LR check "
                  "at model resolution", ""]
        lines += _table(["size", "file", *NETWORK_SPLIT_PARTS], splits) + [""]
    return lines


def _node_lines(node: Mapping[str, Any]) -> list[str]:
    lines = ["## End to end through the node (DDS)", ""]
    if _skipped(node):
        return lines + [node["skipped"], ""]
    lines += [f"{node.get('size')} raw pairs + CameraInfo at {_f(node.get('rate_hz'), 0)} Hz for "
              f"{_f(node.get('seconds'), 0)} s after {_f(node.get('warmup_s'), 0)} s of warm-up; latency = arrival "
              "- image stamp (median / p90 ms); rate = sustained output rate.", ""]
    rows, failures = [], []
    for run in node.get("runs", []):
        if "failed" in run and "disparity" not in run:
            failures.append(f"- {run['backend']}: {run['failed'].splitlines()[0]}")
            continue
        disparity, points = run.get("disparity", {}), run.get("points2", {})
        rows.append([run["backend"], _f(run.get("input_rate_hz")), _f(disparity.get("sustained_rate_hz"), 2),
                     _f(disparity.get("answered_percent")), _latency(disparity), _latency(points),
                     _f(run.get("peak_rss_mb"), 0)])
        if "failed" in run:
            failures.append(f"- {run['backend']}: {run['failed'].splitlines()[0]}")
    if rows:
        lines += _table(["backend", "input Hz", "output Hz", "pairs answered %", "latency disparity ms",
                         "latency points2 ms", "peak RSS MB"], rows) + [""]
    return lines + failures + ([""] if failures else [])


def _latency(output: Mapping[str, Any]) -> str:
    latency = output.get("latency", {})
    return _ms(latency) if latency else "–"


def _model_lines(model: Mapping[str, Any]) -> list[str]:
    lines = ["## Model", ""]
    if _skipped(model):
        return lines + [model["skipped"], ""]
    lines += [f"Model card: version {model.get('model_version')}, training step {model.get('training_step')}, "
              f"{model.get('parameters')} parameters, max disparity {model.get('max_disparity_px')} px at the "
              "model input. FLOPs = 2 x MACs (MACs from the card).", ""]
    lines += _table(["file", "input", "size MB", "ONNX initializer elements", "GMACs / pass", "GFLOPs / pass"],
                    [[f["file"], f["input"], _f(f["size_mb"], 2), str(f.get("onnx_initializer_elements")),
                      _f(f.get("gmacs_per_pass"), 2), _f(f.get("gflops_per_pass"), 2)] for f in model["files"]])
    lines += [""] + _table(["resolution", "runs on", "GFLOPs / frame (one pass, both views)"],
                           [[r["size"], r["model"], _f(r.get("gflops_per_pass"), 2)] for r in model["per_resolution"]])
    return lines + [""]


def render_markdown(results: Mapping[str, Any]) -> str:
    """The whole report as markdown."""
    meta = results.get("meta", {})
    lines = ["# stereo_depth_ros benchmark", "",
             f"{meta.get('date_utc')}; {meta.get('cpu')} ({meta.get('cpu_count')} logical CPUs); load average "
             f"{meta.get('load_average_start')} at start, {meta.get('load_average_end')} at the end; "
             f"onnxruntime {meta.get('onnxruntime')}, OpenCV {meta.get('opencv')}, numpy {meta.get('numpy')}; "
             f"commit {meta.get('git_commit')}.", ""]
    if meta.get("busy_note"):
        lines += [f"**{meta['busy_note']}**", ""]
    lines += [f"Command: `{meta.get('command')}`", ""]
    target_rows = [[t["name"], t["bar"], t["measured"], t["status"]] for t in results.get("targets", [])]
    if target_rows:
        lines += ["## Targets", ""] + _table(["target", "bar", "measured", "status"], target_rows) + [""]
    accuracy = results.get("accuracy")
    if accuracy is not None:
        lines += ["## Accuracy (zero-shot)", "",
                  "bad-N = % of ground-truth pixels with |error| > N px, pixels without a prediction counted as "
                  "errors; EPE over predicted pixels; density = % of ground-truth pixels predicted.", ""]
        if _skipped(accuracy):
            lines += [accuracy["skipped"], ""]
        else:
            motorcycle, synthetic = accuracy.get("motorcycle"), accuracy.get("synthetic")
            if motorcycle:
                network = Path(motorcycle["model"]).name if motorcycle.get("model") else "–"
                lines += _accuracy_lines(f"Middlebury 2014 Motorcycle ({motorcycle['image_size']}, "
                                         f"network file {network})", motorcycle)
            if synthetic:
                lines += _accuracy_lines(f"Held-out synthetic: {len(synthetic['scenes'])} scenes at "
                                         f"{synthetic['image_size']} (never trained on)", synthetic)
                lines += _depth_lines(synthetic)
            if accuracy.get("synthetic_kinds"):
                lines += _kind_lines(accuracy["synthetic_kinds"])
    if results.get("speed") is not None:
        lines += _speed_lines(results["speed"], title="Speed on this CPU")
    if results.get("node") is not None:
        lines += _node_lines(results["node"])
    if results.get("model") is not None:
        lines += _model_lines(results["model"])
    if results.get("gpu") is not None:
        lines += _speed_lines(results["gpu"], title="GPU") if not _skipped(results["gpu"]) else \
            ["## GPU", "", results["gpu"]["skipped"], ""]
    if results.get("plots_note"):
        lines += [f"Plots: {results['plots_note']}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- plots

def write_plots(results: Mapping[str, Any], maps: Mapping[str, Mapping[str, np.ndarray]],
                ground_truth_px: np.ndarray | None, out_dir: Path) -> tuple[list[str], str]:
    """PNG plots of the run; returns (written file names, a note when matplotlib is missing).

    Args:
        results: the report dict.
        maps: Motorcycle disparity maps, {method key: {"lr_off"/"lr_on": (H, W) px, NaN invalid}}.
        ground_truth_px: Motorcycle's ground truth, (H, W) px, inf = unknown; None to skip that plot.
        out_dir: where the PNGs go.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "not written: matplotlib is not installed (pip install matplotlib)"
    written = []
    for resolution in _get(results, "speed", "resolutions") or []:
        rows = [r for r in resolution["backends"] if "stages" in r]
        if not rows:
            continue
        figure, axes = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.5))
        left = np.zeros(len(rows))
        for stage in _STAGE_COLUMNS:
            values = np.array([_number(_get(r, "stages", stage, "median_ms")) or 0.0 for r in rows])
            axes.barh([r["backend"] for r in rows], values, left=left, label=stage)
            left += values
        axes.set_xlabel("median ms per frame")
        axes.set_title(f"Per-stage time at {resolution['size']} (this CPU)")
        axes.legend(fontsize=7, ncol=4)
        figure.tight_layout()
        name = f"speed_{resolution['size']}.png"
        figure.savefig(out_dir / name, dpi=110)
        plt.close(figure)
        written.append(name)
    if maps and ground_truth_px is not None:
        keys = list(maps)
        figure, axes = plt.subplots(len(keys) + 1, 2, figsize=(8, 2.6 * (len(keys) + 1)))
        limit = float(np.nanmax(np.where(np.isfinite(ground_truth_px), ground_truth_px, np.nan)))
        labels = {m["key"]: m["label"] for m in _get(results, "accuracy", "motorcycle", "methods") or []}
        axes[0, 0].imshow(np.where(np.isfinite(ground_truth_px), ground_truth_px, np.nan), vmin=0, vmax=limit,
                          cmap="turbo")
        axes[0, 0].set_title("ground truth", fontsize=8)
        axes[0, 1].axis("off")
        for row, key in enumerate(keys, start=1):
            for column, label in enumerate(("lr_off", "lr_on")):
                axes[row, column].imshow(maps[key][label], vmin=0, vmax=limit, cmap="turbo")
                axes[row, column].set_title(f"{labels.get(key, key)}, LR check {label[3:]}", fontsize=8)
        for axis in axes.ravel():
            axis.set_xticks([])
            axis.set_yticks([])
        figure.tight_layout()
        figure.savefig(out_dir / "motorcycle_disparity.png", dpi=90)
        plt.close(figure)
        written.append("motorcycle_disparity.png")
    synthetic = _get(results, "accuracy", "synthetic")
    if synthetic and synthetic.get("depth_edges_m"):
        figure, axes = plt.subplots(figsize=(7, 4))
        edges = synthetic["depth_edges_m"]
        names = [f"{lo:g}-{hi if isinstance(hi, str) else format(hi, 'g')}"
                 for lo, hi in zip(edges, edges[1:], strict=False)]
        for method in synthetic["methods"]:
            errors = [_number(e.get("median_rel_error_percent")) or np.nan for e in method.get("depth_lr_on", [])]
            axes.plot(names, errors, marker="o", label=method["label"])
        axes.set_yscale("log")
        axes.set_xlabel("true depth, m")
        axes.set_ylabel("median relative depth error, %")
        axes.set_title("Held-out synthetic, after LR check")
        axes.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(out_dir / "synthetic_depth_error.png", dpi=110)
        plt.close(figure)
        written.append("synthetic_depth_error.png")
    runs = [r for r in _get(results, "node", "runs") or [] if r.get("disparity", {}).get("latencies_ms")]
    if runs:
        figure, axes = plt.subplots(figsize=(7, 4))
        axes.boxplot([r["disparity"]["latencies_ms"] for r in runs])
        axes.set_xticks(range(1, len(runs) + 1), [r["backend"] for r in runs])
        axes.set_ylabel("image stamp to disparity arrival, ms")
        axes.set_title("Latency through the node (DDS)")
        figure.tight_layout()
        figure.savefig(out_dir / "node_latency.png", dpi=110)
        plt.close(figure)
        written.append("node_latency.png")
    return written, ""


def dump_json(results: Mapping[str, Any], path: Path) -> None:
    """Write the results as strict JSON (NaN as null)."""
    path.write_text(json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n")
