"""stereo_bag_process: offline processing gives the node's outputs; bad bags give documented errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header
from tool_helpers import START_TIME_NS, SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH, messages_by_stamp

from stereo_depth_ros.backends import MatchResult, SgbmBackend, SgbmParams, SparseHints, create_backend
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig, StereoPipeline
from stereo_depth_ros.ros.bag_io import (
    BagReader,
    BagWriter,
    StereoFrameReader,
    camera_info_from_calibration,
    disparity_px_from_message,
)
from stereo_depth_ros.ros.image_conversion import image_to_numpy, matching_image, numpy_to_image
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.parameters import settings_from_values
from stereo_depth_ros.ros.stamps import time_from_ns
from stereo_depth_ros.tools.bag_evaluate import evaluate_bags
from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig
from stereo_depth_ros.tools.bag_process import BagProcessor, main
from stereo_depth_ros.tools.errors import EXIT_CODES

# The figures below are with the left-right check (not the node's default).
SGBM = ["--backend", "sgbm", "--max_disparity_px", "64", "--lr_check", "true", "--quiet"]
OUTPUTS = {"/disparity", "/depth", "/depth/camera_info", "/confidence", "/points2", "/left/image_rect"}


@pytest.fixture(scope="module")
def sgbm_output(synthetic_bag: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("processed") / "out"
    assert main([str(synthetic_bag), str(output), *SGBM, "--include-inputs", "--storage", "mcap",
                 "--previews", str(output.parent / "previews"), "--preview-every", "2"]) == 0
    return output


def test_output_bag_holds_every_node_output_per_frame_and_the_inputs(sgbm_output: Path) -> None:
    with BagReader(sgbm_output) as reader:
        assert reader.storage == "mcap"
        assert OUTPUTS <= set(reader.topics)
        assert all(reader.topics[t].message_count == 4 for t in OUTPUTS | {"/ground_truth/disparity"})
        assert reader.custom_data["stereo_depth_ros.backend"] == "sgbm"
    groups = messages_by_stamp(sgbm_output, sorted(OUTPUTS))
    assert sorted(groups) == [START_TIME_NS + i * 100_000_000 for i in range(4)]
    group = groups[START_TIME_NS]
    disparity = group["/disparity"]
    assert disparity.header.frame_id == "stereo_left_optical_frame" and disparity.delta_d == 1.0 / 16.0
    assert (disparity.min_disparity, disparity.max_disparity) == (2.5, 66.5)  # [0, 64] - (cx_left - cx_right)
    depth = image_to_numpy(group["/depth"])
    assert group["/depth"].encoding == "32FC1" and depth.shape == (SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH)
    rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    ours = disparity_px_from_message(disparity, cx_offset_px=rig.cx_offset_px)
    np.testing.assert_array_equal(np.isnan(depth), np.isnan(ours))  # NaN marks invalid in both
    valid = np.isfinite(depth)
    np.testing.assert_allclose(depth[valid], rig.fx * rig.baseline_m / (ours[valid] - rig.cx_offset_px), rtol=1e-5)
    confidence = image_to_numpy(group["/confidence"])
    assert np.all(confidence[~valid] == 0.0)
    points = group["/points2"]
    assert (points.height, points.width, points.point_step) == (SYNTHETIC_HEIGHT, SYNTHETIC_WIDTH, 32)


def test_offline_disparity_equals_the_pipeline_run_directly_on_the_frames(synthetic_bag: Path,
                                                                          sgbm_output: Path) -> None:
    pipeline = StereoPipeline(create_backend("sgbm", num_disparities=64), PipelineConfig())
    with BagReader(synthetic_bag) as reader:
        frames = list(StereoFrameReader(reader))
    with BagReader(sgbm_output) as reader:
        written = [m.deserialize() for m in reader.messages(["disparity"])]
    assert len(frames) == len(written) == 4
    for frame, message in zip(frames, written, strict=True):
        rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
        expected = pipeline.process(matching_image(frame.left_image), matching_image(frame.right_image), rig)
        np.testing.assert_array_equal(disparity_px_from_message(message, cx_offset_px=0.0),
                                      _message_convention(expected.disparity_px, rig.cx_offset_px))


def _message_convention(disparity_px: np.ndarray, cx_offset_px: float) -> np.ndarray:
    return (disparity_px - np.float32(cx_offset_px)).astype(np.float32)


def test_sgbm_accuracy_on_synthetic_ground_truth(sgbm_output: Path) -> None:
    evaluation = evaluate_bags(sgbm_output)
    overall = evaluation.overall
    assert overall is not None and len(evaluation.frames) == 4
    # Measured 14.9 % bad-2, 0.50 px EPE, 88 % density (SGBM is deterministic); margins for OpenCV versions.
    assert overall.bad(2.0) < 20.0
    assert overall.epe_px < 0.7
    assert overall.density_percent > 80.0
    assert all(frame.metrics.bad(2.0) < 25.0 for frame in evaluation.frames)


def test_previews_are_colour_pngs_with_a_colour_bar(sgbm_output: Path) -> None:
    previews = sorted((sgbm_output.parent / "previews").glob("*.png"))
    assert [p.name for p in previews] == ["frame_00000_depth.png", "frame_00000_disparity.png",
                                          "frame_00002_depth.png", "frame_00002_disparity.png"]
    image = cv2.imread(str(previews[1]))
    assert image.shape[0] > SYNTHETIC_HEIGHT and image.shape[1] > SYNTHETIC_WIDTH  # title row and colour bar


def test_node_parameter_file_and_options_apply(synthetic_bag: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "backend": "sgbm", "max_disparity_px": 48, "publish_points": False, "depth_encoding": "16UC1"}}}))
    output = tmp_path / "out"
    assert main([str(synthetic_bag), str(output), "--params-file", str(params), "--publish_rectified", "false",
                 "--max-frames", "1", "--quiet"]) == 0
    with BagReader(output) as reader:
        assert set(reader.topics) == {"/disparity", "/depth", "/depth/camera_info", "/confidence"}
        depth = next(reader.messages(["depth"])).deserialize()
        disparity = next(reader.messages(["disparity"])).deserialize()
    assert depth.encoding == "16UC1" and disparity.max_disparity == 48 + 2.5
    assert "frames: 1 processed" in capsys.readouterr().out
    assert main([str(synthetic_bag), str(tmp_path / "x"), "--lr_max_diff_px", "0", "--backend", "sgbm"]) == 2
    assert "lr_max_diff_px=0.0 px is outside [0.1, 64.0]" in capsys.readouterr().err


def test_help_lists_the_node_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--max_disparity_px" in text and "--confidence_threshold" in text and "--input_qos" not in text


def test_missing_camera_info_is_refused_before_processing(synthetic_bag: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    images_only = tmp_path / "images_only"
    with BagReader(synthetic_bag) as reader, BagWriter(images_only) as writer:
        for message in reader.messages(["left/image_raw", "right/image_raw"]):
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)
    assert main([str(images_only), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["missing_input"]
    error = capsys.readouterr().err
    assert "missing /left/camera_info (sensor_msgs/msg/CameraInfo), /right/camera_info" in error
    assert "Traceback" not in error


def test_wrong_message_type_on_an_input_topic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "compressed"
    rig = synthetic_rig(64, 48)
    with BagWriter(bag) as writer:
        for side, calibration in (("left", rig.left), ("right", rig.right)):
            writer.write(f"{side}/camera_info", camera_info_from_calibration(calibration, stamp=time_from_ns(1)), 1)
            writer.write(f"{side}/image_raw", CompressedImage(format="png"), 1)
    assert main([str(bag), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["missing_input"]
    assert "/left/image_raw is sensor_msgs/msg/CompressedImage, expected sensor_msgs/msg/Image" in \
        capsys.readouterr().err


def test_truncated_bag_is_reported_without_output(synthetic_bag: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "truncated"
    shutil.copytree(synthetic_bag, bag)
    data_file = next(bag.glob("*.db3"))
    with open(data_file, "r+b") as handle:
        handle.truncate(data_file.stat().st_size // 3)
    assert main([str(bag), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["bag_unreadable"]
    assert "truncated or damaged" in capsys.readouterr().err


def test_damaged_message_mid_bag_keeps_the_frames_before_it(synthetic_bag: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "damaged"
    with BagReader(synthetic_bag) as reader, BagWriter(bag) as writer:
        for message in reader.messages():
            data = message.data[:40] if (message.topic == "/right/image_raw"
                                         and message.log_time_ns == START_TIME_NS + 200_000_000) else message.data
            writer.write_raw(message.topic, message.msgtype, data, message.log_time_ns)
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM]) == EXIT_CODES["bag_unreadable"]
    error = capsys.readouterr().err
    assert "is not a valid sensor_msgs/msg/Image" in error and "2 frame(s) written" in error
    with BagReader(output) as reader:  # partial output, closed cleanly
        assert reader.topics["/disparity"].message_count == 2


def test_a_damaged_image_in_an_mcap_bag_is_reported_by_its_chunk_crc_not_processed(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "mcap"
    with BagReader(synthetic_bag) as reader, BagWriter(bag, storage="mcap") as writer:
        for message in reader.messages():
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)
    data_file = next(bag.glob("*.mcap"))
    content = bytearray(data_file.read_bytes())
    content[len(content) // 2] ^= 0x01  # one pixel bit, as a bad disk sector would flip it
    data_file.write_bytes(bytes(content))
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM]) == EXIT_CODES["bag_unreadable"]
    assert "Chunk checksum mismatch" in capsys.readouterr().err
    with BagReader(output) as reader:  # the frames of intact chunks before it, if any; never the damaged one
        assert reader.topics["/disparity"].message_count < 4


def test_bag_missing_messages_its_metadata_lists_is_reported_after_the_readable_frames(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "short"
    shutil.copytree(synthetic_bag, bag)
    metadata = bag / "metadata.yaml"
    metadata.write_text(metadata.read_text().replace("message_count: 4\n", "message_count: 5\n", 1))
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM]) == EXIT_CODES["bag_unreadable"]
    assert "only 16 of the 17 messages its metadata lists could be read" in capsys.readouterr().err
    with BagReader(output) as reader:
        assert reader.topics["/disparity"].message_count == 4


def test_frames_that_never_pair_give_an_empty_readable_output(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "unpaired"
    rig = synthetic_rig(160, 120)
    pixels = np.zeros((120, 160), np.uint8)
    with BagWriter(bag) as writer:
        for index, side in enumerate(("left", "right")):
            stamp = time_from_ns(10 + index)  # left and right stamps differ by 1 ns
            writer.write(f"{side}/camera_info", camera_info_from_calibration(getattr(rig, side), stamp=stamp), 10)
            writer.write(f"{side}/image_raw", numpy_to_image(pixels, "mono8", header=Header(stamp=stamp)), 10)
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM]) == EXIT_CODES["missing_input"]
    assert "no stereo frame could be made from 1 left and 1 right images" in capsys.readouterr().err
    with BagReader(output) as reader:
        assert reader.message_count == 0


def _with_bad_camera_infos(source: Path, bag: Path, side: str, frames: set[int]) -> None:
    """``source`` with ``side``'s camera_info of the given frames uncalibrated (K all zero)."""
    with BagReader(source) as reader, BagWriter(bag) as writer:
        for message in reader.messages():
            frame = (message.log_time_ns - START_TIME_NS) // 100_000_000
            if message.topic == f"/{side}/camera_info" and frame in frames:
                info = message.deserialize()
                info.k = [0.0] * 9  # an uncalibrated camera for one frame
                writer.write(message.topic, info, message.log_time_ns)
            else:
                writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)


