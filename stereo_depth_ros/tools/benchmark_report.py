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

from stereo_depth_ros.tools.benchmark_accuracy import AccuracySettings
from stereo_depth_ros.tools.benchmark_metrics import TargetResult, check_target
from stereo_depth_ros.tools.benchmark_node import SMALL_INFERENCE_RUN
from stereo_depth_ros.tools.benchmark_speed import NETWORK_SPLIT_PARTS

__all__ = ["LARGE_SIZE", "TARGET_SIZE", "dump_json", "json_safe", "render_markdown", "targets", "write_plots"]

#: The resolution the speed targets refer to.
TARGET_SIZE: Final = "640x480"
#: The large input size of the rate target (the speed section's second default size).
LARGE_SIZE: Final = "1280x720"
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
    """The issues' bars (10 and 11) against this run, each speed figure beside SGBM's from the same run.

    Rows: the network alone (the ``onnx`` speed row's split: one pass, left view); the node's default
    configuration (speed row, node run and accuracy method ``default``); the LR check's cost
    (``default+lr`` / ``default`` median total); the LR-checked network with full-size classical hints on
    Motorcycle (method ``onnx_classical``); the node default's depth bias and relative error on the
    held-out synthetic scenes (``_depth_targets``); the default pipeline at ``LARGE_SIZE``; the node's
    default at the ``SMALL_INFERENCE_RUN`` inference size. A row whose figure was not measured is "n/a",
    never a pass.
    """
    def speed(size: str, backend: str) -> Any:
        return _get(results, "speed", "resolutions", _by("size", size), "backends", _by("backend", backend))

    def node(run: str) -> Any:
        return _get(results, "node", "runs", _by("backend", run))

    def total_ms(row: Any) -> float | None:
        return _number(_get(row, "total", "median_ms"))

    default, default_lr, sgbm = (speed(TARGET_SIZE, name) for name in ("default", "default+lr", "sgbm"))
    node_default, node_sgbm = node("default"), node("sgbm")
    input_hz = _number(_get(results, "node", "rate_hz"))
    motorcycle = _get(results, "accuracy", "motorcycle", "methods")
    rows = [
        check_target(f"network alone at {TARGET_SIZE}, median (onnx row: one pass, left view, no hints)",
                     _number(_get(speed(TARGET_SIZE, "onnx"), "network_split", "network", "median_ms")),
                     limit=60.0, direction="at_most", unit="ms"),
        _noted(check_target(f"whole pipeline at {TARGET_SIZE}, median, node default (rectify .. serialize)",
                            total_ms(default), limit=100.0, direction="at_most", unit="ms"),
               _sgbm(total_ms(sgbm), "ms")),
    ]
    plain_ms, checked_ms = total_ms(default), total_ms(default_lr)
    ratio = checked_ms / plain_ms if plain_ms and checked_ms is not None else None
    lr_cost = check_target(f"LR check cost at {TARGET_SIZE}: median total default+lr / default",
                           ratio, limit=1.15, direction="at_most", unit="", decimals=2)
    rows.append(_noted(lr_cost, f"{_f(checked_ms)} / {_f(plain_ms)} ms"))
    rows += [
        _noted(check_target("node default: sustained disparity rate",
                            _number(_get(node_default, "disparity", "sustained_rate_hz")),
                            limit=10.0, direction="at_least", unit="Hz", decimals=2),
               f"input {_f(input_hz, 0)} Hz",
               _sgbm(_number(_get(node_sgbm, "disparity", "sustained_rate_hz")), "Hz", decimals=2)),
        _noted(check_target("node default: latency p90, image stamp to disparity arrival",
                            _number(_get(node_default, "disparity", "latency", "p90_ms")),
                            limit=200.0, direction="at_most", unit="ms"),
               _sgbm(_number(_get(node_sgbm, "disparity", "latency", "p90_ms")), "ms")),
        _noted(check_target("node default: peak RSS (VmHWM)", _number(_get(node_default, "peak_rss_mb")),
                            limit=600.0, direction="at_most", unit="MB", decimals=0),
               _sgbm(_number(_get(node_sgbm, "peak_rss_mb")), "MB", decimals=0)),
    ]
    sgbm_bad2 = _number(_get(motorcycle, _by("key", "sgbm_sip"), "lr_off", "bad2"))
    limit = 0.5 * sgbm_bad2 if sgbm_bad2 is not None else float("nan")
    dense = check_target("Motorcycle dense bad-2 (LR check off), network as the node default",
                         _number(_get(motorcycle, _by("key", "default"), "lr_off", "bad2")),
                         limit=limit, direction="at_most", unit="%")
    rows.append(TargetResult(name=dense.name, measured=dense.measured,
                             bar=f"<= half of stereo_image_proc SGBM's {sgbm_bad2 or float('nan'):.1f} % "
                                 f"= {limit:.1f} %", status=dense.status if sgbm_bad2 is not None else "n/a"))
    hinted = _get(motorcycle, _by("key", "onnx_classical"))
    scale = _number(_get(hinted, "classical_hint_scale"))
    for what, key, bar in (("density", "density_percent", 87.0), ("bad-2 among kept pixels", "bad2_kept", 4.3)):
        target = check_target(f"Motorcycle, LR check on, network + full-size classical hints: {what}",
                              _number(_get(hinted, "lr_on", key)), limit=bar,
                              direction="at_least" if key == "density_percent" else "at_most", unit="%",
                              decimals=2)
        if scale is not None and scale != 1.0:
            target = TargetResult(name=target.name, bar=target.bar, status="n/a",
                                  measured=f"not measured: hints at {scale:g}x (--classical-hint-scale)")
        rows.append(target)
    rows += _depth_targets(_get(results, "accuracy", "synthetic"))
    large = speed(LARGE_SIZE, "default")
    large_ms, sgbm_large_ms = total_ms(large), total_ms(speed(LARGE_SIZE, "sgbm"))
    rate = check_target(f"default pipeline at {LARGE_SIZE} input: 1000 / median total (speed section, not "
                        "through the node)", 1000.0 / large_ms if large_ms else None, limit=4.0,
                        direction="at_least", unit="Hz", decimals=2)
    model = _get(large, "model")
    rows.append(_noted(rate, f"network file {model}" if model else "",
                       _sgbm(1000.0 / sgbm_large_ms if sgbm_large_ms else None, "Hz", decimals=2)))
    small = node(SMALL_INFERENCE_RUN)
    rows.append(_noted(check_target(f"node default at the {SMALL_INFERENCE_RUN.partition('@')[2]} inference size "
                                    f"({SMALL_INFERENCE_RUN} run): sustained disparity rate",
                                    _number(_get(small, "disparity", "sustained_rate_hz")),
                                    limit=15.0, direction="at_least", unit="Hz", decimals=2),
                       f"input {_f(input_hz, 0)} Hz",
                       _sgbm(_number(_get(node_sgbm, "disparity", "sustained_rate_hz")), "Hz", decimals=2)))
    return rows


