"""sensor_msgs/Image <-> numpy: round trips for every encoding, padded rows, big-endian data, errors."""

from __future__ import annotations

import array

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from stereo_depth_ros.ros.errors import ImageConversionError
from stereo_depth_ros.ros.image_conversion import ENCODINGS, image_to_numpy, matching_image, numpy_to_image

HEIGHT, WIDTH = 5, 7  # non-square, odd: row sizes are not multiples of 4


def random_pixels(encoding: str, seed: int = 0) -> np.ndarray:
    kind, channels = ENCODINGS[encoding]
    shape = (HEIGHT, WIDTH) if channels == 1 else (HEIGHT, WIDTH, channels)
    rng = np.random.default_rng(seed)
    if kind == "f4":
        return rng.normal(size=shape).astype(np.float32)
    return rng.integers(0, np.iinfo(kind).max, size=shape, endpoint=True).astype(kind)


def handmade_message(pixels: np.ndarray, encoding: str, *, padding: int = 0, big_endian: bool = False) -> Image:
    """An Image laid out by hand: ``padding`` bytes of 0xEE after each row, chosen byte order."""
    rows = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<")).reshape(HEIGHT, -1).view(np.uint8)
    padded = np.full((HEIGHT, rows.shape[1] + padding), 0xEE, np.uint8)
    padded[:, :rows.shape[1]] = rows
    return Image(height=HEIGHT, width=WIDTH, encoding=encoding, is_bigendian=int(big_endian), step=padded.shape[1],
                 data=array.array("B", padded.tobytes()))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_preserves_pixels_for_every_encoding(encoding: str) -> None:
    pixels = random_pixels(encoding)
    header = Header(frame_id="left_optical")

    msg = numpy_to_image(pixels, encoding, header=header)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (HEIGHT, WIDTH, encoding, 0)
    assert msg.step == pixels[0].nbytes and len(msg.data) == pixels.nbytes
    assert msg.header.frame_id == "left_optical"
    back = image_to_numpy(msg)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_padded_rows_read_as_a_strided_view_on_the_message_data(encoding: str) -> None:
    pixels = random_pixels(encoding, seed=1)
    msg = handmade_message(pixels, encoding, padding=3)

    view = image_to_numpy(msg)
    np.testing.assert_array_equal(view, pixels)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_big_endian_data_reads_as_native_values(encoding: str) -> None:
    pixels = random_pixels(encoding, seed=2)
    msg = handmade_message(pixels, encoding, padding=2, big_endian=True)

    back = image_to_numpy(msg)
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, pixels)


def test_big_endian_input_array_is_written_little_endian() -> None:
    pixels = random_pixels("16UC1").astype(">u2")
    msg = numpy_to_image(pixels, "16UC1")
    assert msg.is_bigendian == 0
    np.testing.assert_array_equal(np.frombuffer(msg.data, "<u2").reshape(HEIGHT, WIDTH), pixels)


def test_writes_through_the_view_reach_the_message() -> None:
    msg = numpy_to_image(random_pixels("32FC1"), "32FC1")
    image_to_numpy(msg)[2, 3] = np.nan
    assert np.isnan(np.frombuffer(msg.data, np.float32)[2 * WIDTH + 3])


@pytest.mark.parametrize(("change", "message"), [
    ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422'"),
    ({"step": WIDTH * 2 - 1}, f"step {WIDTH * 2 - 1} is shorter than a row \\({WIDTH * 2} bytes\\)"),
    ({"data": array.array("B", bytes(WIDTH * 2 * HEIGHT - 1))}, f"truncated, data has {WIDTH * 2 * HEIGHT - 1} bytes"),
    ({"data": array.array("B", bytes(WIDTH * 2 * HEIGHT + 2))}, f"size mismatch, data has {WIDTH * 2 * HEIGHT + 2}"),
])
def test_bad_image_messages_raise_naming_the_problem(change: dict[str, object], message: str) -> None:
    msg = numpy_to_image(random_pixels("mono16"), "mono16")
    for name, value in change.items():
        setattr(msg, name, value)
    with pytest.raises(ImageConversionError, match=message):
        image_to_numpy(msg)


@pytest.mark.parametrize(("pixels", "encoding", "message"), [
    (np.zeros((HEIGHT, WIDTH, 3), np.uint8), "mono8", r"mono8 needs a \(H, W\) uint8 array, got \(5, 7, 3\) uint8"),
    (np.zeros((HEIGHT, WIDTH), np.float64), "32FC1", r"got \(5, 7\) float64"),
    (np.zeros((HEIGHT, WIDTH, 4), np.uint8), "rgb8", r"rgb8 needs a \(H, W, 3\) uint8 array"),
    (np.zeros((HEIGHT, WIDTH), np.uint16), "bayer_rggb8", "unsupported image encoding 'bayer_rggb8'"),
])
def test_arrays_that_do_not_fit_the_encoding_are_rejected(pixels: np.ndarray, encoding: str, message: str) -> None:
    with pytest.raises(ImageConversionError, match=message):
        numpy_to_image(pixels, encoding)


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "8UC1"])
def test_matching_image_is_a_view_for_rgb_and_grey(encoding: str) -> None:
    pixels = random_pixels(encoding)
    msg = handmade_message(pixels, encoding, padding=1)

    matched = matching_image(msg)
    np.testing.assert_array_equal(matched, pixels)
    assert np.shares_memory(matched, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize(("encoding", "rgb_channels"),
                         [("bgr8", [2, 1, 0]), ("bgra8", [2, 1, 0]), ("rgba8", [0, 1, 2])])
def test_matching_image_reorders_colour_to_rgb(encoding: str, rgb_channels: list[int]) -> None:
    pixels = random_pixels(encoding)
    matched = matching_image(handmade_message(pixels, encoding, padding=2))

    assert matched.shape == (HEIGHT, WIDTH, 3) and matched.dtype == np.uint8
    np.testing.assert_array_equal(matched, pixels[..., rgb_channels])


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "8UC3"])
def test_matching_image_rejects_encodings_without_8_bit_grey_or_known_colour_order(encoding: str) -> None:
    with pytest.raises(ImageConversionError, match=f"cannot match on '{encoding}' images"):
        matching_image(numpy_to_image(random_pixels(encoding), encoding))


def test_with_data_stores_the_bytes_once_in_the_generated_field_storage():
    from sensor_msgs.msg import PointCloud2

    from stereo_depth_ros.ros.image_conversion import with_data

    values = np.arange(24, dtype="<f4").reshape(2, 3, 4)
    message = with_data(PointCloud2(height=2, width=3, point_step=16, row_step=48), values)
    assert bytes(message.data) == values.tobytes()
    stored = message.data
    assert message.data is stored            # kept as stored: no copy on the way in or out
    again = with_data(PointCloud2(), values[::-1])   # non-contiguous input is laid out in C order
    assert bytes(again.data) == np.ascontiguousarray(values[::-1]).tobytes()
