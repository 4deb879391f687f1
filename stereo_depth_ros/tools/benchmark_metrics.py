"""Pure helpers of ``stereo_depth_benchmark``: timing statistics, depth error by range,
simulated LiDAR hints, model choice, output rate and target checks (numpy only, no ROS).

Conventions are the package's: disparity d = x_left - x_right in px, depth in
metres along the left rectified optical axis, NaN = invalid; timings in
milliseconds, stamps in nanoseconds. Empty sets give NaN, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from stereo_depth_ros.core.sizes import parse_wxh
from stereo_depth_ros.core.stamps import NS_PER_S
from stereo_depth_ros.tools.errors import UsageError

__all__ = [
    "DepthRangeError",
    "ModelFile",
    "TargetResult",
    "TimingStats",
    "check_target",
    "choose_model",
    "depth_error_by_range",
    "describe_configuration",
    "parse_size",
    "simulated_lidar_hints",
    "summarize_ms",
    "sustained_rate_hz",
]

def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` (width x height, px) -> (height, width).

    Raises:
        UsageError: not two positive integers joined by ``x``.

    >>> parse_size("640x480")
    (480, 640)
    """
    try:
        width, height = parse_wxh(text)
    except ValueError as err:
        raise UsageError(str(err)) from err
    return height, width


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated timings of one stage.

    Attributes:
        median_ms, p90_ms, mean_ms, min_ms, max_ms: milliseconds; NaN when ``n`` is 0.
        n: number of samples.
    """

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """Flat dict for the JSON report."""
        return {"median_ms": self.median_ms, "p90_ms": self.p90_ms, "mean_ms": self.mean_ms,
                "min_ms": self.min_ms, "max_ms": self.max_ms, "n": self.n}


def summarize_ms(samples_ms: Sequence[float]) -> TimingStats:
    """Median, 90th percentile (linear interpolation), mean, min and max of timings.

    Args:
        samples_ms: timings, ms; non-finite samples are dropped.

    >>> summarize_ms([1.0, 2.0, 3.0, 4.0, 10.0]).median_ms
    3.0
    """
    values = np.asarray(samples_ms, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = float("nan")
        return TimingStats(nan, nan, nan, nan, nan, 0)
    return TimingStats(median_ms=float(np.median(values)), p90_ms=float(np.percentile(values, 90.0)),
                       mean_ms=float(values.mean()), min_ms=float(values.min()), max_ms=float(values.max()),
                       n=int(values.size))


def sustained_rate_hz(arrival_ns: Sequence[int]) -> float:
    """Output rate over a window of arrivals: (n - 1) / (last - first), Hz; NaN for fewer than 2.

    Args:
        arrival_ns: arrival times, ns (any order).

    >>> sustained_rate_hz([0, 100_000_000, 200_000_000])
    10.0
    """
    if len(arrival_ns) < 2:
        return float("nan")
    span_ns = max(arrival_ns) - min(arrival_ns)
    return (len(arrival_ns) - 1) * NS_PER_S / span_ns if span_ns > 0 else float("nan")


@dataclass(frozen=True)
class DepthRangeError:
    """Depth error over the pixels whose true depth lies in [low_m, high_m).

    Attributes:
        low_m, high_m: the range of true depth, metres (high may be inf).
        num_gt_px: pixels with a true depth in the range.
        density_percent: % of them with a predicted depth.
        median_abs_error_m, mean_abs_error_m: |pred - true| over kept pixels, metres.
        median_rel_error_percent, mean_rel_error_percent: |pred - true| / true, % over kept pixels.
        median_signed_error_percent: (pred - true) / true, % over kept pixels: the bias (negative = too near).
    """

    low_m: float
    high_m: float
    num_gt_px: int
    density_percent: float
    median_abs_error_m: float
    mean_abs_error_m: float
    median_rel_error_percent: float
    mean_rel_error_percent: float
    median_signed_error_percent: float

    def as_dict(self) -> dict[str, float | str]:
        """Flat dict for the JSON report (inf written as the string "inf")."""
        return {"low_m": self.low_m, "high_m": self.high_m if math.isfinite(self.high_m) else "inf",
                "num_gt_px": self.num_gt_px, "density_percent": self.density_percent,
                "median_abs_error_m": self.median_abs_error_m, "mean_abs_error_m": self.mean_abs_error_m,
                "median_rel_error_percent": self.median_rel_error_percent,
                "mean_rel_error_percent": self.mean_rel_error_percent,
                "median_signed_error_percent": self.median_signed_error_percent}


def depth_error_by_range(pred_depth_m: np.ndarray, gt_depth_m: np.ndarray,
                         edges_m: Sequence[float]) -> list[DepthRangeError]:
    """Absolute and relative depth error per range of true depth.

    Args:
        pred_depth_m: (H, W) float, metres; NaN = no prediction.
        gt_depth_m: (H, W) float, metres; NaN or inf = unknown.
        edges_m: increasing range edges, metres, >= 0; the last may be inf.
            Range i is [edges_m[i], edges_m[i + 1]).

    Returns:
        One :class:`DepthRangeError` per range; errors are NaN where nothing is kept.

    Raises:
        UsageError: shapes differ, or the edges are not increasing.

    >>> gt = np.array([[1.0, 2.0, 4.0]]); pred = np.array([[1.1, np.nan, 3.0]])
    >>> [round(r.mean_rel_error_percent, 3) for r in depth_error_by_range(pred, gt, [0, 3, np.inf])]
    [10.0, 25.0]
    >>> [round(r.median_signed_error_percent, 3) for r in depth_error_by_range(pred, gt, [0, 3, np.inf])]
    [10.0, -25.0]
    """
    pred = np.asarray(pred_depth_m, dtype=np.float64)
    gt = np.asarray(gt_depth_m, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise UsageError(f"pred_depth_m {pred.shape} and gt_depth_m {gt.shape} must be the same (H, W)")
    edges = [float(e) for e in edges_m]
    if len(edges) < 2 or edges[0] < 0 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise UsageError(f"depth range edges {list(edges_m)} must be >= 0 and increasing (at least two)")
    known = np.isfinite(gt) & (gt > 0)
    results = []
    for low, high in zip(edges, edges[1:], strict=False):
        in_range = known & (gt >= low) & (gt < high)
        kept = in_range & np.isfinite(pred)
        num_gt, num_kept = int(in_range.sum()), int(kept.sum())
        signed_error = 100.0 * (pred[kept] - gt[kept]) / gt[kept]
        abs_error = np.abs(pred[kept] - gt[kept])
        rel_error = np.abs(signed_error)
        nan = float("nan")
        results.append(DepthRangeError(
            low_m=low, high_m=high, num_gt_px=num_gt,
            density_percent=100.0 * num_kept / num_gt if num_gt else nan,
            median_abs_error_m=float(np.median(abs_error)) if num_kept else nan,
            mean_abs_error_m=float(abs_error.mean()) if num_kept else nan,
            median_rel_error_percent=float(np.median(rel_error)) if num_kept else nan,
            mean_rel_error_percent=float(rel_error.mean()) if num_kept else nan,
            median_signed_error_percent=float(np.median(signed_error)) if num_kept else nan))
    return results


def simulated_lidar_hints(gt_px: np.ndarray, *, fraction: float, noise_px: float,
                          seed: int) -> np.ndarray:
    """Sparse disparity hints as a LiDAR would give them: a random share of the ground truth, with noise.

    Picks ``round(fraction * n)`` of the n pixels with finite ground truth,
    without replacement, and adds Gaussian noise; noisy values below 0 are
    clipped to 0 (d = x_left - x_right >= 0 in front of the rig).

    Args:
        gt_px: (H, W) float, px; NaN or inf = unknown.
        fraction: share of the known pixels that get a hint, in [0, 1].
        noise_px: standard deviation of the added noise, px, >= 0.
        seed: seed of the random generator (same seed, same hints).

    Returns:
        (H, W) float32, px; NaN = no hint.

    Raises:
        UsageError: fraction outside [0, 1] or negative noise.
    """
    if not 0.0 <= fraction <= 1.0:
        raise UsageError(f"LiDAR hint fraction must be in [0, 1], got {fraction}")
    if not noise_px >= 0.0:
        raise UsageError(f"LiDAR hint noise must be >= 0 px, got {noise_px}")
    gt = np.asarray(gt_px, dtype=np.float64)
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(np.isfinite(gt))
    chosen = rng.choice(known, size=round(fraction * known.size), replace=False)
    values = gt.ravel()[chosen] + rng.normal(0.0, noise_px, size=chosen.size)
    hints = np.full(gt.size, np.nan, dtype=np.float32)
    hints[chosen] = np.maximum(values, 0.0)
    return hints.reshape(gt.shape)


@dataclass(frozen=True)
class ModelFile:
    """One exported network file.

    Attributes:
        path: the ``.onnx`` file.
        input_hw: (Hm, Wm) of its fixed input, px.
        macs: multiply-accumulates of one pass (batch 1) from the model card; None if unknown.
    """

    path: Path
    input_hw: tuple[int, int]
    macs: int | None


def choose_model(input_hw: tuple[int, int], models: Sequence[ModelFile]) -> ModelFile:
    """The model an (H, W) input runs best on: the smallest that holds it without shrinking, else the largest.

    Under the fit rule (shrink to fit, pad right/bottom) a model at least as
    large as the image keeps full resolution; among those the smallest does the
    least work. When none is large enough the largest loses the least detail.

    Raises:
        UsageError: ``models`` is empty.

    >>> small = ModelFile(Path("a.onnx"), (480, 640), None); big = ModelFile(Path("b.onnx"), (512, 768), None)
    >>> choose_model((500, 741), [small, big]).path.name, choose_model((480, 640), [small, big]).path.name
    ('b.onnx', 'a.onnx')
    """
    if not models:
        raise UsageError("no ONNX model files to choose from")
    height, width = input_hw

    def area(model: ModelFile) -> int:
        return model.input_hw[0] * model.input_hw[1]

    holding = [m for m in models if m.input_hw[0] >= height and m.input_hw[1] >= width]
    return min(holding, key=area) if holding else max(models, key=area)


TargetStatus = Literal["pass", "short", "n/a"]


@dataclass(frozen=True)
class TargetResult:
    """One target of the issue against what was measured.

    Attributes:
        name: what is measured, e.g. "network median at 640x480".
        bar: the target as text, e.g. "<= 60 ms".
        measured: the measured value as text (with its unit), or why there is none.
        status: "pass", "short" (measured and missed) or "n/a" (not measured).
    """

    name: str
    bar: str
    measured: str
    status: TargetStatus


def check_target(name: str, value: float | None, *, limit: float,
                 direction: Literal["at_most", "at_least", "below", "above", "within"], unit: str,
                 decimals: int = 1) -> TargetResult:
    """Compare one measured value with its bar; a missing or NaN value is "n/a", never a pass.

    ``within``: |value| <= limit (a bias either way), the value shown with its sign.

    >>> check_target("rate", 4.0, limit=10.0, direction="at_least", unit="Hz").status
    'short'
    >>> check_target("bias", -0.56, limit=0.3, direction="within", unit="%", decimals=2).measured
    '-0.56 %'
    """
    symbol = {"at_most": "<=", "at_least": ">=", "below": "<", "above": ">", "within": "within +-"}[direction]
    bar = f"{symbol}{'' if direction == 'within' else ' '}{limit:g} {unit}".rstrip()
    if value is None or not math.isfinite(value):
        return TargetResult(name=name, bar=bar, measured="not measured", status="n/a")
    passed = {"at_most": value <= limit, "at_least": value >= limit,
              "below": value < limit, "above": value > limit, "within": abs(value) <= limit}[direction]
    shown = f"{value:+.{decimals}f}" if direction == "within" else f"{value:.{decimals}f}"
    return TargetResult(name=name, bar=bar, measured=f"{shown} {unit}".rstrip(),
                        status="pass" if passed else "short")


def describe_configuration(*, hints: str, classical_hint_scale: float, lr_check: bool | None = None) -> str:
    """Hints (and the left-right check) of a network configuration in words, for the report.

    Args:
        hints: the pipeline's hint source ("none", "classical", "lidar" or "both").
        classical_hint_scale: fraction of the image size the classical hints are matched at, (0, 1].
        lr_check: the left-right check; None = leave it out.

    >>> describe_configuration(hints="classical", classical_hint_scale=0.5, lr_check=False)
    'classical hints at 0.5x, LR check off'
    """
    classical = f"classical hints at {classical_hint_scale:g}x"
    words = {"none": "no hints", "classical": classical, "lidar": "LiDAR hints",
             "both": f"LiDAR + {classical}"}
    if hints not in words:
        raise UsageError(f"unknown hint source {hints!r}; choose from {list(words)}")
    return words[hints] if lr_check is None else f"{words[hints]}, LR check {'on' if lr_check else 'off'}"
