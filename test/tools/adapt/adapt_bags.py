"""Bags for the stereo_depth_adapt tests: the synthetic frames with LiDAR clouds or with bad CameraInfos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stereo_depth_ros.ros.bag_io import BagReader, BagWriter, camera_info_from_calibration
from stereo_depth_ros.ros.image_conversion import numpy_to_image
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.ros.stamps import time_from_ns
from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, synthetic_rig
from stereo_depth_ros.training.model import StereoNetConfig

#: As test/tools' synthetic_bag: non-square, cx_left != cx_right, wider than the search range.
WIDTH, HEIGHT, MAX_DISPARITY_PX, FRAMES = 320, 224, 40.0, 4
START_TIME_NS, PERIOD_NS = 1_700_000_000_250_000_000, 100_000_000
TINY_MODEL = StereoNetConfig(max_disparity=48)


def bag_with_clouds(path: Path, source: Path, *, stale_frame: int) -> list[np.ndarray]:
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


def bag_with_bad_calibration(path: Path, bad_frames: set[int]) -> None:
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
