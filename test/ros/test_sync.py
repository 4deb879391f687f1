"""Stereo synchroniser: exact and approximate pairing, calibration cache, bounded queues, time jumps.

No ROS: images and calibrations are plain strings.
"""

from __future__ import annotations

import pytest

from stereo_depth_ros.ros.sync import StereoSynchronizer, SyncCounters

MS = 1_000_000  # ns


def synchroniser(**kwargs: object) -> StereoSynchronizer[str, str]:
    sync: StereoSynchronizer[str, str] = StereoSynchronizer(**kwargs)  # type: ignore[arg-type]
    sync.set_camera_info("left", "info-L")
    sync.set_camera_info("right", "info-R")
    return sync


def test_exact_sync_pairs_equal_stamps_in_either_arrival_order() -> None:
    sync = synchroniser()
    assert sync.add_image("left", 100 * MS, "L1").pair is None
    pair = sync.add_image("right", 100 * MS, "R1").pair
    assert pair is not None
    assert (pair.stamp_ns, pair.right_stamp_ns, pair.left_image, pair.right_image) == (100 * MS, 100 * MS, "L1", "R1")
    assert (pair.left_info, pair.right_info, pair.skew_ns) == ("info-L", "info-R", 0)
    assert sync.add_image("right", 200 * MS, "R2").pair is None
    pair = sync.add_image("left", 200 * MS, "L2").pair
    assert pair is not None and (pair.left_image, pair.right_image) == ("L2", "R2")
    assert sync.counters == SyncCounters(left_images=2, right_images=2, pairs=2)


def test_exact_sync_never_pairs_different_stamps_and_drops_the_unreachable_one() -> None:
    sync = synchroniser()
    sync.add_image("left", 100 * MS, "L1")
    result = sync.add_image("right", 101 * MS, "R1")
    assert result.pair is None
    assert result.dropped == 1  # L1 can never be paired: the right side is past it
    assert sync.queued("left") == 0 and sync.queued("right") == 1
    assert sync.counters.unmatched == 1


def test_a_lost_image_on_one_side_drops_only_its_partner() -> None:
    sync = synchroniser()
    pairs = []
    for index in range(6):
        stamp = index * 100 * MS
        if index != 3:  # right image 3 is lost
            sync.add_image("right", stamp, f"R{index}")
        pair = sync.add_image("left", stamp, f"L{index}").pair
        if pair is not None:
            pairs.append(pair.left_image)
    assert pairs == ["L0", "L1", "L2", "L4", "L5"]
    assert sync.counters.unmatched == 1
    assert sync.queued("left") == 0 and sync.queued("right") == 0


def test_queues_are_bounded_and_overflow_is_counted() -> None:
    sync = synchroniser(queue_size=3)
    for index in range(10):
        sync.add_image("left", index * MS, f"L{index}")
    assert sync.queued("left") == 3
    assert sync.counters.unmatched == 7
    pair = sync.add_image("right", 9 * MS, "R9").pair  # the newest left is still there
    assert pair is not None and pair.left_image == "L9"


def test_matching_drops_every_older_image_on_both_sides() -> None:
    sync = synchroniser(queue_size=10)
    for index in range(4):
        sync.add_image("left", index * MS, f"L{index}")
    result = sync.add_image("right", 3 * MS, "R3")
    assert result.pair is not None and result.pair.left_image == "L3"
    assert result.dropped == 3
    assert sync.queued("left") == 0


def test_approximate_sync_pairs_the_nearest_stamp_within_tolerance() -> None:
    sync = synchroniser(approximate=True, tolerance_ns=5 * MS, queue_size=10)
    sync.add_image("right", 96 * MS, "R-early")
    sync.add_image("right", 103 * MS, "R-near")
    pair = sync.add_image("left", 102 * MS, "L").pair
    assert pair is not None
    assert (pair.right_image, pair.stamp_ns, pair.right_stamp_ns, pair.skew_ns) == ("R-near", 102 * MS, 103 * MS, MS)
    assert sync.counters.unmatched == 1  # R-early, older than the pair


def test_approximate_sync_rejects_stamps_beyond_tolerance() -> None:
    sync = synchroniser(approximate=True, tolerance_ns=2 * MS)
    sync.add_image("left", 100 * MS, "L")
    assert sync.add_image("right", 103 * MS, "R").pair is None
    assert sync.counters.unmatched == 1


def test_approximate_sync_with_jitter_pairs_every_frame() -> None:
    sync = synchroniser(approximate=True, tolerance_ns=10 * MS)
    jitter_ms = [3, -4, 7, -9, 0, 5, -2, 8]
    pairs = []
    for index, jitter in enumerate(jitter_ms):
        left_ns = 1000 * MS + index * 50 * MS
        right_ns = left_ns + jitter * MS
        first, second = ("left", left_ns), ("right", right_ns)
        if index % 2 == 0:
            first, second = second, first
        sync.add_image(first[0], first[1], f"{first[0]}{index}")  # type: ignore[arg-type]
        pair = sync.add_image(second[0], second[1], f"{second[0]}{index}").pair  # type: ignore[arg-type]
        assert pair is not None
        pairs.append((pair.left_image, pair.right_image, pair.stamp_ns))
    assert pairs == [(f"left{i}", f"right{i}", 1000 * MS + i * 50 * MS) for i in range(len(jitter_ms))]
    assert sync.counters.unmatched == 0


