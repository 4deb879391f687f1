"""Counters, rates, latency and problems of the node, reported on /diagnostics.

``NodeStatistics`` is ROS-free and thread-safe: the subscription callbacks and
the inference worker record into it, and the diagnostics timer takes a
``StatisticsWindow`` snapshot each period (rates and latencies are over that
window; counters are totals since start-up). ``diagnostic_array`` turns a list
of ``StatusReport`` into a diagnostic_msgs/DiagnosticArray.

Problems are kept per category ("input", "calibration", "processing", ...):
a problem stays active until the category is cleared (for frame problems: by
the next frame that is published), so /diagnostics shows why output stopped,
and when it resumed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray

__all__ = ["Level", "NodeStatistics", "Problem", "StatisticsWindow", "StatusReport", "diagnostic_array"]


class Level(IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass(frozen=True)
class Problem:
    """The latest problem of one category.

    Attributes:
        message: what went wrong, with the offending value.
        level: how bad it is.
        count: occurrences since the category was last cleared.
        monotonic_s: when it last happened, time.monotonic() seconds.
    """

    message: str
    level: Level
    count: int
    monotonic_s: float


@dataclass(frozen=True)
class StatisticsWindow:
    """One diagnostics period.

    Attributes:
        duration_s: length of the window, s.
        window_counts: events in this window, by name.
        totals: events since start-up, by name.
        latency_ms: end-to-end latencies (publish time - image stamp) of the frames published, ms.
        processing_ms: inference-to-publish times of the frames published, ms.
        problems: active problems by category.
        last_error: the most recent problem of any category (kept after it is cleared), or None.
    """

    duration_s: float
    window_counts: dict[str, int]
    totals: dict[str, int]
    latency_ms: tuple[float, ...]
    processing_ms: tuple[float, ...]
    problems: dict[str, Problem]
    last_error: Problem | None

    def rate_hz(self, name: str) -> float:
        """Events per second of ``name`` in this window."""
        return self.window_counts.get(name, 0) / self.duration_s if self.duration_s > 0 else 0.0


class NodeStatistics:
    """Thread-safe event counters, latency samples and per-category problems."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._latency_ms: list[float] = []
        self._processing_ms: list[float] = []
        self._problems: dict[str, Problem] = {}
        self._last_error: Problem | None = None
        self._window_start_s = time.monotonic()

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` events called ``name``."""
        if amount:
            with self._lock:
                self._totals[name] += amount
                self._window[name] += amount

    def record_frame(self, *, latency_ms: float, processing_ms: float) -> None:
        """A frame was published: its end-to-end latency and processing time, ms."""
        with self._lock:
            self._latency_ms.append(latency_ms)
            self._processing_ms.append(processing_ms)

    def report(self, category: str, message: str, level: Level = Level.ERROR) -> bool:
        """Record a problem of ``category``; returns True when the message differs from the active one."""
        now = time.monotonic()
        with self._lock:
            previous = self._problems.get(category)
            count = previous.count + 1 if previous is not None else 1
            problem = Problem(message=message, level=level, count=count, monotonic_s=now)
            self._problems[category] = problem
            self._last_error = problem
            return previous is None or previous.message != message

    def clear(self, category: str) -> bool:
        """End the active problem of ``category``; returns True when there was one."""
        with self._lock:
            return self._problems.pop(category, None) is not None

    def take_window(self) -> StatisticsWindow:
        """Snapshot of the window since the previous call, and start a new one."""
        now = time.monotonic()
        with self._lock:
            window = StatisticsWindow(duration_s=now - self._window_start_s, window_counts=dict(self._window),
                                      totals=dict(self._totals), latency_ms=tuple(self._latency_ms),
                                      processing_ms=tuple(self._processing_ms), problems=dict(self._problems),
                                      last_error=self._last_error)
            self._window.clear()
            self._latency_ms.clear()
            self._processing_ms.clear()
            self._window_start_s = now
        return window


@dataclass(frozen=True)
class StatusReport:
    """One diagnostic_msgs/DiagnosticStatus, ROS-free.

    Attributes:
        name: status name, "<node name>: <part>".
        level: overall level.
        message: one-line summary.
        hardware_id: what the status is about.
        values: key/value pairs; values are formatted strings.
    """

    name: str
    level: Level
    message: str
    hardware_id: str = ""
    values: dict[str, str] = field(default_factory=dict)


def diagnostic_array(reports: list[StatusReport], *, stamp: Time) -> DiagnosticArray:
    """The DiagnosticArray message holding ``reports``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from std_msgs.msg import Header

    return DiagnosticArray(header=Header(stamp=stamp), status=[
        DiagnosticStatus(level=bytes([int(report.level)]), name=report.name, message=report.message,
                         hardware_id=report.hardware_id,
                         values=[KeyValue(key=key, value=value) for key, value in report.values.items()])
        for report in reports])
