"""ROS times (builtin_interfaces/Time, e.g. ``header.stamp``) as integer nanoseconds since the epoch, and back."""

from __future__ import annotations

from builtin_interfaces.msg import Time

from stereo_depth_ros.core.stamps import ns_from_sec_nanosec, sec_nanosec_from_ns

__all__ = ["stamp_ns", "time_from_ns"]


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
