"""ROS messages <-> core types: CameraInfo, DisparityImage, depth Image, PointCloud2.

Everything published describes the left rectified camera: its stamp is the
images', its frame id the left CameraInfo's. As with stereo_image_proc, that
frame id names the raw left optical frame although the data lies in the
rectified one (rotated by the left R); where R is far from identity and that
matters, publish a separate rectified frame in tf.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.errors import ImageShapeError
from stereo_depth_ros.core.geometry import check_image_shape, depth_to_uint16_mm
from stereo_depth_ros.ros.errors import ImageConversionError, UnsupportedCameraInfoError
from stereo_depth_ros.ros.image_conversion import numpy_to_image, with_data

#: Depth image encodings: metres with NaN invalid, or millimetres with 0 invalid (REP 118).
DEPTH_ENCODINGS: Final = ("32FC1", "16UC1")


def calibration_from_camera_info(msg: CameraInfo) -> CameraCalibration:
    """The calibration a CameraInfo carries, validated.

    Raises:
        UnsupportedCameraInfoError: binning > 1 or a region of interest smaller than the image.
        CalibrationError: (a subclass of) whatever ``CameraCalibration`` rejects.
    """
    roi = msg.roi
    full_roi = (roi.x_offset, roi.y_offset) == (0, 0) and (roi.width, roi.height) in ((0, 0), (msg.width, msg.height))
    if max(msg.binning_x, msg.binning_y) > 1 or not full_roi:
        raise UnsupportedCameraInfoError(
            f"camera {msg.header.frame_id!r}: binning ({msg.binning_x}, {msg.binning_y}) and roi "
            f"(x {roi.x_offset}, y {roi.y_offset}, {roi.width}x{roi.height}) are not supported; "
            "publish full-resolution images")
    return CameraCalibration(width=msg.width, height=msg.height, K=np.reshape(msg.k, (3, 3)), D=np.asarray(msg.d),
                             R=np.reshape(msg.r, (3, 3)), P=np.reshape(msg.p, (3, 4)),
                             distortion_model=msg.distortion_model, frame_id=msg.header.frame_id)


def left_rectified_header(model: StereoCameraModel, stamp: Time) -> Header:
    """Header of every output: the left camera's frame, the images' stamp."""
    return Header(stamp=stamp, frame_id=model.left.frame_id)


def camera_info_message(model: StereoCameraModel, *, stamp: Time) -> CameraInfo:
    """CameraInfo of the left rectified camera (for depth/camera_info): K = P[:, :3], no distortion, R = I."""
    p_left = model.left.P
    return CameraInfo(header=left_rectified_header(model, stamp), width=model.width, height=model.height,
                      distortion_model="plumb_bob", d=[0.0] * 5, k=p_left[:, :3].flatten(), r=np.eye(3).flatten(),
                      p=p_left.flatten())


def _valid_window(valid: np.ndarray) -> RegionOfInterest:
    """Smallest rectangle holding every True pixel of (H, W) ``valid``; all zeros when none is."""
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return RegionOfInterest()
    return RegionOfInterest(x_offset=int(cols[0]), y_offset=int(rows[0]),
                            width=int(cols[-1] - cols[0] + 1), height=int(rows[-1] - rows[0] + 1))


def disparity_image_message(disparity_px: np.ndarray, model: StereoCameraModel, *, stamp: Time,
                            min_disparity_px: float, max_disparity_px: float,
                            delta_d_px: float) -> DisparityImage:
    """A stereo_msgs/DisparityImage as stereo_image_proc publishes it.

    The message's convention differs from ours: its disparities are pre-adjusted
    for the principal-point offset, d_msg = d - (cx_left - cx_right), so that
    Z = f * t / d_msg. This function applies the offset to the image and to the
    search range; callers pass our d = x_left - x_right.

    Args:
        disparity_px: (H, W) float, px, d = x_left - x_right on the model's rectified
            grid; NaN = invalid.
        model: the rectified rig.
        stamp: the images' stamp.
        min_disparity_px: smallest disparity the matcher searched, px (our convention).
        max_disparity_px: largest disparity the matcher searched, px (our convention).
        delta_d_px: smallest disparity step the matcher resolves, px.

    Returns:
        Header from the left frame and ``stamp``; f = fx (P_right[0, 0]) px;
        t = baseline_m; min/max_disparity = the search range minus cx_offset_px;
        image 32FC1 d_msg where valid. Invalid pixels (NaN, inf, or d <= cx_offset_px,
        i.e. at or beyond infinity) hold ``min(min_disparity, 0) - 1``: below the
        range and negative, so neither a range check nor Z = f t / d takes them as
        depth. valid_window is the bounding box of the valid pixels.

    Raises:
        ImageShapeError: ``disparity_px`` is not (model.height, model.width).
        ValueError: min_disparity_px >= max_disparity_px.
    """
    if not min_disparity_px < max_disparity_px:
        raise ValueError(f"need min_disparity_px < max_disparity_px, got {min_disparity_px}, {max_disparity_px}")
    disparity_px = np.asarray(disparity_px, dtype=np.float32)
    check_image_shape("disparity_px", disparity_px, model)
    with np.errstate(invalid="ignore"):   # NaN compares False: invalid, as wanted
        valid = np.isfinite(disparity_px) & (disparity_px > np.float32(model.cx_offset_px))
    min_disparity = min_disparity_px - model.cx_offset_px
    adjusted = disparity_px - np.float32(model.cx_offset_px)
    image = np.where(valid, adjusted, np.float32(min(min_disparity, 0.0) - 1.0))
    header = left_rectified_header(model, stamp)
    return DisparityImage(header=header, image=numpy_to_image(image, "32FC1", header=header), f=model.fx,
                          t=model.baseline_m, valid_window=_valid_window(valid), min_disparity=min_disparity,
                          max_disparity=max_disparity_px - model.cx_offset_px, delta_d=delta_d_px)


def depth_image_message(depth_m: np.ndarray, *, header: Header, encoding: str = "32FC1") -> Image:
    """A depth Image (REP 118).

    Args:
        depth_m: (H, W) float, metres; NaN = invalid.
        header: usually ``left_rectified_header``.
        encoding: "32FC1" (metres, NaN invalid) or "16UC1" (millimetres, 0 invalid,
            depths beyond 65.535 m invalid).

    Raises:
        ImageConversionError: another encoding, or ``depth_m`` not 2-D.
    """
    if encoding == "32FC1":
        return numpy_to_image(np.asarray(depth_m, dtype=np.float32), encoding, header=header)
    if encoding == "16UC1":
        return numpy_to_image(depth_to_uint16_mm(depth_m), encoding, header=header)
    raise ImageConversionError(f"depth encoding {encoding!r} is not one of {DEPTH_ENCODINGS}")


def _point_fields(*, with_rgb: bool, avoid_padding: bool) -> tuple[list[PointField], np.dtype]:
    """PointFields and the matching numpy record, laid out as PCL / stereo_image_proc do.

    Padded: x, y, z at 0, 4, 8, rgb at 16, 16 bytes per point (32 with rgb).
    Packed: x, y, z, rgb at 0, 4, 8, 12, 12 bytes per point (16 with rgb).
    """
    names, formats, offsets = ["x", "y", "z"], ["<f4"] * 3, [0, 4, 8]
    if with_rgb:
        names.append("rgb")
        formats.append("<u4")  # PCL's packed 0x00RRGGBB, declared FLOAT32
        offsets.append(12 if avoid_padding else 16)
    itemsize = 4 * len(names) if avoid_padding else (32 if with_rgb else 16)
    fields = [PointField(name=name, offset=offset, datatype=PointField.FLOAT32, count=1)
              for name, offset in zip(names, offsets, strict=True)]
    return fields, np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


def point_cloud2_message(points_xyz: np.ndarray, rgb: np.ndarray | None = None, *, header: Header,
                         avoid_padding: bool = False) -> PointCloud2:
    """An organised sensor_msgs/PointCloud2 (height x width), is_dense False.

    Args:
        points_xyz: (H, W, 3) float, metres; NaN = invalid (kept as NaN points).
        rgb: optional (H, W, 3) uint8 R, G, B, packed as PCL does into a float32
            field "rgb" holding the bits 0x00RRGGBB.
        header: usually ``left_rectified_header``.
        avoid_padding: pack fields tightly (12 / 16 bytes per point) instead of
            PCL's aligned layout (16 / 32 bytes).

    Raises:
        ImageShapeError: ``points_xyz`` is not (H, W, 3) or ``rgb`` not (H, W, 3) uint8.
    """
    if points_xyz.ndim != 3 or points_xyz.shape[2] != 3:
        raise ImageShapeError(f"points_xyz must be (H, W, 3), got {points_xyz.shape}")
    height, width = points_xyz.shape[:2]
    if rgb is not None and (rgb.shape != points_xyz.shape or rgb.dtype != np.uint8):
        raise ImageShapeError(f"rgb must be ({height}, {width}, 3) uint8, got {rgb.shape} {rgb.dtype}")
    fields, record = _point_fields(with_rgb=rgb is not None, avoid_padding=avoid_padding)
    # One little-endian 4-byte word per field slot: filling whole columns is several times faster
    # than assigning the fields of a structured array.
    words = np.zeros((height, width, record.itemsize // 4), dtype="<f4")
    words[..., :3] = points_xyz
    if rgb is not None:  # 0x00RRGGBB little-endian is the bytes B, G, R, 0
        rgb_offset = record.fields["rgb"][1]
        words.view(np.uint8).reshape(height, width, record.itemsize)[..., rgb_offset:rgb_offset + 3] = rgb[..., ::-1]
    return with_data(PointCloud2(header=header, height=height, width=width, fields=fields, is_bigendian=False,
                                 point_step=record.itemsize, row_step=record.itemsize * width, is_dense=False),
                     words)