def test_a_bad_camera_info_mid_bag_is_rejected_and_the_last_good_calibration_kept(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "uncalibrated"
    _with_bad_camera_infos(synthetic_bag, bag, "right", {1})
    assert main([str(bag), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["ok"]
    captured = capsys.readouterr()
    assert ("frame at 1700000000.350 s: camera_info rejected (FocalLengthError: right/camera_info: K[0,0] (fx) "
            "must be > 0 px, got 0.0") in captured.err and "the last good calibration" in captured.err
    assert "frames: 4 processed, 0 failed" in captured.out
    assert "1 frame(s) with rejected camera_info, 1 FocalLengthError" in captured.out
    rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    with BagReader(tmp_path / "out") as reader:
        disparities = [m.deserialize() for m in reader.messages(["disparity"])]
        depths = [m.deserialize() for m in reader.messages(["depth"])]
    assert len(disparities) == 4
    bad = disparities[1]          # the frame with the bad camera_info: the kept calibration's f, T and depth
    assert (bad.f, bad.t) == pytest.approx((rig.fx, rig.baseline_m))
    ours = disparity_px_from_message(bad, cx_offset_px=rig.cx_offset_px)
    valid = np.isfinite(ours)
    assert valid.mean() > 0.5
    depth = image_to_numpy(depths[1])
    np.testing.assert_allclose(depth[valid], rig.fx * rig.baseline_m / (ours[valid] - rig.cx_offset_px), rtol=1e-5)


def test_frames_before_a_valid_calibration_are_skipped_and_none_at_all_is_bad_input(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _with_bad_camera_infos(synthetic_bag, tmp_path / "first", "left", {0})
    assert main([str(tmp_path / "first"), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["ok"]
    captured = capsys.readouterr()
    assert "no valid calibration yet: frame skipped" in captured.err
    assert "frames: 3 processed" in captured.out and "1 skipped before a valid one" in captured.out

    _with_bad_camera_infos(synthetic_bag, tmp_path / "all", "left", {0, 1, 2, 3})
    assert main([str(tmp_path / "all"), str(tmp_path / "out2"), *SGBM]) == EXIT_CODES["bad_input"]
    error = capsys.readouterr().err
    assert "none of the 4 stereo frame(s) had a valid calibration" in error and "K[0,0] (fx)" in error


def test_a_bag_with_a_constant_calibration_builds_its_rig_once(synthetic_bag: Path, tmp_path: Path) -> None:
    processor = BagProcessor(settings_from_values({"backend": "sgbm", "max_disparity_px": 64}))
    summary = processor.run(synthetic_bag, tmp_path / "out", progress=False)
    assert summary.frames == 4 and processor.calibration.rigs_built == 1
    assert summary.calibrations == [processor.calibration.in_use.calibration_id]


def test_existing_output_is_not_overwritten(synthetic_bag: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    assert main([str(synthetic_bag), str(tmp_path / "out"), *SGBM]) == EXIT_CODES["output"]
    assert "exists" in capsys.readouterr().err


def test_calibration_round_trip_through_the_output(sgbm_output: Path) -> None:
    with BagReader(sgbm_output) as reader:
        info = next(reader.messages(["depth/camera_info"])).deserialize()
    calibration = calibration_from_camera_info(info)
    rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    np.testing.assert_array_equal(calibration.P, rig.left.P)


def test_include_inputs_copies_topics_of_unknown_types_with_their_definition(synthetic_bag: Path,
                                                                             tmp_path: Path) -> None:
    bag = tmp_path / "with_thing"
    definition = ("int32 value\n", "RIHS01_" + "cd" * 32)
    with BagReader(synthetic_bag) as reader, BagWriter(bag) as writer:
        for message in reader.messages():
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)
        writer.write_raw("thing", "my_pkg/msg/Thing", b"\x00\x01\x00\x00\x07\x00\x00\x00", START_TIME_NS,
                         definition=definition)
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM, "--include-inputs"]) == 0
    with BagReader(output) as reader:
        assert reader.topics["/thing"].definition == definition
        assert next(reader.messages(["thing"])).data.endswith(b"\x07\x00\x00\x00")


class _InterruptedOnSecondFrame(SgbmBackend):
    """SGBM that behaves as if Ctrl-C arrived during the second frame."""

    def __init__(self) -> None:
        super().__init__(SgbmParams(num_disparities=64))
        self.calls = 0

    def match(self, left: np.ndarray, right: np.ndarray, *, hints: SparseHints | None = None) -> MatchResult:
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return super().match(left, right, hints=hints)


def test_interrupt_keeps_the_frames_done_in_a_closed_bag(synthetic_bag: Path, tmp_path: Path) -> None:
    settings = settings_from_values({"backend": "sgbm", "max_disparity_px": 64})
    processor = BagProcessor(settings, backend=_InterruptedOnSecondFrame())  # type: ignore[arg-type]
    summary = processor.run(synthetic_bag, tmp_path / "out", progress=False)
    assert summary.interrupted and summary.frames == 1
    assert "(interrupted)" in summary.lines()[0]
    with BagReader(tmp_path / "out") as reader:
        assert reader.topics["/disparity"].message_count == 1


def test_sgbm_at_an_inference_size_keeps_the_input_size_and_accuracy(synthetic_bag: Path, tmp_path: Path) -> None:
    output = tmp_path / "half"
    assert main([str(synthetic_bag), str(output), *SGBM, "--inference_width_px", str(SYNTHETIC_WIDTH // 2),
                 "--inference_height_px", str(SYNTHETIC_HEIGHT // 2)]) == 0
    with BagReader(output) as reader:
        disparity = next(reader.messages(["disparity"])).deserialize()
    assert (disparity.image.width, disparity.image.height) == (SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    overall = evaluate_bags(output, synthetic_bag).overall
    # Full size measures 14.9 % bad-2 and 0.50 px EPE (test_sgbm_accuracy_on_synthetic_ground_truth).
    assert overall is not None and overall.bad(2.0) < 30.0 and overall.epe_px < 1.2, overall


def test_a_network_inference_size_without_a_bundled_model_exits_with_the_backend_code(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(synthetic_bag), str(tmp_path / "out"), "--backend", "onnx", "--inference_width_px", "320",
                 "--inference_height_px", "224", "--quiet"])
    assert code == EXIT_CODES["backend"]
    error = capsys.readouterr().err
    assert "no bundled model for inference size 320x224 px" in error and "stereo_depth_export" in error
