"""rosbag2 reading and writing: round trips in both storage formats, damaged bags, stereo frames."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import Reader, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.core.camera_model import CameraCalibration
from stereo_depth_ros.ros.bag_io import (
    STORAGE_FORMATS,
    BagReader,
    BagWriter,
    StereoFrameReader,
    camera_info_from_calibration,
    message_class,
    message_type_name,
    normalize_topic,
)
from stereo_depth_ros.ros.errors import (
    BagNotFoundError,
    BagWriteError,
    CorruptBagError,
    MissingTopicError,
    TopicTypeError,
    UnknownMessageTypeError,
)
from stereo_depth_ros.ros.image_conversion import image_to_numpy, numpy_to_image
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.stamps import stamp_ns, time_from_ns

WIDTH, HEIGHT = 11, 7  # non-square, odd
T0_NS = 1_700_000_000_123_456_789


def calibration(side: str) -> CameraCalibration:
    """An asymmetric rectified pair: fx != fy, cx != cy, cx_left != cx_right."""
    cx = 5.25 if side == "left" else 6.75
    p = np.array([[30.0, 0.0, cx, 0.0], [0.0, 27.5, 3.5, 0.0], [0.0, 0.0, 1.0, 0.0]])
    if side == "right":
        p[0, 3] = -30.0 * 0.12
    k = np.array([[31.0, 0.0, 5.0], [0.0, 28.0, 3.25], [0.0, 0.0, 1.0]])
    return CameraCalibration(WIDTH, HEIGHT, k, [0.01, -0.02, 0.001, 0.0005, 0.003],
                             np.array([[1.0, 0.001, 0.0], [-0.001, 1.0, 0.0], [0.0, 0.0, 1.0]]), p,
                             frame_id=f"rig/{side}_optical")


def image(seed: int, stamp: int, frame_id: str = "rig/left_optical") -> Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return numpy_to_image(pixels, "rgb8", header=Header(stamp=time_from_ns(stamp), frame_id=frame_id))


def disparity_message(stamp: int) -> DisparityImage:
    values = np.linspace(-3.0, 40.0, WIDTH * HEIGHT, dtype=np.float32).reshape(HEIGHT, WIDTH)
    values[2, 3] = np.nan
    header = Header(stamp=time_from_ns(stamp), frame_id="rig/left_optical")
    return DisparityImage(header=header, image=numpy_to_image(values, "32FC1", header=header), f=30.0, t=0.12,
                          min_disparity=-2.0, max_disparity=64.0, delta_d=0.0625)


def write_stereo_bag(path: Path, storage: str, frames: int = 3, *, with_info: bool = True) -> None:
    with BagWriter(path, storage=storage, custom_data={"tool": "test"}) as writer:
        for index in range(frames):
            stamp = T0_NS + index * 100_000_000
            if with_info:
                writer.write("left/camera_info", camera_info_from_calibration(calibration("left"),
                                                                              stamp=time_from_ns(stamp)), stamp)
                writer.write("right/camera_info", camera_info_from_calibration(calibration("right"),
                                                                               stamp=time_from_ns(stamp)), stamp)
            writer.write("left/image_raw", image(2 * index, stamp), stamp)
            writer.write("right/image_raw", image(2 * index + 1, stamp, "rig/right_optical"), stamp)
            writer.write("ground_truth/disparity", disparity_message(stamp), stamp)


def storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".db3", ".mcap"))


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_written_messages_read_back_with_identical_fields(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, storage)
    with BagReader(bag) as reader:
        assert reader.storage == storage
        assert reader.message_count == 15
        assert reader.topics["/left/image_raw"].msgtype == "sensor_msgs/msg/Image"
        assert reader.topics["/ground_truth/disparity"].msgtype == "stereo_msgs/msg/DisparityImage"
        assert reader.start_time_ns == T0_NS and reader.end_time_ns == T0_NS + 200_000_000
        assert reader.custom_data == {"tool": "test"}
        read = list(reader.messages())
    assert [m.topic for m in read[:5]] == ["/left/camera_info", "/right/camera_info", "/left/image_raw",
                                           "/right/image_raw", "/ground_truth/disparity"]
    left = read[7].deserialize()
    expected = image(2, T0_NS + 100_000_000)
    assert left == expected  # every field, data byte for byte
    assert stamp_ns(left.header.stamp) == read[7].log_time_ns
    disparity = read[4].deserialize()
    np.testing.assert_array_equal(image_to_numpy(disparity.image), image_to_numpy(disparity_message(T0_NS).image))
    assert (disparity.f, disparity.t, disparity.delta_d) == (30.0, np.float32(0.12), 0.0625)  # float32 fields
    info = read[1].deserialize()
    restored = calibration_from_camera_info(info)
    for name in ("K", "D", "R", "P"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(calibration("right"), name))
    assert restored.frame_id == "rig/right_optical"


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_bag_is_readable_by_rosbags_with_its_own_typestore(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, storage, frames=2)
    typestore = get_typestore(Stores.ROS2_JAZZY)
    with Reader(bag) as reader:
        assert {c.topic: c.msgtype for c in reader.connections}["/right/camera_info"] == "sensor_msgs/msg/CameraInfo"
        assert all(c.digest == typestore.hash_rihs01(c.msgtype) for c in reader.connections)
        for connection, log_time_ns, data in reader.messages():
            msg = typestore.deserialize_cdr(data, connection.msgtype)
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == log_time_ns
            if connection.topic == "/left/image_raw":
                ours = image(0 if log_time_ns == T0_NS else 2, log_time_ns)
                assert (msg.width, msg.height, msg.encoding, msg.step) == (ours.width, ours.height, "rgb8", ours.step)
                assert msg.data.tobytes() == bytes(ours.data)
            if connection.topic == "/left/camera_info":
                np.testing.assert_array_equal(msg.p, calibration("left").P.flatten())


def test_reader_raises_on_missing_path_and_on_a_directory_that_is_not_a_bag(tmp_path: Path) -> None:
    with pytest.raises(BagNotFoundError, match="no such bag"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("hello")
    with pytest.raises(BagNotFoundError, match="no metadata.yaml"):
        BagReader(tmp_path / "folder")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(BagNotFoundError, match="not a bag"):
        BagReader(tmp_path / "image.png")


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_reader_raises_on_truncated_bag(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, storage, frames=4)
    data_file = storage_file(bag)
    with open(data_file, "r+b") as handle:
        handle.truncate(data_file.stat().st_size // 2)
    with pytest.raises(CorruptBagError, match="truncated or damaged"), BagReader(bag) as reader:
        list(reader.messages())


@pytest.mark.parametrize("offset", [8, 100])
@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_reader_raises_corrupt_bag_error_on_damaged_structure(tmp_path: Path, storage: str, offset: int) -> None:
    # Damaged headers, schemas and channels are found on opening, or as fewer messages than the metadata
    # lists; damaged MCAP payloads by their chunk's CRC (test below).
    bag = tmp_path / "bag"
    write_stereo_bag(bag, storage, frames=4)
    data_file = storage_file(bag)
    content = bytearray(data_file.read_bytes())
    content[offset:offset + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    data_file.write_bytes(bytes(content))
    with pytest.raises(CorruptBagError, match="truncated or damaged"), BagReader(bag) as reader:
        for message in reader.messages():
            message.deserialize()


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_reader_reads_an_interrupted_recording_without_metadata(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, storage, frames=2)
    (bag / "metadata.yaml").unlink()
    with BagReader(bag) as reader:
        assert "no metadata.yaml" in reader.note
        assert len(list(reader.messages(["left/image_raw"]))) == 2


def write_large_messages(path: Path, count: int) -> list[bytes]:
    """``count`` String messages of about 600 KB each (rosbags closes an MCAP chunk past 1 MiB: two per chunk)."""
    payloads = [serialize_message(String(data=chr(ord("a") + i) * 600_000)) for i in range(count)]
    with BagWriter(path, storage="mcap") as writer:
        for i, payload in enumerate(payloads):
            writer.write_raw("chatter", "std_msgs/msg/String", payload, T0_NS + i)
    return payloads


def test_mcap_chunks_carry_crcs_so_a_damaged_payload_is_reported_not_read(tmp_path: Path) -> None:
    payloads = write_large_messages(tmp_path / "bag", 5)
    data_file = storage_file(tmp_path / "bag")
    content = bytearray(data_file.read_bytes())
    position = content.index(b"c" * 1000)  # inside the third message, in the second chunk
    content[position] = ord("x")
    data_file.write_bytes(bytes(content))
    read = []
    with pytest.raises(CorruptBagError, match="damaged after 2 readable messages: ReaderError: Chunk checksum"), \
            BagReader(tmp_path / "bag") as reader:
        read.extend(message.data for message in reader.messages())
    assert read == payloads[:2]  # the first chunk, intact; nothing of the damaged one


def test_reader_reads_a_cut_off_mcap_up_to_its_last_complete_chunk(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    payloads = write_large_messages(bag, 5)
    (bag / "metadata.yaml").unlink()  # as a recorder killed before closing leaves it
    data_file = storage_file(bag)
    content = data_file.read_bytes()
    data_file.write_bytes(content[:content.index(b"d" * 1000)])  # cut inside the second chunk
    with BagReader(bag) as reader:
        assert "no metadata.yaml" in reader.note and "bag.mcap was cut off (no MCAP footer)" in reader.note
        assert reader.message_count == 2 and reader.topics["/chatter"].msgtype == "std_msgs/msg/String"
        assert [message.data for message in reader.messages()] == payloads[:2]
        assert reader.start_time_ns == T0_NS


def test_require_topics_names_the_missing_topics_and_lists_what_is_there(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, "sqlite3", frames=1, with_info=False)
    with BagReader(bag) as reader:
        with pytest.raises(MissingTopicError) as caught:
            StereoFrameReader(reader)
        text = str(caught.value)
        assert "/left/camera_info (sensor_msgs/msg/CameraInfo)" in text
        assert "/right/camera_info" in text and "/left/image_raw (sensor_msgs/msg/Image, 1)" in text
        with pytest.raises(TopicTypeError, match="ground_truth/disparity is stereo_msgs/msg/DisparityImage"):
            reader.require_topics({"ground_truth/disparity": "sensor_msgs/msg/Image"})


def test_deserialize_raises_corrupt_bag_error_on_bad_bytes(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag) as writer:
        writer.write_raw("left/image_raw", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00\xff\xff\xff\x7f", 5)
    with BagReader(bag) as reader:
        (message,) = reader.messages()
        with pytest.raises(CorruptBagError, match="not a valid sensor_msgs/msg/Image"):
            message.deserialize()


def test_writer_refuses_existing_output_and_overwrites_only_bags(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_stereo_bag(bag, "mcap", frames=1)
    with pytest.raises(BagWriteError, match="exists"):
        BagWriter(bag)
    with BagWriter(bag, overwrite=True) as writer:
        writer.write("chatter", String(data="hi"), 1)
    with BagReader(bag) as reader:
        assert list(reader.topics) == ["/chatter"]
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("...")
    with pytest.raises(BagWriteError, match="more than a bag"):
        BagWriter(tmp_path / "precious", overwrite=True)
    assert (tmp_path / "precious" / "thesis.tex").exists()


def test_writer_closes_a_readable_bag_when_the_block_raises(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    with pytest.raises(KeyboardInterrupt), BagWriter(bag, storage="mcap") as writer:
        writer.write("left/image_raw", image(0, 10), 10)
        raise KeyboardInterrupt
    with BagReader(bag) as reader:
        assert reader.message_count == 1 and reader.note == ""


def test_unknown_message_types_are_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(UnknownMessageTypeError, match="not available in Python"):
        message_class("no_such_pkg/msg/Thing")
    with pytest.raises(UnknownMessageTypeError, match="package/msg/Name"):
        message_class("Image")
    with BagWriter(tmp_path / "bag") as writer:
        with pytest.raises(UnknownMessageTypeError, match="no definition"):
            writer.write_raw("x", "my_pkg/msg/Custom", b"", 1)
        with pytest.raises(BagWriteError, match="already sensor_msgs/msg/Image"):
            writer.write("left/image_raw", image(0, 1), 1)
            writer.write("left/image_raw", String(data="x"), 2)
    assert message_type_name(Image) == "sensor_msgs/msg/Image"
    assert message_class("stereo_msgs/msg/DisparityImage") is DisparityImage


def test_names_and_times_convert_both_ways() -> None:
    assert normalize_topic("left/image_raw") == normalize_topic("/left/image_raw/") == "/left/image_raw"
    with pytest.raises(ValueError, match="empty"):
        normalize_topic("/")
    assert stamp_ns(time_from_ns(T0_NS)) == T0_NS
    assert time_from_ns(1_500_000_001) == Time(sec=1, nanosec=500_000_001)
    with pytest.raises(ValueError):
        time_from_ns(-1)


def test_camera_info_from_calibration_is_the_inverse_of_calibration_from_camera_info() -> None:
    info = camera_info_from_calibration(calibration("left"), stamp=time_from_ns(T0_NS))
    assert isinstance(info, CameraInfo) and info.header.frame_id == "rig/left_optical"
    assert (info.width, info.height, info.distortion_model) == (WIDTH, HEIGHT, "plumb_bob")
    restored = calibration_from_camera_info(info)
    for name in ("K", "D", "R", "P"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(calibration("left"), name))


def write_messages(path: Path, items: list[tuple[str, object, int]]) -> None:
    with BagWriter(path) as writer:
        for topic, message, log_time in items:
            writer.write(topic, message, log_time)


def info_message(side: str, stamp: int) -> CameraInfo:
    return camera_info_from_calibration(calibration(side), stamp=time_from_ns(stamp))


def test_stereo_frames_pair_images_by_stamp_as_the_node_does(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_messages(bag, [
        ("left/image_raw", image(0, 100), 1),  # before any CameraInfo: held until both arrive, as in the node
        ("right/image_raw", image(1, 100), 2),
        ("left/camera_info", info_message("left", 100), 3),
        ("right/camera_info", info_message("right", 100), 4),
        ("left/image_raw", image(2, 200), 5),  # right 200 never comes
        ("right/image_raw", image(3, 300), 6),
        ("left/image_raw", image(4, 300), 7),
        ("right/image_raw", image(5, 400), 8),  # left 400 never comes
    ])
    with BagReader(bag) as reader:
        frames_reader = StereoFrameReader(reader)
        frames = list(frames_reader)
    assert [f.stamp_ns for f in frames] == [100, 300]
    assert [f.log_time_ns for f in frames] == [4, 7]  # 100 is complete with the right CameraInfo
    assert frames[1].left_image == image(4, 300) and frames[1].right_image == image(3, 300)
    assert frames[0].right_info.header.frame_id == "rig/right_optical"
    counters = frames_reader.counters
    assert (counters.pairs, counters.without_info, counters.left_images, counters.right_images) == (2, 0, 3, 3)


def test_stereo_frames_pair_within_the_approximate_tolerance(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_messages(bag, [
        ("left/camera_info", info_message("left", 0), 1),
        ("right/camera_info", info_message("right", 0), 2),
        ("left/image_raw", image(0, 1_000_000), 3),
        ("right/image_raw", image(1, 1_004_000), 4),
    ])
    with BagReader(bag) as reader:
        assert list(StereoFrameReader(reader)) == []
        frames = list(StereoFrameReader(reader, approximate=True, tolerance_ns=5_000))
    assert len(frames) == 1 and frames[0].stamp_ns == 1_000_000


def test_storage_files_of_both_formats_open_directly(tmp_path: Path) -> None:
    for storage in STORAGE_FORMATS:
        bag = tmp_path / storage
        write_stereo_bag(bag, storage, frames=1)
        lone = tmp_path / f"lone{storage_file(bag).suffix}"
        shutil.copy(storage_file(bag), lone)
        with BagReader(lone) as reader:
            assert reader.storage == storage and reader.note == ""
            assert len(list(reader.messages())) == 5
        os.remove(lone)


THING_MSGDEF = "int32 value\nstring label\n"
THING_HASH = "RIHS01_" + "ab" * 32


def write_bag_with_unknown_type(path: Path) -> None:
    """A bag with my_pkg/msg/Thing (no Python package, not in the typestore) and a std_msgs/String."""
    typestore = get_typestore(Stores.ROS2_JAZZY)
    with Writer(path, version=9) as writer:
        thing = writer.add_connection("/thing", "my_pkg/msg/Thing", msgdef=THING_MSGDEF, rihs01=THING_HASH)
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        payload = b"\x00\x01\x00\x00" + (7).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"ab\x00"
        writer.write(thing, 10, payload)
        writer.write(chatter, 20, serialize_message(String(data="hello")))


def test_unknown_types_are_copied_with_the_input_bags_definition(tmp_path: Path) -> None:
    write_bag_with_unknown_type(tmp_path / "in")
    with BagReader(tmp_path / "in") as reader, BagWriter(tmp_path / "copy", storage="mcap") as writer:
        topic = reader.topics["/thing"]
        assert topic.definition == (THING_MSGDEF, THING_HASH)
        for message in reader.messages():
            if message.topic == "/thing":
                with pytest.raises(UnknownMessageTypeError, match="my_pkg/msg/Thing"):
                    message.deserialize()
            writer.write_raw(message.topic, message.msgtype, message.data, message.log_time_ns,
                             definition=reader.topics[message.topic].definition)
    with Reader(tmp_path / "copy") as reader:
        connection = next(c for c in reader.connections if c.topic == "/thing")
        assert (connection.msgdef.data, connection.digest) == (THING_MSGDEF, THING_HASH)
        assert [data for _, _, data in reader.messages([connection])][0][-3:] == b"ab\x00"
