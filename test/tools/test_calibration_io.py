"""Calibration readers: camera_info YAML, OpenCV FileStorage (raw and rectified), explicit numbers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_depth_ros.core.errors import BaselineSignError, CalibrationError
from stereo_depth_ros.tools.calibration_io import (
    read_camera_info_yaml,
    read_camera_info_yaml_pair,
    read_opencv_stereo,
    rectified_stereo,
    write_camera_info_yaml,
)
from stereo_depth_ros.tools.errors import CalibrationFileError

WIDTH, HEIGHT = 320, 200  # non-square
K1 = np.array([[410.0, 0.0, 161.5], [0.0, 405.0, 98.25], [0.0, 0.0, 1.0]])
K2 = np.array([[412.0, 0.0, 158.0], [0.0, 407.5, 101.0], [0.0, 0.0, 1.0]])
D1 = np.array([-0.21, 0.05, 0.001, -0.0005, 0.0])
D2 = np.array([-0.19, 0.04, -0.0008, 0.0004, 0.0])
ROTATION = cv2.Rodrigues(np.array([0.004, -0.01, 0.002]))[0]
TRANSLATION_M = np.array([[-0.12], [0.002], [0.001]])  # right camera at +x: T = -baseline along x


def write_opencv(path: Path, **matrices: object) -> None:
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for key, value in matrices.items():
        storage.write(key, value)
    storage.release()


def test_explicit_numbers_make_a_rectified_rig_with_the_principal_point_offset() -> None:
    model = rectified_stereo(width=WIDTH, height=HEIGHT, focal_px=400.0, fy_px=395.0, baseline_m=0.1,
                             cx_px=150.5, cy_px=99.0, cx_right_px=158.75)
    assert model.rectified_input
    assert (model.fx, model.fy, model.cy, model.baseline_m) == (400.0, 395.0, 99.0, pytest.approx(0.1))
    assert model.cx_offset_px == pytest.approx(150.5 - 158.75)
    assert model.left.frame_id == "stereo_left_optical_frame"
    with pytest.raises(BaselineSignError):
        rectified_stereo(width=WIDTH, height=HEIGHT, focal_px=400.0, baseline_m=-0.1, cx_px=150.0, cy_px=99.0)


def test_camera_info_yaml_round_trip_keeps_every_matrix(tmp_path: Path) -> None:
    model = read_opencv_stereo(_raw_opencv_file(tmp_path), frame_ids=("l", "r"))
    write_camera_info_yaml(tmp_path / "left.yaml", model.left, camera_name="left")
    write_camera_info_yaml(tmp_path / "right.yaml", model.right, camera_name="right")
    restored = read_camera_info_yaml_pair(tmp_path / "left.yaml", tmp_path / "right.yaml", frame_ids=("a", "b"))
    for name in ("K", "D", "R", "P"):
        np.testing.assert_array_equal(getattr(restored.right, name), getattr(model.right, name))
    assert (restored.left.frame_id, restored.right.frame_id) == ("a", "b")
    assert (restored.width, restored.height) == (WIDTH, HEIGHT)


def test_camera_info_yaml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "left.yaml"
    path.write_text("image_width: 320\nimage_height: 200\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    with pytest.raises(CalibrationFileError, match=r"left.yaml: camera_matrix has 2 values, expected \(3, 3\)"):
        read_camera_info_yaml(path, frame_id="x")
    path.write_text("image_width: 320\n")
    with pytest.raises(CalibrationFileError, match="image_height must be an integer"):
        read_camera_info_yaml(path, frame_id="x")
    path.write_text("image_width: [unclosed\n")
    with pytest.raises(CalibrationFileError, match="cannot read camera_info YAML"):
        read_camera_info_yaml(path, frame_id="x")
    with pytest.raises(CalibrationFileError, match="cannot read"):
        read_camera_info_yaml(tmp_path / "missing.yaml", frame_id="x")


def _raw_opencv_file(tmp_path: Path, suffix: str = ".yaml", scale: float = 1.0) -> Path:
    path = tmp_path / f"stereo{suffix}"
    write_opencv(path, image_width=WIDTH, image_height=HEIGHT, M1=K1, D1=D1, M2=K2, D2=D2, R=ROTATION,
                 T=TRANSLATION_M / scale)
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".xml"])
def test_opencv_raw_calibration_is_rectified_with_the_baseline_of_t(tmp_path: Path, suffix: str) -> None:
    model = read_opencv_stereo(_raw_opencv_file(tmp_path, suffix))
    assert not model.rectified_input
    assert model.baseline_m == pytest.approx(float(np.linalg.norm(TRANSLATION_M)), rel=1e-9)
    assert model.right.P[0, 3] < 0.0 and model.cx_offset_px == pytest.approx(0.0)  # zero-disparity rectification
    np.testing.assert_array_equal(model.left.K, K1)
    np.testing.assert_array_equal(model.right.D, D2)
    # A point seen by both raw cameras lands on the same rectified row.
    point_left = np.array([[0.3, -0.2, 2.5]])
    point_right = (ROTATION @ point_left.T + TRANSLATION_M).T
    rows = []
    for camera, point in ((model.left, point_left), (model.right, point_right)):
        raw, _ = cv2.projectPoints(point, np.zeros(3), np.zeros(3), camera.K, camera.D)
        rectified = cv2.undistortPoints(raw, camera.K, camera.D, R=camera.R, P=camera.P)
        rows.append(float(rectified[0, 0, 1]))
    assert rows[0] == pytest.approx(rows[1], abs=1e-6)


def test_opencv_translation_in_millimetres_is_scaled_to_metres(tmp_path: Path) -> None:
    model = read_opencv_stereo(_raw_opencv_file(tmp_path, scale=0.001), translation_scale_m=0.001)
    assert model.baseline_m == pytest.approx(float(np.linalg.norm(TRANSLATION_M)), rel=1e-9)


def test_opencv_projections_alone_describe_rectified_images(tmp_path: Path) -> None:
    p1 = np.array([[500.0, 0.0, 300.25, 0.0], [0.0, 490.0, 180.5, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p2 = p1.copy()
    p2[0, 2], p2[0, 3] = 310.0, -500.0 * 0.2
    path = tmp_path / "rectified.xml"
    write_opencv(path, P1=p1, P2=p2, imageSize=np.array([640, 360]))
    model = read_opencv_stereo(path)
    assert (model.width, model.height) == (640, 360)
    np.testing.assert_array_equal(model.left.P, p1)
    np.testing.assert_array_equal(model.right.R, np.eye(3))
    assert model.cx_offset_px == pytest.approx(-9.75) and model.baseline_m == pytest.approx(0.2)


def test_opencv_errors_name_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "partial.yaml"
    write_opencv(path, M1=K1, D1=D1, image_width=WIDTH, image_height=HEIGHT)
    with pytest.raises(CalibrationFileError, match="missing K2, D2, R, T"):
        read_opencv_stereo(path)
    write_opencv(path, M1=K1, D1=D1, M2=K2, D2=D2, R=ROTATION, T=TRANSLATION_M)
    with pytest.raises(CalibrationFileError, match="no image size"):
        read_opencv_stereo(path)
    assert read_opencv_stereo(path, image_size=(WIDTH, HEIGHT)).width == WIDTH
    write_opencv(path, image_width=WIDTH, image_height=HEIGHT, M1=K1, D1=np.zeros(6), M2=K2, D2=D2, R=ROTATION,
                 T=TRANSLATION_M)
    with pytest.raises(CalibrationFileError, match="D1 has 6 coefficients"):
        read_opencv_stereo(path)
    with pytest.raises(CalibrationFileError, match="no such calibration file"):
        read_opencv_stereo(tmp_path / "none.yaml")
    (tmp_path / "junk.yaml").write_text("this is: [not, opencv\n")
    with pytest.raises(CalibrationFileError):
        read_opencv_stereo(tmp_path / "junk.yaml")


def test_opencv_swapped_cameras_are_refused_by_the_core(tmp_path: Path) -> None:
    path = tmp_path / "swapped.yaml"
    write_opencv(path, image_width=WIDTH, image_height=HEIGHT, M1=K1, D1=D1, M2=K2, D2=D2, R=ROTATION,
                 T=-TRANSLATION_M)
    with pytest.raises(CalibrationError):
        read_opencv_stereo(path)
