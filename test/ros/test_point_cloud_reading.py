"""PointCloud2 -> (N, 3) xyz: hand-made layouts (padding, big-endian, float64, organised) and the node's own clouds."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from stereo_depth_ros.ros.errors import PointCloudConversionError
from stereo_depth_ros.ros.messages import point_cloud2_message
from stereo_depth_ros.ros.point_cloud_reading import point_cloud_xyz

# Distinct values per axis and point, so a swapped axis or a wrong stride fails.
POINTS = np.array([[1.5, -2.25, 7.0], [0.125, 3.5, 12.75], [-4.0, 0.5, 2.0], [9.0, -8.5, 30.25],
                   [0.75, 0.0625, 1.25], [-0.5, -1.0, 55.5]])


def make_cloud(points: np.ndarray, *, formats: dict[str, str], offsets: dict[str, int], point_step: int,
               height: int = 1, row_padding: int = 0, big_endian: bool = False,
               extra: tuple[tuple[str, int, int], ...] = ()) -> PointCloud2:
    """A cloud written byte by byte with numpy: ``formats`` {axis: "f4" | "f8"}, fields at ``offsets``.

    ``extra`` adds (name, offset, datatype) fields (filled with 0xAB bytes, so reading them as x, y or z
    would give garbage).
    """
    order = ">" if big_endian else "<"
    width = len(points) // height
    row_step = width * point_step + row_padding
    data = np.full(height * row_step, 0xAB, np.uint8)
    for axis, name in enumerate("xyz" if width else ""):
        dtype = np.dtype(order + formats[name])
        values = points[:, axis].astype(dtype).reshape(height, width)
        view = np.ndarray((height, width), dtype, buffer=data, offset=offsets[name], strides=(row_step, point_step))
        view[...] = values
    datatypes = {"f4": PointField.FLOAT32, "f8": PointField.FLOAT64}
    fields = [PointField(name=name, offset=offsets[name], datatype=datatypes[formats[name]], count=1)
              for name in "xyz"]
    fields += [PointField(name=name, offset=offset, datatype=datatype, count=1) for name, offset, datatype in extra]
    return PointCloud2(header=Header(frame_id="lidar_top"), height=height, width=width, fields=fields,
                       is_bigendian=big_endian, point_step=point_step, row_step=row_step, data=data.tobytes(),
                       is_dense=True)


FLOAT32 = {"x": "f4", "y": "f4", "z": "f4"}
TIGHT = {"x": 0, "y": 4, "z": 8}


def test_tightly_packed_float32_cloud_is_read_in_point_order() -> None:
    cloud = make_cloud(POINTS, formats=FLOAT32, offsets=TIGHT, point_step=12)
    xyz = point_cloud_xyz(cloud)
    assert xyz.dtype == np.float64 and xyz.shape == (6, 3)
    np.testing.assert_array_equal(xyz, POINTS)  # every value is exact in float32


def test_padded_points_rows_and_other_fields_are_skipped() -> None:
    # An Ouster-like layout: x y z, 4 bytes padding, intensity, t (uint32), ring (uint16), then padding.
    offsets = {"x": 0, "y": 4, "z": 8}
    extra = (("intensity", 16, PointField.FLOAT32), ("t", 20, PointField.UINT32), ("ring", 24, PointField.UINT16))
    cloud = make_cloud(POINTS, formats=FLOAT32, offsets=offsets, point_step=48, height=2, row_padding=20,
                       extra=extra)
    assert cloud.row_step == 3 * 48 + 20
    np.testing.assert_array_equal(point_cloud_xyz(cloud), POINTS)


def test_fields_in_any_order_and_offsets() -> None:
    offsets = {"z": 2, "x": 10, "y": 22}  # unaligned, z first
    cloud = make_cloud(POINTS, formats=FLOAT32, offsets=offsets, point_step=29)
    np.testing.assert_array_equal(point_cloud_xyz(cloud), POINTS)


@pytest.mark.parametrize("formats", [{"x": "f8", "y": "f8", "z": "f8"}, {"x": "f4", "y": "f8", "z": "f4"}])
def test_big_endian_float64_and_mixed_widths(formats: dict[str, str]) -> None:
    points = POINTS + np.array([1e-9, 0.0, 0.0])  # not exact in float32: checks float64 is kept
    offsets = {"x": 0, "y": 8, "z": 16}
    cloud = make_cloud(points, formats=formats, offsets=offsets, point_step=24, height=3, big_endian=True)
    expected = points.copy()
    for axis, name in enumerate("xyz"):
        expected[:, axis] = expected[:, axis].astype(formats[name])
    np.testing.assert_array_equal(point_cloud_xyz(cloud), expected)


def test_organised_cloud_drops_nan_and_inf_points_only() -> None:
    points = POINTS.copy()
    points[1, 0] = np.nan  # one coordinate NaN: the point goes
    points[3] = np.nan     # a whole invalid point, as organised drivers write it
    points[4, 2] = np.inf
    cloud = make_cloud(points, formats=FLOAT32, offsets=TIGHT, point_step=16, height=2)
    xyz = point_cloud_xyz(cloud)
    np.testing.assert_array_equal(xyz, POINTS[[0, 2, 5]])
    assert np.all(np.isfinite(xyz))


def test_last_row_without_its_padding_is_accepted() -> None:
    cloud = make_cloud(POINTS, formats=FLOAT32, offsets=TIGHT, point_step=12, height=2, row_padding=8)
    cloud.data = bytes(cloud.data)[:-8]
    np.testing.assert_array_equal(point_cloud_xyz(cloud), POINTS)


def test_empty_cloud_gives_no_points() -> None:
    cloud = make_cloud(POINTS[:0], formats=FLOAT32, offsets=TIGHT, point_step=12)
    assert point_cloud_xyz(cloud).shape == (0, 3)


def test_round_trip_through_the_node_point_cloud_builder() -> None:
    rng = np.random.default_rng(7)
    organised = rng.uniform(-5.0, 20.0, size=(5, 7, 3)).astype(np.float32)
    organised[1, 2] = np.nan  # invalid pixels, as the node publishes them
    organised[4, 6] = np.nan
    rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    valid = np.all(np.isfinite(organised), axis=2).reshape(-1)
    for colour in (None, rgb):
        for avoid_padding in (False, True):
            cloud = point_cloud2_message(organised, colour, header=Header(frame_id="cam"),
                                         avoid_padding=avoid_padding)
            xyz = point_cloud_xyz(cloud)
            np.testing.assert_array_equal(xyz, organised.reshape(-1, 3)[valid].astype(np.float64))


def _cloud(**changes: object) -> PointCloud2:
    cloud = make_cloud(POINTS, formats=FLOAT32, offsets=TIGHT, point_step=16, height=2)
    for name, value in changes.items():
        setattr(cloud, name, value)
    return cloud


@pytest.mark.parametrize(("cloud", "fragment"), [
    (_cloud(fields=[PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1)]), "no field y, z"),
    (_cloud(fields=[PointField(name=n, offset=4 * i, datatype=PointField.INT16 if n == "z" else PointField.FLOAT32,
                               count=1) for i, n in enumerate("xyz")]), "field 'z' is INT16"),
    (_cloud(fields=[PointField(name=n, offset=4 * i, datatype=99, count=1) for i, n in enumerate("xyz")]),
     "unknown datatype 99"),
    (_cloud(fields=[PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=0)
                    for i, n in enumerate("xyz")]), "count 0"),
    (_cloud(fields=[PointField(name=n, offset=7 * i, datatype=PointField.FLOAT32, count=1)
                    for i, n in enumerate("xyz")]), "field 'z' at offset 14 ends at byte 18, beyond point_step 16"),
    (_cloud(row_step=40), "row_step is shorter than a row"),
    (_cloud(data=bytes(90)), "truncated, expected 96 to 96 bytes"),
    (_cloud(data=bytes(100)), "size mismatch"),
])
def test_bad_layouts_raise_a_named_error(cloud: PointCloud2, fragment: str) -> None:
    with pytest.raises(PointCloudConversionError, match=fragment) as raised:
        point_cloud_xyz(cloud)
    assert "PointCloud2 3x2 in 'lidar_top'" in str(raised.value)
