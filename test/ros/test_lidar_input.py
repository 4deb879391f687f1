"""LiDAR clouds as hints: pose parameter, nearest cloud, stamp and frame checks, projection through the whole path."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.frames import StaticTransforms, transform_from_pose
from stereo_depth_ros.ros.errors import (
    LidarFrameError,
    LidarStampError,
    PointCloudConversionError,
)
from stereo_depth_ros.ros.lidar_input import (
    LidarHintSettings,
    lidar_hints_for_pair,
    nearest_cloud,
    nearest_stamp_index,
)
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.ros.parameters import settings_from_values

# Asymmetric rig: fx != fy, cx_left != cx_right, cx != cy, non-square, the left camera rotated by R.
FX, FY, CX_LEFT, CX_RIGHT, CY, BASELINE_M = 420.0, 395.0, 150.5, 161.0, 95.25, 0.12
WIDTH, HEIGHT = 320, 200
CAMERA_FRAME = "stereo_left_optical"
R_LEFT = cv2.Rodrigues(np.array([0.01, -0.03, 0.02]))[0]
IMAGE_STAMP_NS = 1_700_000_000_500_000_000
# LiDAR x forward, y left, z up (REP 103), 0.2 m above and 0.05 m right of the camera, yawed 3 degrees.
YAW = math.radians(3.0)
LIDAR_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # LiDAR axes in camera axes
CAMERA_R_LIDAR = LIDAR_AXES @ cv2.Rodrigues(np.array([0.0, 0.0, YAW]))[0]
CAMERA_T_LIDAR_TRANSLATION = np.array([0.05, -0.2, 0.0])


def rig() -> StereoCameraModel:
    K = np.array([[FX, 0.0, CX_LEFT], [0.0, FY, CY], [0.0, 0.0, 1.0]])
    p_left = np.array([[FX, 0.0, CX_LEFT, 0.0], [0.0, FY, CY, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = np.array([[FX, 0.0, CX_RIGHT, -FX * BASELINE_M], [0.0, FY, CY, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return StereoCameraModel.from_calibrations(
        CameraCalibration(WIDTH, HEIGHT, K, [], R_LEFT, p_left, frame_id=CAMERA_FRAME),
        CameraCalibration(WIDTH, HEIGHT, K, [], np.eye(3), p_right, frame_id="stereo_right_optical"))


def quaternion_xyzw(rotation: np.ndarray) -> list[float]:
    """A unit quaternion of a rotation matrix (test-side, via the axis-angle vector)."""
    vector = cv2.Rodrigues(rotation)[0].reshape(3)
    angle = float(np.linalg.norm(vector))
    axis = vector / angle
    return [*(axis * math.sin(angle / 2.0)).tolist(), math.cos(angle / 2.0)]


LIDAR_POSE = [*CAMERA_T_LIDAR_TRANSLATION.tolist(), *quaternion_xyzw(CAMERA_R_LIDAR)]


def to_time(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def cloud(points_m: np.ndarray, *, frame_id: str, stamp_ns: int = IMAGE_STAMP_NS) -> PointCloud2:
    """An unorganised cloud (1 x N) built with the node's own PointCloud2 builder."""
    return point_cloud2_message(np.asarray(points_m, np.float32).reshape(1, -1, 3),
                                header=Header(frame_id=frame_id, stamp=to_time(stamp_ns)), avoid_padding=True)


def hint_settings(**values: object) -> LidarHintSettings:
    return LidarHintSettings.from_settings(settings_from_values(values))


# Pixels (column, row) of the left rectified image and their depths, m.
PIXELS = np.array([[40, 30], [200, 61], [301, 180], [155, 95]])
DEPTHS_M = np.array([2.5, 7.0, 15.0, 40.0])


def rectified_points() -> np.ndarray:
    """Points in the left rectified optical frame that land on PIXELS at DEPTHS_M."""
    x = (PIXELS[:, 0] - CX_LEFT) * DEPTHS_M / FX
    y = (PIXELS[:, 1] - CY) * DEPTHS_M / FY
    return np.stack([x, y, DEPTHS_M], axis=1)


