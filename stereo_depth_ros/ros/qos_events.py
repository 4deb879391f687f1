"""QoS events of the node's subscriptions and publishers, turned into reports instead of silence.

A publisher whose QoS cannot serve a subscription (e.g. a best-effort camera driver and the node
started with ``input_qos:=reliable``, or a transient-local subscriber of the node's volatile
outputs) never connects: without these callbacks the node would simply see no input. DDS also
tells a subscription when it lost samples (fragments overwritten before they were read); that
count goes on /diagnostics too.

``QosEventMonitor`` builds rclpy's event callbacks for each endpoint; every event is counted and
handed to ``report(category, kind, message)`` (the node's throttled log + /diagnostics, where
``ros.node_diagnostics`` shows the counts under its categories ``INPUT_QOS_CATEGORY`` and
``OUTPUT_QOS_CATEGORY``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rclpy.qos import qos_policy_name_from_kind

from stereo_depth_ros.ros.node_diagnostics import INPUT_QOS_CATEGORY, OUTPUT_QOS_CATEGORY

try:  # Iron and newer
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # pragma: no cover  (Humble)
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks  # type: ignore[no-redef]

__all__ = ["QosEventMonitor"]

Report = Callable[[str, str, str], None]


def _policy_name(kind: Any) -> str:
    try:
        return str(qos_policy_name_from_kind(kind))
    except (TypeError, ValueError, KeyError):
        return str(kind)


class QosEventMonitor:
    """Counts QoS events of the node's endpoints and reports each one.

    Args:
        report: called as ``report(category, kind, message)`` for every event, with category
            ``INPUT_QOS_CATEGORY`` (subscriptions) or ``OUTPUT_QOS_CATEGORY`` (publishers) and a
            ``kind`` per topic and event, so that throttling one does not hide another.

    Attributes (read with ``counts``): ``incompatible_qos_inputs``, ``incompatible_qos_outputs``
    (endpoints offered or requesting an incompatible QoS, cumulative) and ``messages_lost`` (samples a
    subscription lost in DDS, cumulative).
    """

    def __init__(self, report: Report) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._counts = {"incompatible_qos_inputs": 0, "incompatible_qos_outputs": 0, "messages_lost": 0}

    def counts(self) -> dict[str, int]:
        """A snapshot of the cumulative counters."""
        with self._lock:
            return dict(self._counts)

    def _add(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount

    def subscription_callbacks(self, topic: str) -> SubscriptionEventCallbacks:
        """Event callbacks of the subscription of ``topic`` (name as the log should show it)."""

        def incompatible(status: Any) -> None:
            self._add("incompatible_qos_inputs", max(int(status.total_count_change), 1))
            policy = _policy_name(status.last_policy_kind)
            self._report(INPUT_QOS_CATEGORY, f"incompatible_qos_{topic}",
                         f"a publisher of {topic} offers a QoS incompatible with the node's subscription "
                         f"({policy}; {status.total_count} publisher(s) so far): nothing from it arrives. "
                         "The node's input_qos parameter sets reliability (sensor_data = best effort accepts "
                         "every publisher)")

        def lost(status: Any) -> None:
            self._add("messages_lost", int(status.total_count_change))
            self._report(INPUT_QOS_CATEGORY, f"messages_lost_{topic}",
                         f"{status.total_count_change} message(s) on {topic} lost in DDS before the node could "
                         f"read them ({status.total_count} in all); see README, Fast DDS and large images")

        return SubscriptionEventCallbacks(incompatible_qos=incompatible, message_lost=lost)

    def publisher_callbacks(self, topic: str) -> PublisherEventCallbacks:
        """Event callbacks of the publisher of ``topic``."""

        def incompatible(status: Any) -> None:
            self._add("incompatible_qos_outputs", max(int(status.total_count_change), 1))
            policy = _policy_name(status.last_policy_kind)
            self._report(OUTPUT_QOS_CATEGORY, f"incompatible_qos_{topic}",
                         f"a subscriber of {topic} requests a QoS the node does not offer ({policy}; "
                         f"{status.total_count} subscriber(s) so far): it receives nothing. The node's "
                         "output_qos_reliability and output_qos_depth parameters set what it offers (volatile "
                         "durability)")

        return PublisherEventCallbacks(incompatible_qos=incompatible)