def test_the_latest_pair_waits_for_both_calibrations_and_then_pairs_reuse_the_latest() -> None:
    sync: StereoSynchronizer[str, str] = StereoSynchronizer()
    sync.add_image("left", 1 * MS, "L1")
    result = sync.add_image("right", 1 * MS, "R1")
    assert result.pair is None and result.missing_info == ("left", "right") and result.dropped_without_info == 0
    assert sync.set_camera_info("left", "info-L-v1") is None  # right still missing: L1/R1 stays held
    sync.add_image("left", 2 * MS, "L2")
    result = sync.add_image("right", 2 * MS, "R2")  # replaces the held L1/R1
    assert result.pair is None and result.missing_info == ("right",) and result.dropped_without_info == 1
    held = sync.set_camera_info("right", "info-R-v1")
    assert held is not None and (held.left_image, held.right_image, held.stamp_ns) == ("L2", "R2", 2 * MS)
    assert (held.left_info, held.right_info) == ("info-L-v1", "info-R-v1")
    assert sync.set_camera_info("right", "info-R-v1") is None  # released once only
    for index in (3, 4, 5):  # camera_info at a lower rate than images
        sync.add_image("left", index * MS, f"L{index}")
        pair = sync.add_image("right", index * MS, f"R{index}").pair
        assert pair is not None and (pair.left_info, pair.right_info) == ("info-L-v1", "info-R-v1")
    sync.set_camera_info("left", "info-L-v2")
    sync.add_image("left", 6 * MS, "L6")
    pair = sync.add_image("right", 6 * MS, "R6").pair
    assert pair is not None and pair.left_info == "info-L-v2"
    assert sync.counters.without_info == 1 and sync.counters.pairs == 5


def test_a_time_jump_drops_the_held_pair() -> None:
    sync: StereoSynchronizer[str, str] = StereoSynchronizer()
    sync.add_image("left", 5 * MS, "L5")
    sync.add_image("right", 5 * MS, "R5")
    assert sync.add_image("left", 1 * MS, "L1").time_jump is not None
    sync.set_camera_info("left", "info-L")
    assert sync.set_camera_info("right", "info-R") is None
    assert sync.counters.without_info == 1 and sync.counters.pairs == 0


def test_stamps_going_backwards_reset_the_queues_and_report_a_time_jump() -> None:
    sync = synchroniser(queue_size=5)
    for index in range(3):
        sync.add_image("left", (1000 + index) * MS, f"L{index}")
        sync.add_image("right", (1000 + index) * MS, f"R{index}")
    sync.add_image("left", 1003 * MS, "L3")  # waiting for its partner
    result = sync.add_image("left", 5 * MS, "L-loop")  # the bag starts again
    assert result.time_jump is not None
    jump = result.time_jump
    assert (jump.side, jump.previous_stamp_ns, jump.stamp_ns) == ("left", 1003 * MS, 5 * MS)
    assert result.time_jump.discarded == 1
    assert sync.counters.time_jumps == 1
    pair = sync.add_image("right", 5 * MS, "R-loop").pair  # pairing goes on after the jump
    assert pair is not None and (pair.left_image, pair.right_image, pair.left_info) == ("L-loop", "R-loop", "info-L")


def test_a_repeated_stamp_is_dropped_as_a_duplicate() -> None:
    sync = synchroniser()
    sync.add_image("left", 7 * MS, "L")
    result = sync.add_image("left", 7 * MS, "L-again")
    assert result.dropped == 1 and sync.queued("left") == 1
    pair = sync.add_image("right", 7 * MS, "R").pair
    assert pair is not None and pair.left_image == "L"


def test_memory_stays_bounded_when_one_side_never_arrives() -> None:
    sync = synchroniser(queue_size=4)
    for index in range(1000):
        sync.add_image("left", index * MS, "L")
    assert sync.queued("left") == 4 and sync.queued("right") == 0
    assert sync.counters.unmatched == 996


@pytest.mark.parametrize("kwargs", [{"queue_size": 0}, {"approximate": True, "tolerance_ns": -1}])
def test_invalid_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StereoSynchronizer(**kwargs)  # type: ignore[arg-type]


def test_invalid_side_and_negative_stamp_are_rejected() -> None:
    sync = synchroniser()
    with pytest.raises(ValueError, match="side"):
        sync.add_image("middle", 1, "X")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stamp_ns"):
        sync.add_image("left", -1, "X")


def test_the_module_does_not_import_rclpy() -> None:
    import subprocess
    import sys

    code = ("import sys, stereo_depth_ros.ros.sync, stereo_depth_ros.ros.parameters; "
            "assert 'rclpy' not in sys.modules, 'rclpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
