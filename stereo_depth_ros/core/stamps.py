"""Times as integer nanoseconds: stamps (since the epoch) and durations, in names ending ``_ns``.

The one home of the seconds <-> nanoseconds conversions; ``ros.stamps`` turns
ROS ``builtin_interfaces/Time`` into these integers and back.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NS_PER_S", "ns_from_sec_nanosec", "sec_nanosec_from_ns", "seconds_to_ns"]

NS_PER_S: Final = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    """A duration or time in seconds as integer nanoseconds, rounded to the nearest."""
    return round(seconds * NS_PER_S)


def ns_from_sec_nanosec(sec: int, nanosec: int) -> int:
    """(whole seconds, nanoseconds) as integer nanoseconds: sec * 1e9 + nanosec."""
    return int(sec) * NS_PER_S + int(nanosec)


def sec_nanosec_from_ns(time_ns: int) -> tuple[int, int]:
    """Integer nanoseconds (>= 0) as (whole seconds, nanoseconds in [0, 1e9)).

    Raises:
        ValueError: ``time_ns`` < 0 (ROS times are not negative).
    """
    if time_ns < 0:
        raise ValueError(f"time must be >= 0 ns, got {time_ns}")
    sec, nanosec = divmod(int(time_ns), NS_PER_S)
    return sec, nanosec
