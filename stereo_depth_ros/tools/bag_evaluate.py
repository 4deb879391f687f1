"""stereo_bag_evaluate: disparity accuracy of a bag against ground truth (bad-N, EPE, density).

Predictions are the ``disparity`` topic (stereo_msgs/DisparityImage, as the node
or ``stereo_bag_process`` write it); ground truth is ``ground_truth/disparity``
(a DisparityImage, as ``stereo_bag_from_dataset`` writes it), in the same bag
or in another one (``--ground-truth``). Messages pair by header stamp. Both are
compared in the message's own convention (image = d - (cx_left - cx_right)):
that offset is common to both, so every error is the same as in ours.

Metrics are ``core.metrics.evaluate_disparity`` per frame; the overall line
weighs frames by their pixels (all pixels with ground truth of all frames).
Frames with ground truth but no prediction (dropped by a live node) are
counted and reported, not scored.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.core.metrics import StereoMetrics, combine, evaluate_disparity
from stereo_depth_ros.ros.bag_io import (
    DISPARITY_TYPE,
    GROUND_TRUTH_TOPIC,
    BagReader,
    disparity_px_from_message,
    normalize_topic,
)
from stereo_depth_ros.ros.errors import CorruptBagError
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.tools.errors import NoStereoFramesError, UsageError, run_tool

__all__ = ["DISPARITY_TOPIC", "Evaluation", "FrameMetrics", "evaluate_bags", "main"]

#: The node's disparity output topic (relative).
DISPARITY_TOPIC: Final = "disparity"


@dataclass(frozen=True)
class FrameMetrics:
    """Metrics of one frame: its stamp (ns) and ``core.metrics.StereoMetrics``."""

    stamp_ns: int
    metrics: StereoMetrics


@dataclass
class Evaluation:
    """Per-frame and overall metrics of one evaluation.

    Attributes:
        frames: scored frames in the prediction bag's order.
        overall: all frames' pixels together (see ``combine``), None when no frame was scored.
        predictions_without_ground_truth: disparity messages whose stamp has no ground truth.
        ground_truth_without_prediction: ground-truth stamps with no disparity message.
    """

    frames: list[FrameMetrics] = field(default_factory=list)
    overall: StereoMetrics | None = None
    predictions_without_ground_truth: int = 0
    ground_truth_without_prediction: int = 0


def _ground_truth_at(reader: BagReader, topic: str, stamp: int, log_time_ns: int) -> DisparityImage:
    """The ground-truth message with header stamp ``stamp``, logged at ``log_time_ns``."""
    for message in reader.messages([topic], start_ns=log_time_ns, stop_ns=log_time_ns + 1):
        truth = message.deserialize()
        if stamp_ns(truth.header.stamp) == stamp:
            return truth
    raise CorruptBagError(f"{reader.path}: the {normalize_topic(topic)} message at {log_time_ns} ns vanished "
                          "on a second read")


def evaluate_bags(predictions: str | Path, ground_truth: str | Path | None = None, *,
                  disparity_topic: str = DISPARITY_TOPIC, ground_truth_topic: str = GROUND_TRUTH_TOPIC,
                  thresholds_px: Sequence[float] = (1.0, 2.0, 3.0)) -> Evaluation:
    """Score every disparity message of ``predictions`` against the ground truth with its stamp.

    Args:
        predictions: bag with ``disparity_topic``.
        ground_truth: bag with ``ground_truth_topic``; None = the same bag.
        disparity_topic, ground_truth_topic: DisparityImage topics.
        thresholds_px: the N of bad-N, px.

    Raises:
        BagReadError: a bag is unreadable, or a topic is missing or of another type.
        NoStereoFramesError: no disparity message has ground truth with its stamp.
        ImageShapeError: a prediction and its ground truth differ in size.
    """
    gt_path = predictions if ground_truth is None else ground_truth
    evaluation = Evaluation()
    with BagReader(gt_path) as gt_reader, BagReader(predictions) as pred_reader:
        gt_reader.require_topics({ground_truth_topic: DISPARITY_TYPE})
        pred_reader.require_topics({disparity_topic: DISPARITY_TYPE})
        # Index the ground truth by stamp (log time for the lookup), then fetch each one when needed.
        gt_log_time: dict[int, int] = {}
        for message in gt_reader.messages([ground_truth_topic]):
            gt_log_time[stamp_ns(message.deserialize().header.stamp)] = message.log_time_ns
        scored: set[int] = set()
        for message in pred_reader.messages([disparity_topic]):
            prediction = message.deserialize()
            stamp = stamp_ns(prediction.header.stamp)
            if stamp not in gt_log_time or stamp in scored:
                evaluation.predictions_without_ground_truth += 1
                continue
            truth = _ground_truth_at(gt_reader, ground_truth_topic, stamp, gt_log_time[stamp])
            metrics = evaluate_disparity(disparity_px_from_message(prediction, cx_offset_px=0.0),
                                         disparity_px_from_message(truth, cx_offset_px=0.0),
                                         thresholds_px=thresholds_px)
            evaluation.frames.append(FrameMetrics(stamp_ns=stamp, metrics=metrics))
            scored.add(stamp)
    evaluation.ground_truth_without_prediction = len(set(gt_log_time) - scored)
    if not evaluation.frames:
        raise NoStereoFramesError(
            f"no {normalize_topic(disparity_topic)} message in {predictions} has a "
            f"{normalize_topic(ground_truth_topic)} "
            f"message with the same stamp in {gt_path} ({evaluation.predictions_without_ground_truth} disparity, "
            f"{len(gt_log_time)} ground-truth messages)")
    evaluation.overall = combine([frame.metrics for frame in evaluation.frames])
    return evaluation


def _row(label: str, metrics: StereoMetrics) -> list[str]:
    return ([label] + [f"{value:.2f}" for value in metrics.bad_percent]
            + [f"{metrics.epe_px:.3f}", f"{metrics.density_percent:.2f}"])


def format_table(evaluation: Evaluation, *, per_frame: bool = True) -> str:
    """A fixed-width table: one row per frame (``per_frame``) and the overall row."""
    assert evaluation.overall is not None
    thresholds = evaluation.overall.thresholds_px
    header = ["frame (stamp s)"] + [f"bad-{t:g} %" for t in thresholds] + ["EPE px", "density %"]
    rows = [_row(f"{f.stamp_ns / 1e9:.3f}", f.metrics) for f in evaluation.frames] if per_frame else []
    rows.append(_row(f"overall ({len(evaluation.frames)})", evaluation.overall))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_bag_evaluate."""
    parser = argparse.ArgumentParser(
        prog="stereo_bag_evaluate",
        description="Score a bag's disparity (stereo_msgs/DisparityImage) against ground truth: bad-N "
                    "(% of pixels with ground truth whose error exceeds N px, missing predictions count as bad), "
                    "EPE (mean error over predicted pixels, px) and density (% of pixels with ground truth "
                    "that have a prediction), per frame and overall.",
        epilog="Exit codes: 0 ok, 2 usage, 3 bag unreadable, 4 topic missing or no frame with ground truth, "
               "5 mismatched sizes.")
    parser.add_argument("bag", help="bag with the disparity topic (and ground truth, unless --ground-truth)")
    parser.add_argument("--ground-truth", default=None, metavar="BAG",
                        help="bag with the ground truth (e.g. the stereo_bag_from_dataset input); default: BAG")
    parser.add_argument("--disparity-topic", default=DISPARITY_TOPIC, help=f"default {DISPARITY_TOPIC}")
    parser.add_argument("--ground-truth-topic", default=GROUND_TRUTH_TOPIC, help=f"default {GROUND_TRUTH_TOPIC}")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[1.0, 2.0, 3.0], metavar="PX",
                        help="the N of bad-N, px (default 1 2 3)")
    parser.add_argument("--csv", type=Path, default=None, help="write per-frame and overall rows to this CSV file")
    parser.add_argument("--json", type=Path, default=None, help="write the metrics to this JSON file")
    parser.add_argument("--summary-only", action="store_true", help="print only the overall row")
    return parser