def _depth_targets(synthetic: Any) -> list[TargetResult]:
    """Issue 10's depth bars on the held-out synthetic depth table, pooled over ``depth_target_range_m``
    (LR check on, as the table): the node default's median signed error within +-0.3 %, and its median
    relative error no worse than our SGBM's (``sgbm_padded``, the node's ``sgbm`` backend) in the same run."""
    low, high = (_get(synthetic, "depth_target_range_m") or AccuracySettings.depth_target_range_m)[:2]
    where = f"held-out synthetic depth at {low:g}-{high:g} m, node default, LR check on"
    default = _get(synthetic, "methods", _by("key", "default"), "depth_lr_on_target_range")
    sgbm = _get(synthetic, "methods", _by("key", "sgbm_padded"), "depth_lr_on_target_range")
    bias = check_target(f"{where}: median signed error", _number(_get(default, "median_signed_error_percent")),
                        limit=0.3, direction="within", unit="%", decimals=2)
    sgbm_rel = _number(_get(sgbm, "median_rel_error_percent"))
    relative = check_target(f"{where}: median relative error",
                            _number(_get(default, "median_rel_error_percent")) if sgbm_rel is not None else None,
                            limit=sgbm_rel if sgbm_rel is not None else float("nan"), direction="at_most",
                            unit="%", decimals=2)
    return [bias, TargetResult(name=relative.name, measured=relative.measured, status=relative.status,
                               bar=f"<= SGBM's (ours, padded) {_f(sgbm_rel, 2)} %")]


