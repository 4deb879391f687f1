"""stereo_depth_adapt: a tiny run on a synthetic bag lowers the loss and exports; bad input exits clearly."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stereo_depth_ros.core.hints import lidar_hints
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.ros.bag_io import (
    BagReader,
    BagWriter,
    camera_info_from_calibration,
    time_from_ns,
)
from stereo_depth_ros.ros.image_conversion import numpy_to_image
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, synthetic_rig, write_dataset_bag
from stereo_depth_ros.tools.errors import EXIT_CODES
from stereo_depth_ros.training.adapt import (
    AdaptConfig,
    main,
    make_adapt_sample,
    read_bag_frames,
)
from stereo_depth_ros.training.export import export_onnx, load_checkpoint
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig

#: As test/tools' synthetic_bag: non-square, cx_left != cx_right, wider than the search range.
WIDTH, HEIGHT, MAX_DISPARITY_PX, FRAMES = 320, 224, 40.0, 4
START_TIME_NS, PERIOD_NS = 1_700_000_000_250_000_000, 100_000_000
TINY_MODEL = StereoNetConfig(max_disparity=48)


@pytest.fixture(scope="module")
def synthetic_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 320x224 synthetic frames with ground truth (sqlite3)."""
    path = tmp_path_factory.mktemp("adapt") / "bag"
    rig, frames = synthetic_dataset(FRAMES, width=WIDTH, height=HEIGHT, max_disparity_px=MAX_DISPARITY_PX, seed=3)
    write_dataset_bag(path, rig, frames, rate_hz=1e9 / PERIOD_NS, start_time_ns=START_TIME_NS)
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised tiny network in the checkpoint format (only ``config["model"]`` matters)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("init") / "tiny.pt"
    torch.save({"model": StereoNet(TINY_MODEL).state_dict(), "step": 0, "config": {"model": asdict(TINY_MODEL)},
                "metrics": {}}, path)
    return path