def expected_hints() -> np.ndarray:
    hints = np.full((HEIGHT, WIDTH), np.nan, np.float32)
    hints[PIXELS[:, 1], PIXELS[:, 0]] = FX * BASELINE_M / DEPTHS_M + (CX_LEFT - CX_RIGHT)
    return hints


def test_cloud_in_the_lidar_frame_lands_on_the_hand_computed_pixels() -> None:
    raw_camera_points = rectified_points() @ R_LEFT   # rectified = R @ raw, so raw = R^T @ rectified
    lidar_points = (raw_camera_points - CAMERA_T_LIDAR_TRANSLATION) @ CAMERA_R_LIDAR
    settings = hint_settings(lidar_frame_id="lidar_top", lidar_transform=LIDAR_POSE)
    hints = lidar_hints_for_pair(cloud(lidar_points, frame_id="lidar_top"), rig(), image_stamp_ns=IMAGE_STAMP_NS,
                                 settings=settings)
    assert hints.dtype == np.float32 and hints.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(np.isfinite(hints), np.isfinite(expected_hints()))
    np.testing.assert_allclose(hints[np.isfinite(hints)], expected_hints()[np.isfinite(hints)], rtol=1e-5)


def test_identity_transform_takes_the_cloud_in_the_left_camera_frame() -> None:
    raw_camera_points = rectified_points() @ R_LEFT
    with_nan = np.vstack([raw_camera_points, [[np.nan, np.nan, np.nan]]])  # an organised driver's invalid point
    hints = lidar_hints_for_pair(cloud(with_nan, frame_id=CAMERA_FRAME), rig(), image_stamp_ns=IMAGE_STAMP_NS,
                                 settings=hint_settings())
    np.testing.assert_allclose(hints, expected_hints(), rtol=1e-5)  # NaN where expected (assert_allclose: equal_nan)


def test_lidar_depth_range_drops_near_and_far_points() -> None:
    settings = hint_settings(lidar_min_depth_m=3.0, lidar_max_depth_m=20.0)
    hints = lidar_hints_for_pair(cloud(rectified_points() @ R_LEFT, frame_id=CAMERA_FRAME), rig(),
                                 image_stamp_ns=IMAGE_STAMP_NS, settings=settings)
    kept = np.isfinite(hints[PIXELS[:, 1], PIXELS[:, 0]])
    np.testing.assert_array_equal(kept, [False, True, True, False])  # 2.5 m and 40 m are out of [3, 20] m


@pytest.mark.parametrize("offset_ns", [-50_000_000, 50_000_000, 0])
def test_stamps_within_the_tolerance_are_used(offset_ns: int) -> None:
    hints = lidar_hints_for_pair(cloud(rectified_points() @ R_LEFT, frame_id=CAMERA_FRAME,
                                       stamp_ns=IMAGE_STAMP_NS + offset_ns),
                                 rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=hint_settings())
    assert np.isfinite(hints).sum() == len(PIXELS)


@pytest.mark.parametrize(("offset_ns", "words"), [(-50_000_001, "0.050 s before"), (300_000_000, "0.300 s after")])
def test_a_stale_cloud_is_rejected_with_both_stamps(offset_ns: int, words: str) -> None:
    stale = cloud(rectified_points() @ R_LEFT, frame_id=CAMERA_FRAME, stamp_ns=IMAGE_STAMP_NS + offset_ns)
    with pytest.raises(LidarStampError, match=words) as raised:
        lidar_hints_for_pair(stale, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=hint_settings())
    assert "1700000000.500 s" in str(raised.value) and "lidar_stamp_tolerance_s is 0.05 s" in str(raised.value)


@pytest.mark.parametrize(("values", "frame_id", "accepted"), [
    ({}, CAMERA_FRAME, True),                                                     # defaults: the camera frame
    ({}, "velodyne", False),                                                      # ... and nothing else
    ({"lidar_transform": LIDAR_POSE}, "velodyne", True),                          # empty id + a transform: any
    ({"lidar_frame_id": "lidar_top"}, "lidar_top", False),                      # identity: needs /tf_static
    ({"lidar_frame_id": "lidar_top"}, CAMERA_FRAME, True),                        # identity: the camera frame too
    ({"lidar_frame_id": "lidar_top"}, "base_link", False),
    ({"lidar_frame_id": "lidar_top", "lidar_transform": LIDAR_POSE}, CAMERA_FRAME, False),  # not the identity
    ({"lidar_frame_id": "lidar_top", "lidar_transform": LIDAR_POSE}, "lidar_top", True),
])
def test_frame_ids_are_checked(values: dict[str, object], frame_id: str, accepted: bool) -> None:
    settings = hint_settings(**values)
    points = cloud(rectified_points(), frame_id=frame_id)
    if accepted:
        lidar_hints_for_pair(points, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=settings)
    else:
        with pytest.raises(LidarFrameError, match=f"in frame {frame_id!r}"):
            lidar_hints_for_pair(points, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=settings)


