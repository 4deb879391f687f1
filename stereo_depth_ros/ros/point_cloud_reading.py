"""sensor_msgs/PointCloud2 -> numpy xyz, without sensor_msgs_py.

Reads the x, y and z fields of any cloud layout LiDAR drivers publish:
FLOAT32 or FLOAT64 fields at any offsets, points padded to any ``point_step``,
rows padded to any ``row_step``, either byte order, organised (height > 1) or
not. Each field is read as one strided numpy view on ``msg.data`` (no Python
loop over points); points with a NaN or infinite coordinate are dropped.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from stereo_depth_ros.ros.errors import PointCloudConversionError

__all__ = ["XYZ_DATATYPES", "point_cloud_xyz"]

#: PointField datatypes of x, y and z this reader takes, with their numpy element type (byte order aside).
XYZ_DATATYPES: Final[dict[int, str]] = {PointField.FLOAT32: "f4", PointField.FLOAT64: "f8"}
_DATATYPE_NAMES: Final[dict[int, str]] = {
    PointField.INT8: "INT8", PointField.UINT8: "UINT8", PointField.INT16: "INT16", PointField.UINT16: "UINT16",
    PointField.INT32: "INT32", PointField.UINT32: "UINT32", PointField.FLOAT32: "FLOAT32",
    PointField.FLOAT64: "FLOAT64",
}


def _describe(msg: PointCloud2) -> str:
    return (f"PointCloud2 {msg.width}x{msg.height} in {msg.header.frame_id!r} (point_step {msg.point_step}, "
            f"row_step {msg.row_step}, {len(msg.data)} bytes)")


def _xyz_fields(msg: PointCloud2) -> list[PointField]:
    """The x, y and z PointFields, checked against the point layout."""
    by_name = {field.name: field for field in msg.fields}
    missing = [name for name in "xyz" if name not in by_name]
    if missing:
        present = ", ".join(repr(field.name) for field in msg.fields) or "none"
        raise PointCloudConversionError(f"{_describe(msg)}: no field {', '.join(missing)} (fields: {present})")
    fields = [by_name[name] for name in "xyz"]
    for field in fields:
        if field.datatype not in XYZ_DATATYPES:
            kind = _DATATYPE_NAMES.get(field.datatype, f"unknown datatype {field.datatype}")
            raise PointCloudConversionError(
                f"{_describe(msg)}: field {field.name!r} is {kind}; x, y and z must be FLOAT32 or FLOAT64")
        if field.count < 1:
            raise PointCloudConversionError(f"{_describe(msg)}: field {field.name!r} has count {field.count}")
        end = field.offset + np.dtype(XYZ_DATATYPES[field.datatype]).itemsize
        if end > msg.point_step:
            raise PointCloudConversionError(
                f"{_describe(msg)}: field {field.name!r} at offset {field.offset} ends at byte {end}, "
                f"beyond point_step {msg.point_step}")
    return fields


def point_cloud_xyz(msg: PointCloud2) -> np.ndarray:
    """The finite points of a cloud, in its own frame (``msg.header.frame_id``).

    Args:
        msg: a PointCloud2 with fields x, y, z of datatype FLOAT32 or FLOAT64
            (count >= 1; only the first element is read), at any offsets within
            ``point_step``; rows may be padded (``row_step`` > width * point_step)
            and the last row may omit its padding; ``is_bigendian`` is honoured.
            Other fields are ignored.

    Returns:
        (N, 3) float64 x, y, z in metres (the cloud's units), N <= width * height,
        in row-major point order; points with any NaN or infinite coordinate are
        left out, so the result holds no invalid marker. (0, 3) for an empty cloud.

    Raises:
        PointCloudConversionError: a missing x, y or z field, another datatype, a
            field beyond ``point_step``, ``row_step`` shorter than a row, or data
            shorter (truncated) or longer than height * row_step.
    """
    fields = _xyz_fields(msg)
    height, width, point_step, row_step = int(msg.height), int(msg.width), int(msg.point_step), int(msg.row_step)
    if height == 0 or width == 0:
        return np.empty((0, 3), np.float64)
    if row_step < width * point_step:
        raise PointCloudConversionError(
            f"{_describe(msg)}: row_step is shorter than a row of {width} points ({width * point_step} bytes)")
    needed = (height - 1) * row_step + width * point_step  # the last row's padding may be left out
    if not needed <= len(msg.data) <= height * row_step:
        problem = "truncated" if len(msg.data) < needed else "size mismatch"
        raise PointCloudConversionError(
            f"{_describe(msg)}: {problem}, expected {needed} to {height * row_step} bytes")
    buffer = np.frombuffer(msg.data, np.uint8)
    order = ">" if msg.is_bigendian else "<"
    columns = []
    for field in fields:
        dtype = np.dtype(order + XYZ_DATATYPES[field.datatype])
        view = np.ndarray((height, width), dtype, buffer=buffer, offset=field.offset, strides=(row_step, point_step))
        columns.append(view.astype(np.float64).reshape(-1))
    xyz = np.stack(columns, axis=1)
    return xyz[np.all(np.isfinite(xyz), axis=1)]