def _args(bag: Path, run_dir: Path, init: Path, *extra: str) -> list[str]:
    return [str(bag), "--run-dir", str(run_dir), "--init-from", str(init), "--crop", "256x128", "--batch-size", "2",
            "--learning-rate", "1e-3", "--eval-frames", "4", "--threads", "1", *extra]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_tiny_run_lowers_the_loss_on_its_frames_and_exports(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(_args(synthetic_bag, run_dir, tiny_checkpoint, "--steps", "30")) == EXIT_CODES["ok"]
    printed = capsys.readouterr().out
    assert "4 frame(s) of 4 pairs" in printed and "ground truth (4 frame(s))" in printed
    state = torch.load(run_dir / "last.pt", weights_only=False)
    assert state["step"] == 30
    assert set(state) >= {"model", "optimizer", "step", "config", "metrics"}
    before, after = state["metrics"]["before"]["train"], state["metrics"]["after"]["train"]
    assert after["loss"] < 0.8 * before["loss"]
    assert state["metrics"]["before"]["held_out"] == {}           # 4 frames: none of every 10th held out
    for metrics in (before, after):
        assert np.isfinite([metrics["bad2_no_hints"], metrics["epe_no_hints"], metrics["bad2_classical_hints"],
                            metrics["epe_classical_hints"]]).all()
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [entry["eval"] for entry in log if "eval" in entry] == ["before", "after"]
    assert [entry["step"] for entry in log if "eval" not in entry] == [10, 20, 30]
    net, _ = load_checkpoint(run_dir / "last.pt")                  # as stereo_depth_export loads it
    report = export_onnx(net, 128, 96, tmp_path / "adapted.onnx", "adapted")
    assert report["max_abs_diff_vs_torch_px"] < 1e-3 or report["fraction_within_1e-3_px"] > 0.999


def test_an_interrupted_run_resumes_with_the_same_command(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    args = _args(synthetic_bag, tmp_path / "run", tiny_checkpoint, "--steps", "3", "--holdout-every", "2")
    assert main([*args, "--max-minutes", "0"]) == EXIT_CODES["ok"]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 1
    assert main(args) == EXIT_CODES["ok"]
    printed = capsys.readouterr().out
    assert "resumed at step 1" in printed and "2 for training, 2 held out" in printed
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["step"] == 3 and state["metrics"]["after"]["held_out"]["frames"] == 2
    other = _args(synthetic_bag, tmp_path / "run", tiny_checkpoint, "--steps", "4", "--holdout-every", "2")
    assert main(other) == EXIT_CODES["usage"]
    assert "another configuration" in capsys.readouterr().err


def test_samples_depend_only_on_seed_and_index(synthetic_bag):
    config = AdaptConfig(bag=str(synthetic_bag), crop_height=128, crop_width=256,
                         hints=ClassicalHintConfig(max_disparity_px=48), model=TINY_MODEL)
    frame = read_bag_frames(synthetic_bag, config).frames[0]
    first = make_adapt_sample(frame, np.random.default_rng([1, 11, 5]), config)
    again = make_adapt_sample(frame, np.random.default_rng([1, 11, 5]), config)
    other = make_adapt_sample(frame, np.random.default_rng([1, 11, 6]), config)
    assert all(np.array_equal(first[key], again[key], equal_nan=True) for key in first)
    assert not np.array_equal(first["left_input"], other["left_input"])
    assert first["left"].shape == (3, 128, 256) and first["hints"].shape == (1, 128, 256)
    hinted = first["hint_mask"] > 0
    assert np.array_equal(first["hint_disparity"][hinted], first["hints"][hinted])   # inputs are real hints
    assert np.all(first["hint_disparity"][~hinted] == 0)


def _bag_with_clouds(path: Path, source: Path, *, stale_frame: int) -> list[np.ndarray]:
    """``source`` plus /points: each frame's true points on a sparse grid, in the left camera's optical frame,
    stamped with the frame (``stale_frame``'s 0.3 s late); returns the points per frame."""
    rig = synthetic_rig(WIDTH, HEIGHT)
    _, frames = synthetic_dataset(FRAMES, width=WIDTH, height=HEIGHT, max_disparity_px=MAX_DISPARITY_PX, seed=3)
    rows, columns = np.mgrid[3:HEIGHT:9, 2:WIDTH:7]
    clouds = []
    with BagReader(source) as reader, BagWriter(path) as writer:
        for message in reader.messages():
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)
        for index, frame in enumerate(frames):
            z = (rig.fx * rig.baseline_m / (frame.ground_truth_px[rows, columns] - rig.cx_offset_px)).reshape(-1)
            points = np.stack([(columns.reshape(-1) - rig.cx_left) * z / rig.fx,
                               (rows.reshape(-1) - rig.cy) * z / rig.fy, z], axis=1)
            clouds.append(points)
            stamp_ns = START_TIME_NS + index * PERIOD_NS + (300_000_000 if index == stale_frame else 0)
            header = Header(frame_id=rig.left.frame_id, stamp=time_from_ns(stamp_ns))
            writer.write("points", point_cloud2_message(points.astype(np.float32).reshape(1, -1, 3), header=header),
                         START_TIME_NS + index * PERIOD_NS)
    return clouds


def test_lidar_points_replace_classical_hints_where_they_land(synthetic_bag, tmp_path):
    bag = tmp_path / "bag"
    clouds = _bag_with_clouds(bag, synthetic_bag, stale_frame=3)
    classical_only = AdaptConfig(bag=str(bag), hints=ClassicalHintConfig(max_disparity_px=48), model=TINY_MODEL)
    with_lidar = AdaptConfig(bag=str(bag), hints=ClassicalHintConfig(max_disparity_px=48), model=TINY_MODEL,
                             lidar_topic="points")
    warnings: list[str] = []
    plain, guided = read_bag_frames(bag, classical_only), read_bag_frames(bag, with_lidar, warn=warnings.append)
    assert (guided.lidar_frames, guided.lidar_rejected) == (3, {"LidarStampError": 1})
    assert len(warnings) == 1 and "LidarStampError" in warnings[0] and "classical hints only" in warnings[0]
    rig = synthetic_rig(WIDTH, HEIGHT)
    for index, (before, after) in enumerate(zip(plain.frames, guided.frames, strict=True)):
        lidar = lidar_hints(clouds[index], rig)  # the core's projection of the frame's cloud
        landed = np.isfinite(lidar)
        if index == 3:  # the stale cloud is not used
            np.testing.assert_array_equal(after.hints_px, before.hints_px)
            continue
        assert landed.sum() > 500
        np.testing.assert_array_equal(after.hints_px[landed], lidar[landed].astype(np.float16))
        np.testing.assert_array_equal(after.hints_px[~landed], before.hints_px[~landed])


def test_the_lidar_options_reach_the_run_and_its_summary(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    bag = tmp_path / "bag"
    _bag_with_clouds(bag, synthetic_bag, stale_frame=3)
    args = _args(bag, tmp_path / "run", tiny_checkpoint, "--steps", "1", "--lidar-topic", "points",
                 "--lidar_stamp_tolerance_s", "0.5")
    assert main(args) == EXIT_CODES["ok"]
    assert "LiDAR hints from /points: 4 frame(s)" in capsys.readouterr().out  # 0.3 s late is within 0.5 s
    config = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["config"]
    assert (config["lidar_topic"], config["lidar_stamp_tolerance_s"]) == ("points", 0.5)
    assert main(_args(bag, tmp_path / "bad", tiny_checkpoint, "--lidar-topic", "nope")) == EXIT_CODES["missing_input"]
    assert "/nope" in capsys.readouterr().err


def _bag_with_bad_calibration(path: Path, bad_frames: set[int]) -> None:
    """The synthetic frames, with a CameraInfo of fx = 0 (uncalibrated) for the frames in ``bad_frames``."""
    rig, frames = synthetic_dataset(FRAMES, width=WIDTH, height=HEIGHT, max_disparity_px=MAX_DISPARITY_PX, seed=3)
    with BagWriter(path) as writer:
        for index, frame in enumerate(frames):
            stamp_ns = START_TIME_NS + index * PERIOD_NS
            stamp = time_from_ns(stamp_ns)
            left_info = camera_info_from_calibration(rig.left, stamp=stamp)
            if index in bad_frames:
                left_info = CameraInfo(header=left_info.header, width=WIDTH, height=HEIGHT,
                                       distortion_model="plumb_bob", d=[0.0] * 5, k=[0.0] * 9, r=left_info.r,
                                       p=[0.0] * 12)
            writer.write("left/camera_info", left_info, stamp_ns)
            writer.write("right/camera_info", camera_info_from_calibration(rig.right, stamp=stamp), stamp_ns)
            for side, image in (("left", frame.left), ("right", frame.right)):
                writer.write(f"{side}/image_raw", numpy_to_image(image, "rgb8", header=Header(stamp=stamp)), stamp_ns)


def test_frames_with_a_bad_calibration_are_skipped_and_counted(tmp_path, capsys):
    _bag_with_bad_calibration(tmp_path / "bag", {1, 2})
    config = AdaptConfig(bag=str(tmp_path / "bag"), hints=ClassicalHintConfig(max_disparity_px=48), model=TINY_MODEL)
    loaded = read_bag_frames(tmp_path / "bag", config)
    assert (loaded.pairs, len(loaded.frames), loaded.skipped_calibration) == (4, 2, 2)
    assert [frame.stamp_ns for frame in loaded.frames] == [START_TIME_NS, START_TIME_NS + 3 * PERIOD_NS]
    assert loaded.ground_truth_frames == 0
    frame = loaded.frames[0]
    assert frame.left.shape == (HEIGHT, WIDTH, 3) and frame.left.dtype == np.uint8
    assert frame.hints_px.dtype == np.float16 and np.isnan(frame.hints_px).any() and np.isfinite(frame.hints_px).any()
    assert "skipped 2 frame(s) with a bad calibration" in capsys.readouterr().err


def test_a_bag_whose_every_frame_has_a_bad_calibration_exits_with_bad_input(tmp_path, tiny_checkpoint, capsys):
    _bag_with_bad_calibration(tmp_path / "bag", set(range(FRAMES)))
    code = main(_args(tmp_path / "bag", tmp_path / "run", tiny_checkpoint, "--steps", "1"))
    assert code == EXIT_CODES["bad_input"]
    assert "none of the 4 stereo pairs could be used" in capsys.readouterr().err


@pytest.mark.parametrize("make", [
    pytest.param(lambda path: path, id="missing"),
    pytest.param(lambda path: (path.with_suffix(".db3").write_bytes(b"not a bag" * 100), path.with_suffix(".db3"))[1],
                 id="garbage-db3"),
])
def test_an_unreadable_bag_exits_with_one_line_and_code_3(tmp_path, tiny_checkpoint, capsys, make):
    bag = make(tmp_path / "bag")
    assert main(_args(bag, tmp_path / "run", tiny_checkpoint)) == EXIT_CODES["bag_unreadable"]
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("stereo_depth_adapt: error:") and str(bag) in error[0]


def test_a_missing_checkpoint_or_a_bad_crop_is_a_usage_error(synthetic_bag, tmp_path, capsys):
    assert main([str(synthetic_bag), "--init-from", str(tmp_path / "none.pt")]) == EXIT_CODES["usage"]
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(synthetic_bag), "--crop", "500x256"])
    assert exit_info.value.code == EXIT_CODES["usage"]