def robot_transforms() -> StaticTransforms:
    """base_link -> stereo_link -> the left optical frame, and base_link -> lidar_top, as a URDF would give them."""
    tree = StaticTransforms()
    base_T_stereo = transform_from_pose([0.3, 0.0, 0.5, 0.0, 0.0, 0.0, 1.0])
    stereo_T_optical = transform_from_pose([0.0, 0.06, 0.0, -0.5, 0.5, -0.5, 0.5])  # REP 103 -> optical axes
    tree.add("base_link", "stereo_link", base_T_stereo)
    tree.add("stereo_link", CAMERA_FRAME, stereo_T_optical)
    base_T_lidar = base_T_stereo @ stereo_T_optical @ transform_from_pose(LIDAR_POSE)  # camera_T_lidar as above
    tree.add("/base_link", "lidar_top", base_T_lidar)
    return tree


@pytest.mark.parametrize("lidar_frame_id", ["", "lidar_top"])
def test_tf_static_gives_the_transform_when_lidar_transform_is_unset(lidar_frame_id: str) -> None:
    lidar_points = (rectified_points() @ R_LEFT - CAMERA_T_LIDAR_TRANSLATION) @ CAMERA_R_LIDAR
    hints = lidar_hints_for_pair(cloud(lidar_points, frame_id="lidar_top"), rig(), image_stamp_ns=IMAGE_STAMP_NS,
                                 settings=hint_settings(lidar_frame_id=lidar_frame_id),
                                 static_transforms=robot_transforms())
    np.testing.assert_allclose(hints, expected_hints(), rtol=1e-5)


def test_a_frame_tf_static_does_not_connect_is_rejected_saying_so() -> None:
    points = cloud(rectified_points(), frame_id="velodyne")
    with pytest.raises(LidarFrameError, match="'velodyne'.*/tf_static connects no such frame"):
        lidar_hints_for_pair(points, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=hint_settings(),
                             static_transforms=robot_transforms())
    with pytest.raises(LidarFrameError, match="/tf_static is not read"):
        lidar_hints_for_pair(points, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=hint_settings())
    with pytest.raises(LidarFrameError, match="expected 'velodyne' \\(lidar_frame_id\\)"):  # the id still rules
        lidar_hints_for_pair(cloud(rectified_points(), frame_id="lidar_top"), rig(), image_stamp_ns=IMAGE_STAMP_NS,
                             settings=hint_settings(lidar_frame_id="velodyne"), static_transforms=robot_transforms())


def test_an_unreadable_cloud_raises_the_conversion_error() -> None:
    broken = cloud(rectified_points(), frame_id=CAMERA_FRAME)
    broken.data = bytes(broken.data)[:10]
    with pytest.raises(PointCloudConversionError, match="truncated"):
        lidar_hints_for_pair(broken, rig(), image_stamp_ns=IMAGE_STAMP_NS, settings=hint_settings())


def test_nearest_cloud_by_stamp() -> None:
    clouds = [cloud(rectified_points(), frame_id=str(ns), stamp_ns=ns) for ns in (100, 300, 200, 500)]
    assert nearest_cloud(clouds, 260).header.frame_id == "300"
    assert nearest_cloud(clouds, 190).header.frame_id == "200"
    assert nearest_cloud(clouds, 400).header.frame_id == "500"  # a tie: the later cloud
    assert nearest_cloud(clouds, -10_000).header.frame_id == "100"
    assert nearest_cloud([], 0) is None
    assert nearest_stamp_index([5, 9, 1, 9], 8) == 1  # equal stamps: the first
    assert nearest_stamp_index([], 8) is None
