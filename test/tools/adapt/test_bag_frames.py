"""tools.adapt.bag_frames: frames read, rectified and hinted as the node would; bad frames skipped and counted."""

from __future__ import annotations

import numpy as np
from adapt_bags import HEIGHT, PERIOD_NS, START_TIME_NS, WIDTH, bag_with_bad_calibration, bag_with_clouds

from stereo_depth_ros.core.hints import lidar_hints
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.tools.adapt.bag_frames import BagSource, read_bag_frames
from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig


def test_lidar_points_replace_classical_hints_where_they_land(synthetic_bag, tmp_path):
    bag = tmp_path / "bag"
    clouds = bag_with_clouds(bag, synthetic_bag, stale_frame=3)
    classical_only = BagSource(bag=str(bag), hints=ClassicalHintConfig(max_disparity_px=48))
    with_lidar = BagSource(bag=str(bag), hints=ClassicalHintConfig(max_disparity_px=48), lidar_topic="points")
    warnings: list[str] = []
    plain, guided = read_bag_frames(classical_only), read_bag_frames(with_lidar, warn=warnings.append)
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


def test_a_bad_calibration_keeps_the_last_good_one_and_frames_before_any_are_skipped(tmp_path, capsys):
    hints = ClassicalHintConfig(max_disparity_px=48)
    bag_with_bad_calibration(tmp_path / "bad", {0, 2})
    bag_with_bad_calibration(tmp_path / "good", set())
    loaded = read_bag_frames(BagSource(bag=str(tmp_path / "bad"), hints=hints))
    reference = read_bag_frames(BagSource(bag=str(tmp_path / "good"), hints=hints))
    assert (loaded.pairs, len(loaded.frames), loaded.skipped_calibration, loaded.rejected_calibration) == (4, 3, 1, 2)
    assert [frame.stamp_ns for frame in loaded.frames] == [START_TIME_NS + k * PERIOD_NS for k in (1, 2, 3)]
    assert len(loaded.calibrations) == 1 and reference.calibrations == loaded.calibrations   # one rig, built once
    for frame, expected in zip(loaded.frames, reference.frames[1:], strict=True):  # frame 2: the kept calibration
        np.testing.assert_array_equal(frame.left, expected.left)
        np.testing.assert_array_equal(frame.hints_px, expected.hints_px)
    assert loaded.ground_truth_frames == 0
    frame = loaded.frames[0]
    assert frame.left.shape == (HEIGHT, WIDTH, 3) and frame.left.dtype == np.uint8
    assert frame.hints_px.dtype == np.float16 and np.isnan(frame.hints_px).any() and np.isfinite(frame.hints_px).any()
    error = capsys.readouterr().err
    assert "K[0,0] (fx) must be > 0 px" in error and "the last good calibration" in error
    assert "skipped 1 frame(s) before a valid calibration" in error
    assert "2 frame(s) with a rejected camera_info" in error
