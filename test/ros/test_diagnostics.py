"""NodeStatistics (ROS-free) and its DiagnosticArray: counters, windows, problems, levels."""

from __future__ import annotations

import threading

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus

from stereo_depth_ros.ros.diagnostics import Level, NodeStatistics, StatusReport, diagnostic_array


def test_counts_are_totals_and_per_window() -> None:
    stats = NodeStatistics()
    stats.count("pairs", 3)
    first = stats.take_window()
    stats.count("pairs")
    second = stats.take_window()
    assert (first.window_counts["pairs"], first.totals["pairs"]) == (3, 3)
    assert (second.window_counts["pairs"], second.totals["pairs"]) == (1, 4)
    assert second.rate_hz("pairs") > 0.0 and second.rate_hz("never") == 0.0


def test_latency_samples_belong_to_one_window() -> None:
    stats = NodeStatistics()
    stats.record_frame(latency_ms=40.0, processing_ms=25.0)
    window = stats.take_window()
    assert window.latency_ms == (40.0,) and window.processing_ms == (25.0,)
    assert stats.take_window().latency_ms == ()


def test_a_problem_stays_active_until_cleared_and_the_last_error_is_kept() -> None:
    stats = NodeStatistics()
    assert stats.report("input", "unsupported encoding 'yuv422'") is True
    assert stats.report("input", "unsupported encoding 'yuv422'") is False  # same message again
    problem = stats.take_window().problems["input"]
    assert problem.count == 2 and problem.level == Level.ERROR and problem.message == "unsupported encoding 'yuv422'"
    assert stats.clear("input") is True and stats.clear("input") is False
    window = stats.take_window()
    assert "input" not in window.problems
    assert window.last_error is not None and "yuv422" in window.last_error.message


def test_counting_from_many_threads_loses_nothing() -> None:
    stats = NodeStatistics()
    threads = [threading.Thread(target=lambda: [stats.count("images") for _ in range(1000)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.take_window().totals["images"] == 4000


def test_reports_become_a_diagnostic_array() -> None:
    message = diagnostic_array([StatusReport("node: input", Level.WARN, "time jump", "stereo camera",
                                             {"time_jumps_total": "1"})], stamp=Time(sec=5))
    assert message.header.stamp.sec == 5
    status = message.status[0]
    assert status.level == DiagnosticStatus.WARN
    assert (status.name, status.message, status.hardware_id) == ("node: input", "time jump", "stereo camera")
    assert [(kv.key, kv.value) for kv in status.values] == [("time_jumps_total", "1")]
