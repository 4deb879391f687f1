"""The node reports endpoints that can never connect (incompatible QoS) in its log and on /diagnostics, instead of
staying silent: a best-effort camera publisher while the node subscribes reliably, and a transient-local subscriber
of an output the node publishes volatile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from stereo_msgs.msg import DisparityImage
from stereo_node_harness import Diagnostic, NodeProcess, RosPeer, node_and_peer_fixtures, wait_for

node, peer = node_and_peer_fixtures("stereo_node_qos_events", {"backend": "sgbm", "input_qos": "reliable"})


@pytest.fixture(scope="module")
def mismatched(peer: RosPeer) -> Iterator[RosPeer]:
    """The peer with a best-effort publisher of left/image_raw and a transient-local subscriber of disparity."""
    best_effort = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    transient = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = peer.node.create_publisher(Image, "left/image_raw", best_effort)
    subscription = peer.node.create_subscription(DisparityImage, "disparity", lambda msg: None, transient)
    yield peer
    peer.node.destroy_publisher(publisher)
    peer.node.destroy_subscription(subscription)


def test_incompatible_publishers_and_subscribers_are_counted_and_logged(mismatched: RosPeer,
                                                                        node: NodeProcess) -> None:
    def both_counted(report: dict[str, Diagnostic]) -> bool:
        return ("input" in report and "output" in report
                and int(report["input"].values.get("incompatible_qos_publishers_total", "0")) >= 1
                and int(report["output"].values.get("incompatible_qos_subscribers_total", "0")) >= 1)

    report = mismatched.wait_for_diagnostics(both_counted, "incompatible QoS on both sides")
    assert "a publisher of /left/image_raw offers a QoS incompatible" in report["input"].message
    assert "RELIABILITY" in report["input"].message
    assert "a subscriber of /disparity requests a QoS the node does not offer (DURABILITY" in report["output"].message
    assert report["input"].values["messages_lost_in_dds_total"] == "0"
    log = wait_for(lambda: node.log() if "offers a QoS incompatible" in node.log() else None, 30.0, "the log line")
    assert "input_qos parameter sets reliability" in log
    assert "a subscriber of /disparity requests a QoS the node does not offer" in log
