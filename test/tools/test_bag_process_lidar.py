"""stereo_bag_process --lidar-topic: each frame takes the cloud nearest in stamp, through the node's own LiDAR code.

The LiDAR clouds are the synthetic scenes' true points on a sparse grid, in a
LiDAR frame rotated and offset from the left camera (lidar_transform is not the
identity). Per frame of the 4-frame synthetic bag:

    frame 0   a cloud 20 ms after the frame, logged with it            -> used
    frame 1   a cloud 10 ms after the frame, logged 90 ms later       -> used (found later in the bag)
    frame 2   no cloud of its own; the nearest are 90 ms away        -> LidarStampError
    frame 3   a cloud with the frame's stamp in frame base_link       -> LidarFrameError
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import Header
from tool_helpers import (
    RATE_HZ,
    START_TIME_NS,
    SYNTHETIC_HEIGHT,
    SYNTHETIC_MAX_DISPARITY_PX,
    SYNTHETIC_WIDTH,
)

from stereo_depth_ros.core.frames import transform_from_pose
from stereo_depth_ros.core.hints import lidar_hints
from stereo_depth_ros.ros.bag_io import BagReader, BagWriter, StereoFrameReader, disparity_px_from_message
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.lidar_bag import BagClouds
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.ros.parameters import settings_from_values
from stereo_depth_ros.ros.stamps import time_from_ns
from stereo_depth_ros.ros.static_transforms import TF_MESSAGE_TYPE
from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, synthetic_rig
from stereo_depth_ros.tools.bag_process import BagProcessor, main
from stereo_depth_ros.tools.errors import EXIT_CODES

PERIOD_NS = round(1e9 / RATE_HZ)
LIDAR_FRAME = "lidar_top"
# LiDAR x forward, y left, z up, 0.1 m above and 0.03 m left of the left camera, yawed 4 degrees.
_ROTATION = (np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
             @ cv2.Rodrigues(np.array([0.0, 0.0, math.radians(4.0)]))[0])
_VECTOR = cv2.Rodrigues(_ROTATION)[0].reshape(3)
_ANGLE = float(np.linalg.norm(_VECTOR))
LIDAR_POSE = [-0.03, -0.1, 0.0, *(_VECTOR / _ANGLE * math.sin(_ANGLE / 2.0)).tolist(), math.cos(_ANGLE / 2.0)]
LIDAR_OPTIONS = ["--hints", "lidar", "--lidar-topic", "points", "--lidar_frame_id", LIDAR_FRAME,
                 "--lidar_transform", *map(str, LIDAR_POSE)]
SGBM = ["--backend", "sgbm", "--max_disparity_px", "64", "--lr_check", "false", "--quiet"]
# frame index: (cloud stamp offset ns, log time offset ns, frame_id); frame 2 has none.
CLOUDS = {0: (20_000_000, 0, LIDAR_FRAME), 1: (10_000_000, 90_000_000, LIDAR_FRAME), 3: (0, 0, "base_link")}


def truth_points_in_lidar_frame(index: int) -> np.ndarray:
    """(N, 3) true points of synthetic frame ``index`` on a sparse grid, in the LiDAR frame, m."""
    rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    _, frames = synthetic_dataset(index + 1, width=SYNTHETIC_WIDTH, height=SYNTHETIC_HEIGHT,
                                  max_disparity_px=SYNTHETIC_MAX_DISPARITY_PX, seed=3)
    truth_px = list(frames)[index].ground_truth_px
    rows, columns = np.mgrid[3:SYNTHETIC_HEIGHT:8, 2:SYNTHETIC_WIDTH:6]
    depth_m = rig.fx * rig.baseline_m / (truth_px[rows, columns] - rig.cx_offset_px)
    u, v = columns.reshape(-1), rows.reshape(-1)
    z = depth_m.reshape(-1)
    camera = np.stack([(u - rig.cx_left) * z / rig.fx, (v - rig.cy) * z / rig.fy, z], axis=1)
    transform = transform_from_pose(LIDAR_POSE)
    return (camera - transform[:3, 3]) @ transform[:3, :3]


def write_lidar_bag(path: Path, synthetic_bag: Path, *, storage: str = "sqlite3",
                    tf_static: list[tuple[str, str, list[float]]] | None = None) -> None:
    """The synthetic bag plus /points as described in the module docstring (and ``tf_static`` on /tf_static)."""
    with BagReader(synthetic_bag) as reader, BagWriter(path, storage=storage) as writer:
        if tf_static is not None:
            writer.write_raw("/tf_static", TF_MESSAGE_TYPE, tf_static_data(tf_static), START_TIME_NS)
        for message in reader.messages():
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns)
        for index, (stamp_offset_ns, log_offset_ns, frame_id) in CLOUDS.items():
            stamp_ns = START_TIME_NS + index * PERIOD_NS
            points = truth_points_in_lidar_frame(index).astype(np.float32).reshape(1, -1, 3)
            cloud = point_cloud2_message(points, header=Header(frame_id=frame_id,
                                                               stamp=time_from_ns(stamp_ns + stamp_offset_ns)))
            writer.write("points", cloud, stamp_ns + log_offset_ns)


def tf_static_data(transforms: list[tuple[str, str, list[float]]]) -> bytes:
    """A TFMessage (parent, child, pose x y z qx qy qz qw each) in CDR, by rosbags (tf2_msgs need not be installed)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {name.rsplit("/", 1)[-1]: cls for name, cls in store.types.items()
             if name.startswith(("geometry_msgs/msg/", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))}
    message = store.types[TF_MESSAGE_TYPE](transforms=[types["TransformStamped"](
        header=types["Header"](stamp=types["Time"](sec=0, nanosec=0), frame_id=parent), child_frame_id=child,
        transform=types["Transform"](translation=types["Vector3"](x=pose[0], y=pose[1], z=pose[2]),
                                     rotation=types["Quaternion"](x=pose[3], y=pose[4], z=pose[5], w=pose[6])))
        for parent, child, pose in transforms])
    return bytes(store.serialize_cdr(message, TF_MESSAGE_TYPE))


