"""stereo_depth_benchmark: its helpers on hand-made values, and the whole tool on a tiny configuration.

Nothing here asserts a timing: the machine is shared and busy. The end-to-end
runs check the report's structure and that its values are sane (finite where
measured, percentages in [0, 100], bad-1 >= bad-2 >= bad-3, ...).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from stereo_depth_ros.tools.benchmark_metrics import (
    ModelFile,
    check_target,
    choose_model,
    depth_error_by_range,
    parse_size,
    simulated_lidar_hints,
    stamp_ns_from_cdr,
    summarize_ms,
    sustained_rate_hz,
)
from stereo_depth_ros.tools.errors import UsageError

NAN, INF = np.nan, np.inf


# ------------------------------------------------------------------ helpers on hand-made values

def test_summarize_ms_gives_median_p90_mean_and_drops_non_finite_samples() -> None:
    stats = summarize_ms([5.0, 1.0, NAN, 3.0, 2.0, 4.0, 10.0, 7.0, 6.0, 8.0, 9.0, INF])
    assert stats.n == 10
    assert stats.median_ms == pytest.approx(5.5)
    assert stats.p90_ms == pytest.approx(9.1)  # linear between the 9th (9) and 10th (10) of 10
    assert stats.mean_ms == pytest.approx(5.5)
    assert (stats.min_ms, stats.max_ms) == (1.0, 10.0)


def test_summarize_ms_of_nothing_is_nan_not_zero() -> None:
    stats = summarize_ms([])
    assert stats.n == 0 and math.isnan(stats.median_ms) and math.isnan(stats.p90_ms)


def test_sustained_rate_counts_intervals_between_arrivals() -> None:
    # 5 arrivals over 0.4 s = 4 intervals of 0.1 s -> 10 Hz, whatever the order
    assert sustained_rate_hz([400_000_000, 0, 100_000_000, 300_000_000, 200_000_000]) == pytest.approx(10.0)
    assert math.isnan(sustained_rate_hz([5]))
    assert math.isnan(sustained_rate_hz([7, 7]))


def test_depth_error_by_range_on_a_hand_made_map() -> None:
    # true depths 0.5, 1.5, 1.5, 3 (NaN, inf and 0 are unknown); predictions: 0.6, 1.2, NaN, 3.3
    gt = np.array([[0.5, 1.5, NAN, 0.0],
                   [1.5, 3.0, INF, 9.0]])
    pred = np.array([[0.6, 1.2, 2.0, 1.0],
                     [NAN, 3.3, 5.0, NAN]], dtype=np.float32)
    near, middle, far = depth_error_by_range(pred, gt, [0.0, 1.0, 2.0, INF])
    assert (near.num_gt_px, middle.num_gt_px, far.num_gt_px) == (1, 2, 2)
    assert near.median_abs_error_m == pytest.approx(0.1, abs=1e-6)
    assert near.mean_rel_error_percent == pytest.approx(20.0, abs=1e-4)
    assert middle.density_percent == pytest.approx(50.0)  # one of the two 1.5 m pixels predicted
    assert middle.mean_abs_error_m == pytest.approx(0.3, abs=1e-6)
    assert middle.median_rel_error_percent == pytest.approx(20.0, abs=1e-4)
    assert far.density_percent == pytest.approx(50.0)  # 3 m kept, 9 m missing
    assert far.mean_rel_error_percent == pytest.approx(10.0, abs=1e-4)
    assert far.as_dict()["high_m"] == "inf"


def test_depth_error_of_an_empty_range_is_nan() -> None:
    (empty,) = depth_error_by_range(np.array([[1.0]]), np.array([[1.0]]), [5.0, 10.0])
    assert empty.num_gt_px == 0 and math.isnan(empty.density_percent) and math.isnan(empty.median_abs_error_m)


def test_depth_error_rejects_bad_edges_and_shapes() -> None:
    with pytest.raises(UsageError, match="increasing"):
        depth_error_by_range(np.ones((2, 3)), np.ones((2, 3)), [2.0, 1.0])
    with pytest.raises(UsageError, match="same"):
        depth_error_by_range(np.ones((2, 3)), np.ones((3, 2)), [0.0, 1.0])


def test_simulated_lidar_hints_pick_the_requested_share_of_known_pixels_with_the_requested_noise() -> None:
    rng = np.random.default_rng(5)
    gt = rng.uniform(5.0, 60.0, size=(300, 420)).astype(np.float32)
    gt[:40] = np.inf  # unknown rows never get a hint
    hints = simulated_lidar_hints(gt, fraction=0.02, noise_px=0.5, seed=11)
    assert hints.dtype == np.float32 and hints.shape == gt.shape
    has_hint = np.isfinite(hints)
    assert has_hint.sum() == round(0.02 * np.isfinite(gt).sum())
    assert not has_hint[:40].any()
    noise = hints[has_hint] - gt[has_hint]
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_array_equal(hints, simulated_lidar_hints(gt, fraction=0.02, noise_px=0.5, seed=11))
    assert not np.array_equal(np.isfinite(hints),
                              np.isfinite(simulated_lidar_hints(gt, fraction=0.02, noise_px=0.5, seed=12)))


def test_simulated_lidar_hints_are_never_negative() -> None:
    hints = simulated_lidar_hints(np.zeros((10, 12)), fraction=1.0, noise_px=3.0, seed=0)
    assert np.all(hints >= 0.0) and np.isfinite(hints).all()


def test_choose_model_takes_the_smallest_that_holds_the_image_else_the_largest() -> None:
    models = [ModelFile(Path("m640.onnx"), (480, 640), 1), ModelFile(Path("m768.onnx"), (512, 768), 2),
              ModelFile(Path("m1280.onnx"), (736, 1280), 3)]
    assert choose_model((480, 640), models).path.name == "m640.onnx"
    assert choose_model((500, 741), models).path.name == "m768.onnx"   # Motorcycle: pad, no shrink
    assert choose_model((720, 1280), models).path.name == "m1280.onnx"
    assert choose_model((1080, 1920), models).path.name == "m1280.onnx"  # nothing holds it: largest
    assert choose_model((720, 1280), models[:1]).path.name == "m640.onnx"
    with pytest.raises(UsageError):
        choose_model((480, 640), [])


def test_check_target_passes_falls_short_or_says_not_measured() -> None:
    assert check_target("net", 55.0, limit=60.0, direction="at_most", unit="ms").status == "pass"
    assert check_target("net", 60.0, limit=60.0, direction="below", unit="ms").status == "short"
    short = check_target("rate", 4.25, limit=10.0, direction="at_least", unit="Hz", decimals=2)
    assert (short.status, short.bar, short.measured) == ("short", ">= 10 Hz", "4.25 Hz")
    assert check_target("rss", NAN, limit=600.0, direction="at_most", unit="MB").status == "n/a"
    assert check_target("rss", None, limit=600.0, direction="at_most", unit="MB").measured == "not measured"


def test_parse_size_reads_width_x_height() -> None:
    assert parse_size("1280x720") == (720, 1280)
    for bad in ("1280", "x720", "0x10", "12.5x3"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_stamp_is_read_from_serialized_header_without_deserializing() -> None:
    serialization = pytest.importorskip("rclpy.serialization")
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    message = PointCloud2(header=Header(stamp=Time(sec=1_700_000_123, nanosec=456_789_012), frame_id="left"),
                          height=2, width=3)
    assert stamp_ns_from_cdr(serialization.serialize_message(message)) == 1_700_000_123_456_789_012
    with pytest.raises(ValueError):
        stamp_ns_from_cdr(b"\x00\x01\x00\x00")
