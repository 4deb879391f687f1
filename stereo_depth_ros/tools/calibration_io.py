"""Stereo calibration from files or numbers, as the core's validated ``StereoCameraModel``.

Three sources:

* a pair of ROS camera_info YAML files (``camera_calibration_parsers`` format,
  as written by the ROS camera calibrator): ``read_camera_info_yaml``;
* an OpenCV stereo calibration (``cv2.FileStorage`` YAML or XML, as written by
  ``cv2.stereoCalibrate`` samples): ``read_opencv_stereo``. Either K1, D1, K2, D2,
  R, T (rectified here with ``cv2.stereoRectify``, zero-disparity flag, alpha
  0) or rectified projections P1, P2 (with R1, R2 and K/D when the images are raw;
  without them the images are taken as already rectified);
* explicit numbers for already rectified images: ``rectified_stereo``.

Conventions are the core's: the right projection has ``P_right[0, 3] =
-fx * baseline_m`` (negative), principal points may differ (cx_left != cx_right,
e.g. Middlebury's ``doffs = cx_right - cx_left``). Every reader validates the pair
(``StereoCameraModel.from_calibrations``), so a swapped or unrectified pair is
refused here with the core's ``CalibrationError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import yaml

from stereo_depth_ros.core.camera_model import DEFAULT_FRAME_IDS, CameraCalibration, StereoCameraModel
from stereo_depth_ros.tools.errors import CalibrationFileError

__all__ = [
    "DEFAULT_FRAME_IDS",
    "read_camera_info_yaml",
    "read_camera_info_yaml_pair",
    "read_opencv_stereo",
    "rectified_stereo",
    "write_camera_info_yaml",
]

# Aliases of each matrix in OpenCV calibration files (stereo_calib.cpp writes M1/M2, others K1/K2).
_OPENCV_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "K1": ("K1", "M1", "cameraMatrix1", "camera_matrix_1", "left_camera_matrix"),
    "D1": ("D1", "distCoeffs1", "dist_coeffs_1", "left_distortion"),
    "K2": ("K2", "M2", "cameraMatrix2", "camera_matrix_2", "right_camera_matrix"),
    "D2": ("D2", "distCoeffs2", "dist_coeffs_2", "right_distortion"),
    "R": ("R",), "T": ("T",), "R1": ("R1",), "R2": ("R2",), "P1": ("P1",), "P2": ("P2",),
}


def _matrix(source: str, key: str, value: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: any 1-D length), or CalibrationFileError."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CalibrationFileError(f"{source}: {key} is not numeric: {value!r}") from err
    if shape is None:
        array = array.reshape(-1)
    elif array.size != int(np.prod(shape)):
        raise CalibrationFileError(f"{source}: {key} has {array.size} values, expected {shape}")
    else:
        array = array.reshape(shape)
    if not np.all(np.isfinite(array)):
        raise CalibrationFileError(f"{source}: {key} contains NaN or inf")
    return array


def _distortion(source: str, key: str, coefficients: np.ndarray) -> tuple[np.ndarray, str]:
    """OpenCV distortion coefficients as (D, distortion_model) the core accepts."""
    count = coefficients.size
    if count in (0, 5):
        return coefficients, "plumb_bob"
    if count == 4:
        return np.concatenate([coefficients, [0.0]]), "plumb_bob"
    if count == 8:
        return coefficients, "rational_polynomial"
    if count in (12, 14) and not np.any(coefficients[8:]):
        return coefficients[:8], "rational_polynomial"
    raise CalibrationFileError(
        f"{source}: {key} has {count} coefficients; supported are 4, 5 (plumb_bob), 8 (rational_polynomial), "
        "or 12/14 with the thin-prism and tilt terms zero")


def _yaml_matrix(source: str, document: Mapping[str, Any], key: str, shape: tuple[int, ...] | None) -> np.ndarray:
    entry = document.get(key)
    if entry is None:
        raise CalibrationFileError(f"{source}: missing {key}")
    data = entry.get("data") if isinstance(entry, Mapping) else entry
    if data is None:
        raise CalibrationFileError(f"{source}: {key} has no data")
    return _matrix(source, key, data, shape)


def read_camera_info_yaml(path: str | os.PathLike[str], *, frame_id: str) -> CameraCalibration:
    """One camera's calibration from a ROS camera_info YAML file.

    Keys (``camera_calibration_parsers``): image_width, image_height,
    camera_matrix, distortion_model, distortion_coefficients,
    rectification_matrix, projection_matrix (each matrix a mapping with
    ``data``, or a plain list).

    Args:
        path: the YAML file.
        frame_id: optical frame id for the camera (the file does not carry one).

    Raises:
        CalibrationFileError: unreadable file, missing key, wrong matrix size.
        CalibrationError: the values do not form a valid camera (core checks).
    """
    source = str(path)
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CalibrationFileError(f"{source}: cannot read camera_info YAML: {err}") from err
    if not isinstance(document, Mapping):
        raise CalibrationFileError(f"{source}: not a camera_info YAML mapping")
    for key in ("image_width", "image_height"):
        if not isinstance(document.get(key), int):
            raise CalibrationFileError(f"{source}: {key} must be an integer, got {document.get(key)!r}")
    camera_matrix = _yaml_matrix(source, document, "camera_matrix", (3, 3))
    distortion = _yaml_matrix(source, document, "distortion_coefficients", None)
    return CameraCalibration(width=document["image_width"], height=document["image_height"], K=camera_matrix,
                             D=distortion, R=_yaml_matrix(source, document, "rectification_matrix", (3, 3)),
                             P=_yaml_matrix(source, document, "projection_matrix", (3, 4)),
                             distortion_model=str(document.get("distortion_model", "plumb_bob")), frame_id=frame_id)


def read_camera_info_yaml_pair(left_path: str | os.PathLike[str], right_path: str | os.PathLike[str], *,
                               frame_ids: Sequence[str] = DEFAULT_FRAME_IDS) -> StereoCameraModel:
    """The rig described by a left and a right camera_info YAML file (validated pair)."""
    return StereoCameraModel.from_calibrations(read_camera_info_yaml(left_path, frame_id=frame_ids[0]),
                                               read_camera_info_yaml(right_path, frame_id=frame_ids[1]))


def write_camera_info_yaml(path: str | os.PathLike[str], calibration: CameraCalibration, *,
                           camera_name: str = "camera") -> None:
    """Write ``calibration`` in the camera_info YAML format ``read_camera_info_yaml`` reads."""
    def matrix(array: np.ndarray) -> dict[str, Any]:
        rows, cols = (1, array.size) if array.ndim == 1 else array.shape
        return {"rows": rows, "cols": cols, "data": [float(v) for v in array.reshape(-1)]}

    document = {"image_width": calibration.width, "image_height": calibration.height, "camera_name": camera_name,
                "camera_matrix": matrix(calibration.K), "distortion_model": calibration.distortion_model,
                "distortion_coefficients": matrix(calibration.D), "rectification_matrix": matrix(calibration.R),
                "projection_matrix": matrix(calibration.P)}
    Path(path).write_text(yaml.safe_dump(document, sort_keys=False))


def _node_values(node: cv2.FileNode) -> np.ndarray | None:
    """A FileStorage node's numbers (an opencv-matrix or a sequence), or None."""
    if node.empty() or node.isNone():
        return None
    if node.isSeq():
        return np.array([node.at(i).real() for i in range(node.size())], dtype=np.float64)
    matrix = node.mat()
    return None if matrix is None else np.asarray(matrix, dtype=np.float64)