def _noted(target: TargetResult, *notes: str) -> TargetResult:
    """``target`` with the non-empty notes in brackets after its measured value (only when it was measured)."""
    text = "; ".join(note for note in notes if note)
    if target.status == "n/a" or not text:
        return target
    return TargetResult(name=target.name, bar=target.bar, measured=f"{target.measured} ({text})",
                        status=target.status)


def _sgbm(value: float | None, unit: str, *, decimals: int = 1) -> str:
    """"SGBM <value> <unit>" (SGBM's figure from the same run), or "" when it was not measured."""
    return "" if value is None or not math.isfinite(value) else f"SGBM {value:.{decimals}f} {unit}"


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
                 f"{_f(rig.get('baseline_m'), 3)} m): median absolute error m / median relative error % / "
                 "median signed error % (density %), by true depth; signed < 0 = too near", ""]
    target_range = dataset.get("depth_target_range_m")
    if target_range:
        ranges.append(f"{target_range[0]:g}–{target_range[1]:g} m (targets)")
    rows = []
    for method in dataset["methods"]:
        cells = [method["label"]]
        entries = list(method.get("depth_lr_on", []))
        if target_range:
            entries.append(method.get("depth_lr_on_target_range", {}))
        for entry in entries:
            cells.append(f"{_f(entry.get('median_abs_error_m'), 3)} / {_f(entry.get('median_rel_error_percent'))} / "
                         f"{_f(entry.get('median_signed_error_percent'), 2)} ({_f(entry.get('density_percent'), 0)})")
        rows.append(cells)
    return lines + _table(["method", *ranges], rows) + [""]


def _speed_lines(speed: Mapping[str, Any], *, title: str) -> list[str]:
    lines = [f"## {title}", ""]
    if _skipped(speed):
        return lines + [speed["skipped"], ""]
    lines += [f"median / p90 ms over {speed.get('frames')} frames after {speed.get('warmup')} warm-up frames; "
              f"classical search range {speed.get('classical_num_disparities')} px; raw pairs of a distorted rig "
              "(rectify is a real remap); default = the node's default settings, default+lr the same with the "
              "LR check; total = rectify .. serialize.", ""]
    if speed.get("pack_note"):
        lines += [f"Message packing: {speed['pack_note']}", ""]
    splits = []
    for resolution in speed.get("resolutions", []):
        lines += [f"### {resolution['size']}" + (f" (network file {resolution['model']})" if resolution.get("model")
                                                  else ""), ""]
        rows = []
        for row in resolution["backends"]:
            if "skipped" in row:
                rows.append([row["backend"], row["skipped"], *[""] * (len(_STAGE_COLUMNS) + 2)])
                continue
            ratio = row.get("ratio_to_sgbm", {})
            rows.append([row["backend"], row.get("configuration", "–"),
                         *[_ms(row["stages"].get(stage)) for stage in _STAGE_COLUMNS],
                         _ms(row["total"]), f"{_f(ratio.get('total'), 2)} ({_f(ratio.get('match'), 2)})"])
            if "network_split" in row:
                split = row["network_split"]
                splits.append([resolution["size"], row.get("model", ""),
                               *[_ms(split.get(part)) for part in NETWORK_SPLIT_PARTS]])
        lines += _table(["backend", "configuration", *_STAGE_COLUMNS, "total", "× SGBM total (match)"],
                        rows) + [""]
    if splits:
        lines += ["Network split (inside match): one pass; with the right view for the LR check, which "
                  "post_checked runs at model resolution", ""]
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
        rows.append([run["backend"], run.get("configuration", "–"), _f(run.get("input_rate_hz")),
                     _f(disparity.get("sustained_rate_hz"), 2),
                     _f(disparity.get("answered_percent")), _latency(disparity), _latency(points),
                     _f(run.get("peak_rss_mb"), 0), _f(run.get("cpu_percent"), 0),
                     _f(run.get("cpu_ms_per_output"), 0)])
        if "failed" in run:
            failures.append(f"- {run['backend']}: {run['failed'].splitlines()[0]}")
    if rows:
        lines += _table(["run", "node configuration", "input Hz", "output Hz", "pairs answered %",
                         "latency disparity ms", "latency points2 ms", "peak RSS MB", "node CPU % of a core",
                         "node CPU ms per output"], rows) + [""]
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