@pytest.fixture(scope="module")
def lidar_bag(synthetic_bag: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lidar") / "bag"
    write_lidar_bag(path, synthetic_bag)
    return path


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_each_frame_takes_the_nearest_cloud_and_bad_ones_are_counted(
        synthetic_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], storage: str) -> None:
    bag = tmp_path / "bag"
    write_lidar_bag(bag, synthetic_bag, storage=storage)
    output = tmp_path / "out"
    assert main([str(bag), str(output), *SGBM, *LIDAR_OPTIONS, "--include-inputs"]) == 0
    captured = capsys.readouterr()
    assert ("LiDAR hints from /points: 2 frames guided, 2 without, 1 LidarFrameError, 1 LidarStampError"
            in captured.out)
    assert "frame at 1700000000.450 s: cloud on /points not used (LidarStampError" in captured.err
    assert "0.090 s" in captured.err  # the nearest clouds of frame 2 are 90 ms away
    assert "frame at 1700000000.550 s: cloud on /points not used (LidarFrameError" in captured.err
    with BagReader(output) as reader:
        assert reader.topics["/disparity"].message_count == 4  # every frame processed
        assert reader.topics["/points"].message_count == len(CLOUDS)  # inputs copied, clouds included


def test_the_bags_tf_static_replaces_the_lidar_transform_parameter(synthetic_bag: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """base_link -> the left optical frame and base_link -> lidar_top on /tf_static; no lidar_ options."""
    base_T_camera = transform_from_pose([0.4, 0.0, 0.9, -0.5, 0.5, -0.5, 0.5])  # optical axes in base_link's
    base_T_lidar = base_T_camera @ transform_from_pose(LIDAR_POSE)
    rotation = cv2.Rodrigues(base_T_lidar[:3, :3])[0].reshape(3)
    angle = float(np.linalg.norm(rotation))
    lidar_in_base = [*base_T_lidar[:3, 3].tolist(), *(rotation / angle * math.sin(angle / 2.0)).tolist(),
                     math.cos(angle / 2.0)]
    bag = tmp_path / "bag"
    write_lidar_bag(bag, synthetic_bag, tf_static=[
        ("base_link", "stereo_left_optical_frame", [0.4, 0.0, 0.9, -0.5, 0.5, -0.5, 0.5]),
        ("base_link", LIDAR_FRAME, lidar_in_base), ("base_link", "broken", [0.0] * 7)])
    assert main([str(bag), str(tmp_path / "tf"), *SGBM, "--hints", "lidar", "--lidar-topic", "points"]) == 0
    captured = capsys.readouterr()
    assert "/tf_static: 'base_link' -> 'broken'" in captured.err  # a bad transform is named, the rest used
    # Frame 3's cloud, in base_link, is now accepted too: /tf_static connects base_link to the camera.
    assert "LiDAR hints from /points: 3 frames guided, 1 without, 1 LidarStampError" in captured.out
    assert main([str(bag), str(tmp_path / "parameter"), *SGBM, *LIDAR_OPTIONS]) == 0
    with BagReader(tmp_path / "tf") as by_tf, BagReader(tmp_path / "parameter") as by_parameter:
        by_tf_frames = [m.deserialize() for m in by_tf.messages(["disparity"])]
        assert by_tf_frames[:3] == [m.deserialize() for m in by_parameter.messages(["disparity"])][:3]


def test_bag_clouds_finds_the_nearest_cloud_wherever_it_is_logged(lidar_bag: Path) -> None:
    with BagClouds(lidar_bag, "/points") as clouds:
        assert clouds.stamps_ns == tuple(START_TIME_NS + i * PERIOD_NS + CLOUDS[i][0] for i in (0, 1, 3))
        frame_1 = clouds.nearest(START_TIME_NS + PERIOD_NS)
        assert frame_1 is not None and frame_1.header.frame_id == LIDAR_FRAME
        assert clouds.nearest(START_TIME_NS + PERIOD_NS - 1) is frame_1  # cached for the next frame
        assert clouds.nearest(START_TIME_NS + 3 * PERIOD_NS).header.frame_id == "base_link"


def test_lidar_hints_change_the_network_output_exactly_as_the_pipeline_with_the_projected_points(
        lidar_bag: Path, tmp_path: Path) -> None:
    """The learned backend (bundled model, whatever its accuracy): offline output = pipeline with the core's hints."""
    values = {"backend": "onnx", "execution_providers": ["cpu"], "lr_check": False, "hints": "lidar",
              "lidar_frame_id": LIDAR_FRAME, "lidar_transform": LIDAR_POSE, "publish_points": False}
    guided = BagProcessor(settings_from_values(values), lidar_topic="points", max_frames=1)
    guided.run(lidar_bag, tmp_path / "guided", progress=False)
    assert guided.summary.lidar_used == 1
    plain = BagProcessor(settings_from_values({**values, "hints": "none"}), backend=guided.backend, max_frames=1)
    plain.run(lidar_bag, tmp_path / "plain", progress=False)

    def disparity(bag: Path) -> np.ndarray:
        with BagReader(bag) as reader:
            return disparity_px_from_message(next(reader.messages(["disparity"])).deserialize(), cx_offset_px=0.0)
    with_hints, without_hints = disparity(tmp_path / "guided"), disparity(tmp_path / "plain")
    assert np.nanmax(np.abs(with_hints - without_hints)) > 0.1

    rig = synthetic_rig(SYNTHETIC_WIDTH, SYNTHETIC_HEIGHT)
    with BagReader(lidar_bag) as reader:
        frame = next(iter(StereoFrameReader(reader)))
    hints_px = lidar_hints(truth_points_in_lidar_frame(0), rig, camera_T_lidar=transform_from_pose(LIDAR_POSE))
    direct = guided.pipeline.process(matching_image(frame.left_image), matching_image(frame.right_image), rig,
                                     lidar_hints_px=hints_px)
    valid = np.isfinite(with_hints)
    np.testing.assert_array_equal(valid, np.isfinite(direct.depth_m))
    error = np.abs(with_hints[valid] - (direct.disparity_px - np.float32(rig.cx_offset_px))[valid])
    # the network's sub-pixel line fit divides by a cost rise, which lifts float rounding to ~1e-3 px at a few pixels
    assert np.mean(error < 1e-4) > 0.999 and error.max() < 0.01, error.max()


@pytest.mark.parametrize(("options", "code", "fragment"), [
    (["--lidar-topic", "points"], "usage", "needs hints lidar or both, not 'classical'"),
    (["--hints", "lidar", "--lidar-topic", "velodyne_points"], "missing_input", "missing /velodyne_points"),
    (["--hints", "lidar", "--lidar-topic", "left/image_raw"], "missing_input",
     "/left/image_raw is sensor_msgs/msg/Image, expected sensor_msgs/msg/PointCloud2"),
    (["--hints", "lidar", "--lidar-topic", "points", "--lidar_transform", "0", "0", "0", "0", "0", "0", "0"],
     "usage", "must be a unit quaternion"),
])
def test_bad_lidar_options_and_topics_are_refused(lidar_bag: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], options: list[str], code: str,
                                                  fragment: str) -> None:
    assert main([str(lidar_bag), str(tmp_path / "out"), *SGBM, *options]) == EXIT_CODES[code]
    error = capsys.readouterr().err
    assert fragment in error and "Traceback" not in error


def test_hints_lidar_without_a_topic_runs_without_lidar_hints(lidar_bag: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(lidar_bag), str(tmp_path / "out"), *SGBM, "--hints", "lidar", "--max-frames", "1"]) == 0
    captured = capsys.readouterr()
    assert "hints='lidar' without --lidar-topic: no LiDAR hints" in captured.err
    assert "LiDAR hints from" not in captured.out