def _opencv_node(storage: cv2.FileStorage, name: str) -> np.ndarray | None:
    """The matrix stored under any alias of ``name``, or None."""
    for key in _OPENCV_KEYS[name]:
        values = _node_values(storage.getNode(key))
        if values is not None:
            return values
    return None


def _opencv_size(storage: cv2.FileStorage) -> tuple[int, int] | None:
    """(width, height) from image_width/image_height, width/height or imageSize/image_size = [w, h]."""
    for width_key, height_key in (("image_width", "image_height"), ("width", "height")):
        width, height = storage.getNode(width_key), storage.getNode(height_key)
        if not width.empty() and not height.empty() and width.isInt() and height.isInt():
            return int(width.real()), int(height.real())
    for key in ("imageSize", "image_size"):
        values = _node_values(storage.getNode(key))
        if values is not None and values.size == 2:
            return int(values.flat[0]), int(values.flat[1])
    return None


def read_opencv_stereo(path: str | os.PathLike[str], *, image_size: tuple[int, int] | None = None,
                       translation_scale_m: float = 1.0,
                       frame_ids: Sequence[str] = DEFAULT_FRAME_IDS) -> StereoCameraModel:
    """The rig of an OpenCV stereo calibration file (YAML or XML, ``cv2.FileStorage``).

    With P1 and P2 in the file they are used as they are (with R1, R2, K1, D1,
    K2, D2 when present; otherwise the images are taken as rectified: K = P[:, :3],
    no distortion, R = I). Otherwise K1, D1, K2, D2, R, T are rectified with
    ``cv2.stereoRectify`` (CALIB_ZERO_DISPARITY, alpha 0: equal cx, only valid
    pixels).

    Args:
        path: the calibration file.
        image_size: (width, height) px; required when the file does not hold one
            (image_width/image_height, width/height or imageSize).
        translation_scale_m: metres per unit of T and of P2[0, 3] (0.001 when the
            calibration pattern was measured in millimetres).
        frame_ids: left and right optical frame ids.

    Raises:
        CalibrationFileError: unreadable file, missing matrices or image size.
        CalibrationError: the result is not a valid rectified pair (core checks).
    """
    source = str(path)
    if not Path(path).is_file():
        raise CalibrationFileError(f"{source}: no such calibration file")
    if not translation_scale_m > 0.0:
        raise CalibrationFileError(f"translation_scale_m must be > 0, got {translation_scale_m}")
    try:
        storage = cv2.FileStorage(source, cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as err:  # SystemError: OpenCV's parser error escaping the binding
        raise CalibrationFileError(f"{source}: OpenCV cannot parse it: {err}") from err
    if not storage.isOpened():
        raise CalibrationFileError(f"{source}: OpenCV cannot open it as a YAML/XML FileStorage")
    try:
        found = {name: _opencv_node(storage, name) for name in _OPENCV_KEYS}
        size = image_size or _opencv_size(storage)
    finally:
        storage.release()
    if size is None:
        raise CalibrationFileError(f"{source}: no image size in the file (image_width/image_height or imageSize); "
                                   "give it (--width/--height)")
    width, height = size
    if found["P1"] is not None and found["P2"] is not None:
        return _from_projections(source, found, width, height, translation_scale_m, frame_ids)
    missing = [name for name in ("K1", "D1", "K2", "D2", "R", "T") if found[name] is None]
    if missing:
        raise CalibrationFileError(
            f"{source}: needs P1 and P2, or K1, D1, K2, D2, R and T; missing {', '.join(missing)}")
    k1, k2 = (_matrix(source, name, found[name], (3, 3)) for name in ("K1", "K2"))
    (d1, model1), (d2, model2) = (_distortion(source, name, _matrix(source, name, found[name], None))
                                  for name in ("D1", "D2"))
    rotation = _matrix(source, "R", found["R"], None)
    rotation = cv2.Rodrigues(rotation)[0] if rotation.size == 3 else rotation.reshape(3, 3)
    translation = _matrix(source, "T", found["T"], (3, 1)) * translation_scale_m
    r1, r2, p1, p2, *_ = cv2.stereoRectify(k1, d1, k2, d2, (width, height), rotation, translation,
                                           flags=cv2.CALIB_ZERO_DISPARITY, alpha=0.0)
    return StereoCameraModel.from_calibrations(
        CameraCalibration(width, height, k1, d1, r1, p1, distortion_model=model1, frame_id=frame_ids[0]),
        CameraCalibration(width, height, k2, d2, r2, p2, distortion_model=model2, frame_id=frame_ids[1]))


def _from_projections(source: str, found: Mapping[str, np.ndarray | None], width: int, height: int,
                      translation_scale_m: float, frame_ids: Sequence[str]) -> StereoCameraModel:
    cameras = []
    for index, side in enumerate("12"):
        projection = _matrix(source, f"P{side}", found[f"P{side}"], (3, 4)).copy()
        projection[:, 3] *= translation_scale_m
        raw_k, raw_d, rect_r = found[f"K{side}"], found[f"D{side}"], found[f"R{side}"]
        if raw_k is not None and raw_d is not None and rect_r is not None:
            k = _matrix(source, f"K{side}", raw_k, (3, 3))
            d, model = _distortion(source, f"D{side}", _matrix(source, f"D{side}", raw_d, None))
            r = _matrix(source, f"R{side}", rect_r, (3, 3))
        else:
            k, d, model, r = projection[:, :3], np.zeros(0), "plumb_bob", np.eye(3)
        cameras.append(CameraCalibration(width, height, k, d, r, projection, distortion_model=model,
                                         frame_id=frame_ids[index]))
    return StereoCameraModel.from_calibrations(cameras[0], cameras[1])


def rectified_stereo(*, width: int, height: int, focal_px: float, baseline_m: float, cx_px: float, cy_px: float,
                     fy_px: float | None = None, cx_right_px: float | None = None,
                     frame_ids: Sequence[str] = DEFAULT_FRAME_IDS) -> StereoCameraModel:
    """A rig of already rectified images from its numbers (no distortion, R = I, K = P[:, :3]).

    Args:
        width, height: image size, px.
        focal_px: fx of the rectified images, px.
        baseline_m: distance between the optical centres, m (> 0).
        cx_px, cy_px: principal point of the left image, px.
        fy_px: fy, px; default ``focal_px``.
        cx_right_px: principal point x of the right image, px; default ``cx_px``.
            Middlebury's ``doffs`` is ``cx_right_px - cx_px``.

    Raises:
        CalibrationError: the numbers do not form a valid rig (e.g. baseline <= 0).
    """
    fy = focal_px if fy_px is None else fy_px
    cx_right = cx_px if cx_right_px is None else cx_right_px
    p_left = np.array([[focal_px, 0.0, cx_px, 0.0], [0.0, fy, cy_px, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 2], p_right[0, 3] = cx_right, -focal_px * baseline_m
    return StereoCameraModel.from_calibrations(
        CameraCalibration(width, height, p_left[:, :3], [], np.eye(3), p_left, frame_id=frame_ids[0]),
        CameraCalibration(width, height, p_right[:, :3], [], np.eye(3), p_right, frame_id=frame_ids[1]),
        rectified_input=True)
