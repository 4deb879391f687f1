"""stereo_bag_evaluate: scores equal core.metrics on the same arrays; pairing by stamp; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tool_helpers import START_TIME_NS, SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH

from stereo_depth_ros.core.metrics import evaluate_disparity
from stereo_depth_ros.ros.bag_io import BagReader, BagWriter, disparity_px_from_message
from stereo_depth_ros.ros.messages import disparity_image_message
from stereo_depth_ros.ros.stamps import time_from_ns
from stereo_depth_ros.tools.bag_evaluate import evaluate_bags, main
from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig
from stereo_depth_ros.tools.errors import EXIT_CODES

RIG = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)


def ground_truth(bag: Path) -> dict[int, np.ndarray]:
    with BagReader(bag) as reader:
        messages = [m.deserialize() for m in reader.messages(["ground_truth/disparity"])]
    return {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: disparity_px_from_message(
        m, cx_offset_px=RIG.cx_offset_px) for m in messages}


def write_predictions(path: Path, predictions: dict[int, np.ndarray]) -> None:
    with BagWriter(path) as writer:
        for stamp, disparity in predictions.items():
            writer.write("disparity", disparity_image_message(disparity, RIG, stamp=time_from_ns(stamp),
                                                              min_disparity_px=0.0, max_disparity_px=64.0,
                                                              delta_d_px=0.0), stamp)


def noisy(truth: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Inside the stated search range [0, 64] px, so the message keeps every value.
    prediction = np.clip(truth + rng.normal(0.0, 1.5, truth.shape), 0.0, 64.0).astype(np.float32)
    prediction[rng.random(truth.shape) < 0.2] = np.nan
    return prediction


def test_scores_equal_core_metrics_on_the_same_arrays(synthetic_bag: Path, tmp_path: Path) -> None:
    truth = ground_truth(synthetic_bag)
    predictions = {stamp: noisy(gt, index) for index, (stamp, gt) in enumerate(truth.items())}
    del predictions[START_TIME_NS + 100_000_000]  # a frame the node dropped
    predictions[START_TIME_NS + 1] = predictions[START_TIME_NS]  # a stamp without ground truth
    bag = tmp_path / "predictions"
    write_predictions(bag, predictions)
    evaluation = evaluate_bags(bag, synthetic_bag)
    assert [f.stamp_ns for f in evaluation.frames] == [START_TIME_NS, START_TIME_NS + 200_000_000,
                                                       START_TIME_NS + 300_000_000]
    assert (evaluation.predictions_without_ground_truth, evaluation.ground_truth_without_prediction) == (1, 1)
    for frame in evaluation.frames:
        expected = evaluate_disparity(predictions[frame.stamp_ns], truth[frame.stamp_ns])
        assert frame.metrics.bad_percent == pytest.approx(expected.bad_percent, abs=1e-3)
        assert frame.metrics.epe_px == pytest.approx(expected.epe_px, abs=1e-4)
        assert frame.metrics.num_kept_px == expected.num_kept_px
    # Overall = all frames' pixels at once.
    stamps = [f.stamp_ns for f in evaluation.frames]
    together = evaluate_disparity(np.hstack([predictions[s] for s in stamps]), np.hstack([truth[s] for s in stamps]))
    assert evaluation.overall is not None
    assert evaluation.overall.bad_percent == pytest.approx(together.bad_percent, abs=1e-3)
    assert evaluation.overall.epe_px == pytest.approx(together.epe_px, abs=1e-4)
    assert evaluation.overall.density_percent == pytest.approx(together.density_percent)


def test_perfect_prediction_scores_zero_error_and_full_density(synthetic_bag: Path, tmp_path: Path) -> None:
    bag = tmp_path / "perfect"
    write_predictions(bag, ground_truth(synthetic_bag))
    overall = evaluate_bags(bag, synthetic_bag).overall
    assert overall is not None
    assert overall.bad_percent == (0.0, 0.0, 0.0)
    assert overall.epe_px < 1e-4 and overall.density_percent == 100.0


def test_command_line_prints_a_table_and_writes_csv_and_json(synthetic_bag: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "perfect"
    write_predictions(bag, ground_truth(synthetic_bag))
    assert main([str(bag), "--ground-truth", str(synthetic_bag), "--thresholds", "0.5", "4",
                 "--csv", str(tmp_path / "m.csv"), "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "bad-0.5 %" in out and "bad-4 %" in out and "overall (4)" in out
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["overall"]["density_percent"] == 100.0 and len(document["frames"]) == 4
    assert (tmp_path / "m.csv").read_text().count("\n") == 6


def test_errors_have_documented_exit_codes(synthetic_bag: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(synthetic_bag)]) == EXIT_CODES["missing_input"]
    assert "missing /disparity (stereo_msgs/msg/DisparityImage)" in capsys.readouterr().err
    assert main([str(tmp_path / "nothing")]) == EXIT_CODES["bag_unreadable"]
    assert "no such bag" in capsys.readouterr().err
    bag = tmp_path / "other_stamps"
    write_predictions(bag, {5: np.zeros((SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH), np.float32)})
    assert main([str(bag), "--ground-truth", str(synthetic_bag)]) == EXIT_CODES["missing_input"]
    assert "has a /ground_truth/disparity message with the same stamp" in capsys.readouterr().err
    small = tmp_path / "small"
    write_predictions(small, {START_TIME_NS: np.zeros((SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH), np.float32)})
    assert main([str(small), "--ground-truth", str(synthetic_bag), "--thresholds", "-1"]) == EXIT_CODES["usage"]
