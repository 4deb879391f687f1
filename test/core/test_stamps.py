"""core.stamps: integer nanoseconds from and to seconds, with known answers."""

from __future__ import annotations

import pytest

from stereo_depth_ros.core.stamps import NS_PER_S, ns_from_sec_nanosec, sec_nanosec_from_ns, seconds_to_ns


def test_nanoseconds_round_trip_through_seconds_and_nanoseconds():
    stamp_ns = 1_700_000_000_250_000_001
    assert sec_nanosec_from_ns(stamp_ns) == (1_700_000_000, 250_000_001)
    assert ns_from_sec_nanosec(1_700_000_000, 250_000_001) == stamp_ns
    assert sec_nanosec_from_ns(0) == (0, 0) and NS_PER_S == 10**9
    with pytest.raises(ValueError, match="got -1"):
        sec_nanosec_from_ns(-1)


def test_seconds_round_to_the_nearest_nanosecond():
    assert seconds_to_ns(0.05) == 50_000_000 and seconds_to_ns(0.01) == 10_000_000
    assert seconds_to_ns(1e-9 * 2.6) == 3 and seconds_to_ns(0.0) == 0
