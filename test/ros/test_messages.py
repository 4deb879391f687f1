"""CameraInfo, DisparityImage, depth Image and PointCloud2 messages, checked field by field.

The rig is asymmetric (fx != fy, cx != cy, non-square images) and is built with
both signs of cx_left - cx_right.
"""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header

from stereo_depth_ros.core import (
    CalibrationError,
    CameraCalibration,
    ImageShapeError,
    StereoCameraModel,
    disparity_to_depth,
)
from stereo_depth_ros.ros.errors import ImageConversionError, UnsupportedCameraInfoError
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.messages import (
    calibration_from_camera_info,
    camera_info_message,
    depth_image_message,
    disparity_image_message,
    point_cloud2_message,
)

WIDTH, HEIGHT = 12, 8
FX, FY, CY, BASELINE_M = 30.0, 27.5, 3.25, 0.2
STAMP = Time(sec=1_700_000_000, nanosec=123_456_789)


def make_model(cx_left: float = 6.5, cx_right: float = 4.0) -> StereoCameraModel:
    p_left = np.array([[FX, 0.0, cx_left, 0.0], [0.0, FY, CY, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 2:] = cx_right, -FX * BASELINE_M
    return StereoCameraModel.from_calibrations(
        CameraCalibration(WIDTH, HEIGHT, p_left[:, :3], [], np.eye(3), p_left, frame_id="stereo/left_optical"),
        CameraCalibration(WIDTH, HEIGHT, p_right[:, :3], [], np.eye(3), p_right, frame_id="stereo/right_optical"),
        rectified_input=True)


def raw_camera_info() -> CameraInfo:
    return CameraInfo(
        header=Header(frame_id="cam_left_optical"), width=640, height=480, distortion_model="rational_polynomial",
        d=[-0.3, 0.1, 0.001, -0.002, 0.0, 0.05, -0.01, 0.002],
        k=[520.0, 0.0, 321.5, 0.0, 515.0, 243.0, 0.0, 0.0, 1.0],
        r=[0.9998, -0.0175, 0.0, 0.0175, 0.9998, 0.0, 0.0, 0.0, 1.0],
        p=[500.0, 0.0, 330.0, -60.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def test_calibration_from_camera_info_keeps_every_matrix_in_row_major_order() -> None:
    msg = raw_camera_info()
    calibration = calibration_from_camera_info(msg)

    assert (calibration.width, calibration.height) == (640, 480)
    assert (calibration.distortion_model, calibration.frame_id) == ("rational_polynomial", "cam_left_optical")
    np.testing.assert_array_equal(calibration.K, np.reshape(msg.k, (3, 3)))
    assert calibration.K[0, 2] == 321.5 and calibration.K[1, 2] == 243.0
    np.testing.assert_array_equal(calibration.D, msg.d)
    np.testing.assert_array_equal(calibration.R, np.reshape(msg.r, (3, 3)))
    assert calibration.P[0, 3] == -60.0 and calibration.P.shape == (3, 4)


@pytest.mark.parametrize("changes", [
    {"binning_x": 2},
    {"binning_y": 4},
    {"roi": RegionOfInterest(x_offset=10, y_offset=0, width=320, height=240)},
])
def test_binning_or_a_region_of_interest_is_rejected(changes: dict[str, object]) -> None:
    msg = raw_camera_info()
    for name, value in changes.items():
        setattr(msg, name, value)
    with pytest.raises(UnsupportedCameraInfoError, match="cam_left_optical.*not supported"):
        calibration_from_camera_info(msg)


def test_a_full_image_region_of_interest_and_binning_one_are_accepted() -> None:
    msg = raw_camera_info()
    msg.roi = RegionOfInterest(width=640, height=480)
    msg.binning_x = msg.binning_y = 1
    assert calibration_from_camera_info(msg).width == 640


def test_an_uncalibrated_camera_info_raises_a_calibration_error() -> None:
    msg = raw_camera_info()
    msg.k = [0.0] * 9
    with pytest.raises(CalibrationError, match=r"K\[0,0\] \(fx\) must be > 0 px, got 0.0"):
        calibration_from_camera_info(msg)
    assert issubclass(UnsupportedCameraInfoError, CalibrationError)


def test_camera_info_message_describes_the_left_rectified_camera() -> None:
    model = make_model()
    msg = camera_info_message(model, stamp=STAMP)

    assert (msg.header.frame_id, msg.header.stamp) == ("stereo/left_optical", STAMP)
    assert (msg.width, msg.height, msg.distortion_model) == (WIDTH, HEIGHT, "plumb_bob")
    np.testing.assert_array_equal(msg.d, np.zeros(5))
    np.testing.assert_array_equal(np.reshape(msg.k, (3, 3)), model.left.P[:, :3])
    np.testing.assert_array_equal(np.reshape(msg.r, (3, 3)), np.eye(3))
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4)), model.left.P)
    assert calibration_from_camera_info(msg).P[1, 1] == FY


@pytest.mark.parametrize(("cx_left", "cx_right"), [(6.5, 4.0), (4.0, 9.5)])
def test_disparity_image_follows_stereo_msgs_conventions(cx_left: float, cx_right: float) -> None:
    model = make_model(cx_left, cx_right)
    offset_px = cx_left - cx_right
    depth_m = np.full((HEIGHT, WIDTH), np.nan)
    depth_m[2:6, 3:10] = np.linspace(1.0, 8.0, 28).reshape(4, 7)
    disparity_px = (FX * BASELINE_M / depth_m + offset_px).astype(np.float32)  # d of a point at Z; NaN stays
    disparity_px[3, 4] = offset_px  # at infinity: invalid

    msg = disparity_image_message(disparity_px, model, stamp=STAMP, min_disparity_px=0.0, max_disparity_px=64.0,
                                  delta_d_px=0.0625)

    assert (msg.header.frame_id, msg.header.stamp) == ("stereo/left_optical", STAMP)
    assert msg.image.header == msg.header and msg.image.encoding == "32FC1"
    assert (msg.f, msg.t, msg.delta_d) == pytest.approx((FX, BASELINE_M, 0.0625))
    assert (msg.min_disparity, msg.max_disparity) == pytest.approx((-offset_px, 64.0 - offset_px))
    assert (msg.valid_window.x_offset, msg.valid_window.y_offset) == (3, 2)
    assert (msg.valid_window.width, msg.valid_window.height) == (7, 4)
    image = image_to_numpy(msg.image)
    valid = np.isfinite(disparity_to_depth(disparity_px, model))
    assert valid.sum() == 27
    np.testing.assert_allclose(image[valid], disparity_px[valid] - offset_px, rtol=1e-6)
    np.testing.assert_allclose(msg.f * msg.t / image[valid], depth_m[valid], rtol=1e-5)  # Z = f t / d
    invalid_value = min(msg.min_disparity, 0.0) - 1.0
    assert np.all(image[~valid] == np.float32(invalid_value))
    assert invalid_value < msg.min_disparity and invalid_value < 0.0


def test_disparity_image_of_nothing_valid_has_an_empty_valid_window() -> None:
    msg = disparity_image_message(np.full((HEIGHT, WIDTH), np.nan), make_model(), stamp=STAMP,
                                  min_disparity_px=0.0, max_disparity_px=32.0, delta_d_px=1.0)
    assert (msg.valid_window.width, msg.valid_window.height) == (0, 0)


def test_disparity_image_rejects_a_map_of_the_wrong_size_or_an_empty_range() -> None:
    with pytest.raises(ImageShapeError, match=rf"got \({WIDTH}, {HEIGHT}\)"):
        disparity_image_message(np.zeros((WIDTH, HEIGHT)), make_model(), stamp=STAMP, min_disparity_px=0.0,
                                max_disparity_px=32.0, delta_d_px=1.0)
    with pytest.raises(ValueError, match="min_disparity_px < max_disparity_px"):
        disparity_image_message(np.zeros((HEIGHT, WIDTH)), make_model(), stamp=STAMP, min_disparity_px=32.0,
                                max_disparity_px=32.0, delta_d_px=1.0)


def test_depth_image_32fc1_is_metres_with_nan_and_16uc1_millimetres_with_zero() -> None:
    depth_m = np.array([[1.5, np.nan, 70.0], [0.25, 2.0, np.inf]], dtype=np.float32)
    header = Header(stamp=STAMP, frame_id="stereo/left_optical")

    metres = depth_image_message(depth_m, header=header)
    millimetres = depth_image_message(depth_m, header=header, encoding="16UC1")
    assert metres.encoding == "32FC1" and metres.header == header
    np.testing.assert_array_equal(image_to_numpy(metres), depth_m)
    assert millimetres.encoding == "16UC1" and millimetres.header == header
    assert image_to_numpy(millimetres).tolist() == [[1500, 0, 0], [250, 2000, 0]]
    with pytest.raises(ImageConversionError, match="'mono8'"):
        depth_image_message(depth_m, header=header, encoding="mono8")


def read_cloud(msg: PointCloud2) -> dict[str, np.ndarray]:
    """Every field of an organised cloud as an (H, W) array, read through its PointFields."""
    assert all(field.datatype == PointField.FLOAT32 and field.count == 1 for field in msg.fields)
    record = np.dtype({"names": [f.name for f in msg.fields], "formats": ["<f4"] * len(msg.fields),
                       "offsets": [f.offset for f in msg.fields], "itemsize": msg.point_step})
    points = np.frombuffer(msg.data, record).reshape(msg.height, msg.width)
    return {name: points[name] for name in record.names}


@pytest.mark.parametrize(("with_rgb", "avoid_padding", "offsets", "point_step"), [
    (False, False, [0, 4, 8], 16),
    (True, False, [0, 4, 8, 16], 32),
    (False, True, [0, 4, 8], 12),
    (True, True, [0, 4, 8, 12], 16),
])
def test_point_cloud2_reads_back_field_by_field(with_rgb: bool, avoid_padding: bool, offsets: list[int],
                                                point_step: int) -> None:
    rng = np.random.default_rng(3)
    xyz_m = rng.normal(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
    xyz_m[1, 2] = np.nan
    rgb = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8) if with_rgb else None
    header = Header(stamp=STAMP, frame_id="stereo/left_optical")

    msg = point_cloud2_message(xyz_m, rgb, header=header, avoid_padding=avoid_padding)

    assert (msg.header, msg.height, msg.width) == (header, HEIGHT, WIDTH)
    assert (msg.is_dense, msg.is_bigendian) == (False, False)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb"][:len(offsets)]
    assert [f.offset for f in msg.fields] == offsets
    assert (msg.point_step, msg.row_step, len(msg.data)) == (point_step, point_step * WIDTH,
                                                             point_step * WIDTH * HEIGHT)
    fields = read_cloud(msg)
    for axis, name in enumerate("xyz"):
        np.testing.assert_array_equal(fields[name], xyz_m[..., axis])
    if rgb is not None:
        packed = fields["rgb"].view(np.uint32)
        unpacked = np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=-1)
        np.testing.assert_array_equal(unpacked, rgb)
        assert np.all(packed >> 24 == 0)


def test_point_cloud2_rejects_points_or_colours_of_the_wrong_shape() -> None:
    header = Header()
    with pytest.raises(ImageShapeError, match=r"points_xyz must be \(H, W, 3\), got \(8, 12\)"):
        point_cloud2_message(np.zeros((HEIGHT, WIDTH), np.float32), header=header)
    with pytest.raises(ImageShapeError, match=r"rgb must be \(8, 12, 3\) uint8, got \(8, 12, 3\) float32"):
        point_cloud2_message(np.zeros((HEIGHT, WIDTH, 3), np.float32), np.zeros((HEIGHT, WIDTH, 3), np.float32),
                             header=header)