def _write_csv(path: Path, evaluation: Evaluation) -> None:
    assert evaluation.overall is not None
    keys = list(evaluation.overall.as_dict())
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stamp_ns", *keys])
        for frame in evaluation.frames:
            writer.writerow([frame.stamp_ns, *frame.metrics.as_dict().values()])
        writer.writerow(["overall", *evaluation.overall.as_dict().values()])


def _write_json(path: Path, evaluation: Evaluation) -> None:
    assert evaluation.overall is not None
    document = {"overall": evaluation.overall.as_dict(),
                "frames": [{"stamp_ns": f.stamp_ns, **f.metrics.as_dict()} for f in evaluation.frames],
                "predictions_without_ground_truth": evaluation.predictions_without_ground_truth,
                "ground_truth_without_prediction": evaluation.ground_truth_without_prediction}
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if any(not (t > 0 and math.isfinite(t)) for t in args.thresholds):
        raise UsageError(f"--thresholds must be positive, got {args.thresholds}")
    evaluation = evaluate_bags(args.bag, args.ground_truth, disparity_topic=args.disparity_topic,
                               ground_truth_topic=args.ground_truth_topic, thresholds_px=args.thresholds)
    print(format_table(evaluation, per_frame=not args.summary_only))
    if evaluation.predictions_without_ground_truth or evaluation.ground_truth_without_prediction:
        print(f"not scored: {evaluation.predictions_without_ground_truth} disparity message(s) without ground "
              f"truth, {evaluation.ground_truth_without_prediction} ground-truth frame(s) without disparity",
              file=sys.stderr)
    if args.csv:
        _write_csv(args.csv, evaluation)
    if args.json:
        _write_json(args.json, evaluation)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_bag_evaluate --help``."""
    return run_tool("stereo_bag_evaluate", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
