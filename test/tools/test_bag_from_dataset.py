"""stereo_bag_from_dataset: built-in and file datasets -> bags whose payloads read back exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from tool_helpers import START_TIME_NS, messages_by_stamp, run_tool

from stereo_depth_ros.ros.bag_io import (
    STORAGE_FORMATS,
    BagReader,
    StereoFrameReader,
    disparity_px_from_message,
)
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.tools.bag_from_dataset import read_ground_truth, synthetic_dataset
from stereo_depth_ros.tools.calibration_io import rectified_stereo, write_camera_info_yaml
from stereo_depth_ros.tools.errors import EXIT_CODES

START_S = "1700000000.25"


def read_frames(bag: Path) -> tuple[list, dict[int, object]]:
    with BagReader(bag) as reader:
        frames = list(StereoFrameReader(reader))
    truth = {stamp: group["/ground_truth/disparity"]
             for stamp, group in messages_by_stamp(bag, ["ground_truth/disparity"]).items()}
    return frames, truth


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_motorcycle_bag_holds_the_exact_images_calibration_and_ground_truth(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "motorcycle"
    result = run_tool("bag_from_dataset", [bag, "--dataset", "motorcycle", "--storage", storage,
                                           "--start-time", START_S, "--frames", "2", "--rate", "4"])
    assert result.returncode == 0, result.stderr
    assert "fx 994.978 px, baseline 0.193001 m, cx_left - cx_right -31.086 px" in result.stdout
    frames, truth = read_frames(bag)
    assert [f.stamp_ns for f in frames] == [START_TIME_NS, START_TIME_NS + 250_000_000]
    left, right, disparity = skimage.data.stereo_motorcycle()
    frame = frames[1]
    assert frame.left_image.encoding == "rgb8" and frame.left_image.header.frame_id == "stereo_left_optical_frame"
    np.testing.assert_array_equal(image_to_numpy(frame.left_image), left)
    np.testing.assert_array_equal(image_to_numpy(frame.right_image), right)
    left_cal = calibration_from_camera_info(frame.left_info)
    right_cal = calibration_from_camera_info(frame.right_info)
    assert left_cal.P[0, 0] == pytest.approx(994.978, abs=1e-3) and left_cal.P[0, 2] == pytest.approx(311.193, abs=1e-3)
    assert right_cal.P[0, 2] - left_cal.P[0, 2] == pytest.approx(31.086, abs=1e-3)  # doffs
    assert -right_cal.P[0, 3] / right_cal.P[0, 0] == pytest.approx(0.193001)
    assert left_cal.P[1, 2] == pytest.approx(254.877, abs=1e-3)
    cx_offset = left_cal.P[0, 2] - right_cal.P[0, 2]
    decoded = disparity_px_from_message(truth[frame.stamp_ns], cx_offset_px=cx_offset)
    known = np.isfinite(disparity)
    np.testing.assert_array_equal(np.isfinite(decoded), known)
    np.testing.assert_allclose(decoded[known], disparity[known], atol=1e-5)
    assert truth[frame.stamp_ns].f == pytest.approx(994.978, abs=1e-3)


def test_synthetic_bag_has_one_frame_per_period_and_exact_ground_truth(tmp_path: Path) -> None:
    bag = tmp_path / "synthetic"
    result = run_tool("bag_from_dataset", [bag, "--dataset", "synthetic", "--frames", "2", "--width", "96",
                                           "--height", "64", "--max-disparity-px", "12", "--seed", "5",
                                           "--start-time", START_S, "--storage", "mcap", "--encoding", "bgr8",
                                           "--namespace", "rig", "--frame-ids", "l_opt", "r_opt"])
    assert result.returncode == 0, result.stderr
    with BagReader(bag) as reader:
        assert set(reader.topics) == {"/rig/left/image_raw", "/rig/right/image_raw", "/rig/left/camera_info",
                                      "/rig/right/camera_info", "/rig/ground_truth/disparity"}
        assert reader.end_time_ns - reader.start_time_ns == 100_000_000
        assert reader.custom_data["stereo_depth_ros.source"] == "synthetic"
        messages = [m.deserialize() for m in reader.messages(["rig/left/image_raw", "rig/ground_truth/disparity"])]
    rig, scenes = synthetic_dataset(2, width=96, height=64, max_disparity_px=12.0, seed=5)
    for (image, truth), scene in zip(zip(messages[::2], messages[1::2]), scenes, strict=True):
        assert image.encoding == "bgr8" and image.header.frame_id == "l_opt"
        np.testing.assert_array_equal(image_to_numpy(image)[..., ::-1], scene.left)
        decoded = disparity_px_from_message(truth, cx_offset_px=rig.cx_offset_px)
        np.testing.assert_allclose(decoded, scene.ground_truth_px, atol=1e-5)


def test_image_files_with_camera_info_yaml_and_pfm_ground_truth(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rig = rectified_stereo(width=40, height=30, focal_px=50.0, fy_px=48.0, baseline_m=0.1, cx_px=19.0, cy_px=14.5,
                           cx_right_px=21.0)
    write_camera_info_yaml(tmp_path / "left.yaml", rig.left)
    write_camera_info_yaml(tmp_path / "right.yaml", rig.right)
    truth = rng.uniform(1.0, 9.0, (2, 30, 40)).astype(np.float32)
    truth[0, 3, 4] = np.inf
    for index in range(2):
        for side in ("left", "right"):
            cv2.imwrite(str(tmp_path / f"{side}_{index}.png"), rng.integers(0, 256, (30, 40), dtype=np.uint8))
        with open(tmp_path / f"gt_{index}.pfm", "wb") as handle:  # Middlebury PFM: bottom-up rows, little endian
            handle.write(b"Pf\n40 30\n-1.0\n" + np.flipud(truth[index]).astype("<f4").tobytes())
    bag = tmp_path / "bag"
    result = run_tool("bag_from_dataset", [bag, "--left", tmp_path / "left_*.png", "--right", tmp_path / "right_*.png",
                                           "--ground-truth", tmp_path / "gt_*.pfm", "--camera-info",
                                           tmp_path / "left.yaml", tmp_path / "right.yaml", "--start-time", START_S])
    assert result.returncode == 0, result.stderr
    frames, gt_messages = read_frames(bag)
    assert len(frames) == 2 and frames[0].left_image.encoding == "mono8"
    np.testing.assert_array_equal(image_to_numpy(frames[1].right_image), cv2.imread(str(tmp_path / "right_1.png"), 0))
    decoded = disparity_px_from_message(gt_messages[frames[0].stamp_ns], cx_offset_px=-2.0)
    np.testing.assert_allclose(decoded[np.isfinite(truth[0])], truth[0][np.isfinite(truth[0])], atol=1e-5)
    assert np.isnan(decoded[3, 4])
    np.testing.assert_array_equal(read_ground_truth(tmp_path / "gt_1.pfm"), truth[1])


def test_image_files_with_explicit_numbers(tmp_path: Path) -> None:
    for side in ("left", "right"):
        cv2.imwrite(str(tmp_path / f"{side}.png"), np.full((30, 40, 3), 90, np.uint8))
    bag = tmp_path / "bag"
    result = run_tool("bag_from_dataset", [bag, "--left", tmp_path / "left.png", "--right", tmp_path / "right.png",
                                           "--focal-px", "50", "--baseline-m", "0.2", "--cx-px", "19.5",
                                           "--cy-px", "14", "--cx-right-px", "22"])
    assert result.returncode == 0, result.stderr
    frames, _ = read_frames(bag)
    right = calibration_from_camera_info(frames[0].right_info)
    assert (right.P[0, 2], right.P[0, 3]) == (22.0, -10.0)


def test_bad_inputs_give_clear_errors_and_exit_codes(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "left.png"), np.zeros((30, 40), np.uint8))
    cv2.imwrite(str(tmp_path / "right.png"), np.zeros((30, 41), np.uint8))
    base = [tmp_path / "bag", "--left", tmp_path / "left.png", "--right"]
    result = run_tool("bag_from_dataset", [*base, tmp_path / "right.png", "--focal-px", "5", "--baseline-m", "0.1",
                                           "--cx-px", "1", "--cy-px", "1"])
    assert result.returncode == EXIT_CODES["bad_input"] and "is (30, 41)" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_tool("bag_from_dataset", [*base, tmp_path / "left.png"])
    assert result.returncode == EXIT_CODES["usage"] and "exactly one calibration" in result.stderr
    result = run_tool("bag_from_dataset", [*base, tmp_path / "left.png", "--focal-px", "5", "--baseline-m", "-0.1",
                                           "--cx-px", "1", "--cy-px", "1"])
    assert result.returncode == EXIT_CODES["bad_input"] and "left and right swapped" in result.stderr
    result = run_tool("bag_from_dataset", [*base, tmp_path / "left.png", "--camera-info", tmp_path / "no.yaml",
                                           tmp_path / "no.yaml"])
    assert result.returncode == EXIT_CODES["bad_input"] and "no.yaml: cannot read" in result.stderr
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "keep.txt").write_text("x")
    result = run_tool("bag_from_dataset", [tmp_path / "bag", "--dataset", "motorcycle", "--overwrite"])
    assert result.returncode == EXIT_CODES["output"] and "not overwriting" in result.stderr
    result = run_tool("bag_from_dataset", ["--help"])
    assert result.returncode == 0 and "ground_truth/disparity" in result.stdout
