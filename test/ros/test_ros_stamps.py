"""ROS times as integer nanoseconds, and the header stamp read from a message's CDR bytes."""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

from stereo_depth_ros.ros.stamps import stamp_ns, stamp_ns_from_cdr, time_from_ns


def test_times_round_trip_through_nanoseconds() -> None:
    assert stamp_ns(Time(sec=1_700_000_123, nanosec=456_789_012)) == 1_700_000_123_456_789_012
    assert time_from_ns(1_700_000_123_456_789_012) == Time(sec=1_700_000_123, nanosec=456_789_012)
    with pytest.raises(ValueError, match="time must be >= 0 ns"):
        time_from_ns(-1)


@pytest.mark.parametrize("message", [
    PointCloud2(header=Header(stamp=Time(sec=1_700_000_123, nanosec=456_789_012), frame_id="left"), height=2,
                width=3),
    Image(header=Header(stamp=Time(sec=1_700_000_123, nanosec=456_789_012)), width=3),
])
def test_header_stamp_is_read_from_the_cdr_bytes_without_deserializing(message: object) -> None:
    assert stamp_ns_from_cdr(serialize_message(message)) == 1_700_000_123_456_789_012


@pytest.mark.parametrize(("data", "message"), [
    (b"\x00\x01\x00", "a serialized message with a header has >= 12 bytes, got 3"),
    (b"\x00\x01\x00\x00", "a serialized message with a header has >= 12 bytes, got 4"),
    (b"\x00\x07" + bytes(10), "unknown CDR encapsulation"),
])
def test_a_message_without_a_plain_cdr_header_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stamp_ns_from_cdr(data)
