"""ROS times (builtin_interfaces/Time, e.g. ``header.stamp``) as integer nanoseconds since the epoch, and back;
the header stamp of a serialized message without deserializing it."""

from __future__ import annotations

import struct
from typing import Final

from builtin_interfaces.msg import Time

from stereo_depth_ros.core.stamps import ns_from_sec_nanosec, sec_nanosec_from_ns

__all__ = ["stamp_ns", "stamp_ns_from_cdr", "time_from_ns"]

#: CDR encapsulation identifiers of a serialized ROS 2 message (its first two bytes) and their struct byte order.
_CDR_BYTE_ORDER: Final = {b"\x00\x01": "<", b"\x00\x00": ">"}


def stamp_ns(stamp: Time) -> int:
    """A builtin_interfaces/Time as integer nanoseconds since the epoch."""
    return ns_from_sec_nanosec(stamp.sec, stamp.nanosec)


def time_from_ns(time_ns: int) -> Time:
    """Integer nanoseconds since the epoch (>= 0) as a builtin_interfaces/Time.

    Raises:
        ValueError: ``time_ns`` < 0.
    """
    sec, nanosec = sec_nanosec_from_ns(time_ns)
    return Time(sec=sec, nanosec=nanosec)


def stamp_ns_from_cdr(serialized: bytes) -> int:
    """``header.stamp`` of a serialized ROS 2 message whose first field is a std_msgs/Header.

    The stamp (int32 sec, uint32 nanosec) follows the 4-byte CDR encapsulation
    header, so a subscriber can read it without deserializing a large message.

    Args:
        serialized: the CDR bytes as a raw subscription delivers them (or a bag stores them).

    Returns:
        sec * 1e9 + nanosec, ns.

    Raises:
        ValueError: shorter than 12 bytes or an unknown encapsulation.
    """
    if len(serialized) < 12:
        raise ValueError(f"a serialized message with a header has >= 12 bytes, got {len(serialized)}")
    kind = bytes(serialized[:2])
    if kind not in _CDR_BYTE_ORDER:
        raise ValueError(f"unknown CDR encapsulation {kind!r}")
    sec, nanosec = struct.unpack(_CDR_BYTE_ORDER[kind] + "iI", bytes(serialized[4:12]))
    return ns_from_sec_nanosec(sec, nanosec)
