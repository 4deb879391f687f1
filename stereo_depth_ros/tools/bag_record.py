"""stereo_bag_record: record topics from DDS into a rosbag2 bag.

A small ``ros2 bag record``: each topic is subscribed once a publisher offers
it (its type is taken from the graph), with a QoS that matches the publishers
(reliable only if all of them are, transient-local only if all of them are),
and every message is written as received (CDR bytes, no decoding) with its
receive time as log time. Recording stops after ``--max-messages`` in total,
once each topic has ``--messages-per-topic``, after ``--duration`` seconds,
after ``--idle-timeout`` seconds without a message (by default
``DEFAULT_IDLE_TIMEOUT_S`` once a count is expected, so lost messages never
keep it waiting), or on Ctrl-C / SIGTERM; the bag is always closed with its
metadata, so it is readable. The last line says how many messages each topic
got, and of how many expected; when an expected count was not reached the
exit code is 8.

If nothing at all arrives within ``--wait-timeout`` seconds, the (empty) bag is
closed and the exit code is 8. Unless ``FASTRTPS_DEFAULT_PROFILES_FILE`` is
set, the recorder uses the package's Fast DDS profile for large images
(``ros.dds``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from stereo_depth_ros.ros.bag_io import STORAGE_FORMATS, BagWriter, message_class, normalize_topic
from stereo_depth_ros.ros.dds import select_large_image_profile
from stereo_depth_ros.ros.errors import UnknownMessageTypeError
from stereo_depth_ros.tools.errors import EXIT_CODES, RosCommunicationError, UsageError, run_tool

__all__ = ["DEFAULT_IDLE_TIMEOUT_S", "Recorder", "build_parser", "main", "subscription_qos"]

#: Topics ``--all`` leaves out (every node has them).
_HIDDEN_BY_ALL: Final = frozenset({"/rosout", "/parameter_events"})
_DISCOVERY_PERIOD_S: Final = 0.1
#: ``--idle-timeout`` when --messages-per-topic or --max-messages is given and it is not, s.
DEFAULT_IDLE_TIMEOUT_S: Final = 10.0


def subscription_qos(offered: Sequence[QoSProfile], *, mode: str = "auto", depth: int = 100) -> QoSProfile:
    """The QoS to subscribe with, given the publishers' offered profiles.

    ``auto``: reliable when every publisher is reliable (else best effort, which
    matches both), transient-local when every publisher is; ``reliable`` /
    ``best_effort`` force the reliability. History keeps the last ``depth``.
    """
    if mode == "reliable":
        reliability = ReliabilityPolicy.RELIABLE
    elif mode == "best_effort" or not offered:
        reliability = ReliabilityPolicy.BEST_EFFORT
    else:
        reliability = (ReliabilityPolicy.RELIABLE if all(q.reliability == ReliabilityPolicy.RELIABLE
                                                         for q in offered) else ReliabilityPolicy.BEST_EFFORT)
    durability = (DurabilityPolicy.TRANSIENT_LOCAL
                  if offered and all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
                  else DurabilityPolicy.VOLATILE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability, durability=durability)


@dataclass(frozen=True)
class _Limits:
    max_messages: int | None
    messages_per_topic: int | None
    duration_s: float | None
    idle_timeout_s: float | None
    wait_timeout_s: float | None


class Recorder:
    """Subscribes to topics as they appear and writes what arrives into ``writer``.

    Args:
        node: the rclpy node to subscribe with.
        writer: an open bag.
        topics: fully qualified names to record; None = every topic (but /rosout, /parameter_events).
        qos_mode: ``auto``, ``reliable`` or ``best_effort`` (see ``subscription_qos``).
        messages_per_topic: stop writing a topic after this many messages (None = no limit).
        log: where notes go (a topic subscribed, a type left out).
    """

    def __init__(self, node: Node, writer: BagWriter, topics: Sequence[str] | None, *, qos_mode: str = "auto",
                 messages_per_topic: int | None = None, log: Callable[[str], None] = print) -> None:
        self.node = node
        self.writer = writer
        self.topics = None if topics is None else [normalize_topic(t) for t in topics]
        self.qos_mode = qos_mode
        self.messages_per_topic = messages_per_topic
        self.log = log
        self.subscriptions: dict[str, Any] = {}
        self.unmatched: set[str] = set()  # subscribed, but no publisher connected yet
        self.skipped: dict[str, str] = {}
        self.last_message_s: float | None = None

    def discover(self) -> None:
        """Subscribe to every wanted topic that now has a publisher."""
        for name, types in self.node.get_topic_names_and_types():
            topic = normalize_topic(name)
            if topic in self.subscriptions or topic in self.skipped:
                continue
            if (self.topics is not None and topic not in self.topics) or (self.topics is None
                                                                           and topic in _HIDDEN_BY_ALL):
                continue
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            msgtype = types[0]
            try:
                cls = message_class(msgtype)
                self.writer.add_topic(topic, msgtype)
            except UnknownMessageTypeError as err:
                self.skipped[topic] = str(err)
                self.log(f"not recording {topic}: {err}")
                continue
            qos = subscription_qos([p.qos_profile for p in publishers], mode=self.qos_mode)
            self.subscriptions[topic] = self.node.create_subscription(
                cls, topic, self._writer_for(topic, msgtype), qos, raw=True)
            self.unmatched.add(topic)
            self.log(f"recording {topic} ({msgtype}, {qos.reliability.name.lower()})")

    def report_matches(self) -> None:
        """Log each subscription's first connection to a publisher (messages flow only after it)."""
        for topic in sorted(self.unmatched):
            publishers = self.subscriptions[topic].get_publisher_count()
            if publishers:
                self.unmatched.discard(topic)
                self.log(f"matched {topic} ({publishers} publisher(s))")

    def _writer_for(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            if self.messages_per_topic is not None and self.writer.counts[topic] >= self.messages_per_topic:
                return
            self.writer.write_raw(topic, msgtype, data, time.time_ns())
            self.last_message_s = time.monotonic()

        return write

    def missing(self) -> list[str]:
        """Requested topics not subscribed yet."""
        return [] if self.topics is None else [t for t in self.topics if t not in self.subscriptions]

    def per_topic_done(self) -> bool:
        """Every requested topic has ``messages_per_topic`` messages."""
        if self.messages_per_topic is None or self.topics is None:
            return False
        return all(self.writer.counts[t] >= self.messages_per_topic for t in self.topics if t not in self.skipped)


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_bag_record."""
    parser = argparse.ArgumentParser(
        prog="stereo_bag_record",
        description="Record topics from DDS into a rosbag2 bag until a limit or Ctrl-C; the bag is always "
                    "closed cleanly (Fast DDS: the package's large-image profile unless "
                    "FASTRTPS_DEFAULT_PROFILES_FILE is set).",
        epilog="Exit codes: 0 ok (also when stopped with Ctrl-C), 2 usage, 7 output not writable, "
               "8 nothing arrived within --wait-timeout, or fewer messages than --messages-per-topic / "
               "--max-messages arrived before the idle timeout (the bag holds what did).")
    parser.add_argument("output", help="bag directory to create")
    parser.add_argument("topics", nargs="*", help="topics to record (relative names are taken as /name)")
    parser.add_argument("--all", action="store_true", help="record every topic (but /rosout, /parameter_events)")
    parser.add_argument("--storage", choices=STORAGE_FORMATS, default="sqlite3", help="bag storage (default sqlite3)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N", help="stop after N messages in total")
    parser.add_argument("--messages-per-topic", type=int, default=None, metavar="N",
                        help="record at most N messages per topic; stop once every topic has N")
    parser.add_argument("--duration", type=float, default=None, metavar="SEC",
                        help="stop SEC seconds after the start")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="SEC",
                        help="stop when nothing arrived for SEC seconds after the first message (default: "
                             f"{DEFAULT_IDLE_TIMEOUT_S:g} with --messages-per-topic or --max-messages, else none)")
    parser.add_argument("--wait-timeout", type=float, default=None, metavar="SEC",
                        help="give up (exit 8) if no message at all arrives within SEC seconds")
    parser.add_argument("--qos", choices=("auto", "reliable", "best_effort"), default="auto",
                        help="subscription reliability: match the publishers (auto, default) or force one")
    parser.add_argument("--node-name", default="stereo_bag_recorder", help="ROS node name")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    return parser


def _limits(args: argparse.Namespace) -> _Limits:
    for name in ("max_messages", "messages_per_topic"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name in ("duration", "idle_timeout", "wait_timeout"):
        value = getattr(args, name)
        if value is not None and not value > 0.0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0 s, got {value}")
    if bool(args.topics) == bool(args.all):
        raise UsageError("give the topics to record, or --all (not both)")
    if args.messages_per_topic is not None and args.all:
        raise UsageError("--messages-per-topic needs an explicit list of topics")
    idle_timeout = args.idle_timeout
    if idle_timeout is None and (args.max_messages is not None or args.messages_per_topic is not None):
        idle_timeout = DEFAULT_IDLE_TIMEOUT_S
    return _Limits(args.max_messages, args.messages_per_topic, args.duration, idle_timeout, args.wait_timeout)


def _shortfall(counts: dict[str, int], topics: Sequence[str], limits: _Limits) -> list[str]:
    """``topic got of expected`` for each expectation that ``counts`` falls short of (empty when none does)."""
    short = []
    if limits.messages_per_topic is not None:
        short += [f"{topic} {counts.get(topic, 0)} of {limits.messages_per_topic}" for topic in sorted(topics)
                  if counts.get(topic, 0) < limits.messages_per_topic]
    total = sum(counts.values())
    if limits.max_messages is not None and total < limits.max_messages:
        short.append(f"{total} of {limits.max_messages} messages in all")
    return short


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    limits = _limits(args)
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)

    def log(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    select_large_image_profile()
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # the command line is ours, not rcl's
    node = rclpy.create_node(args.node_name)
    reason = "stopped"
    try:
        with BagWriter(args.output, storage=args.storage, overwrite=args.overwrite,
                       custom_data={"stereo_depth_ros.tool": "stereo_bag_record"}) as writer:
            recorder = Recorder(node, writer, None if args.all else args.topics, qos_mode=args.qos,
                                messages_per_topic=limits.messages_per_topic, log=log)
            log(f"recording into {args.output}: waiting for "
                + (", ".join(recorder.topics) if recorder.topics is not None else "every topic"))
            started = time.monotonic()
            next_discovery = started
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_discovery and (args.all or recorder.missing()):
                    recorder.discover()
                    next_discovery = now + _DISCOVERY_PERIOD_S
                rclpy.spin_once(node, timeout_sec=0.02)
                recorder.report_matches()
                now = time.monotonic()
                if limits.max_messages is not None and writer.message_count >= limits.max_messages:
                    reason = f"{limits.max_messages} messages"
                    break
                if recorder.per_topic_done():
                    reason = f"{limits.messages_per_topic} messages on every topic"
                    break
                if limits.duration_s is not None and now - started >= limits.duration_s:
                    reason = f"{limits.duration_s:g} s"
                    break
                if (limits.idle_timeout_s is not None and recorder.last_message_s is not None
                        and now - recorder.last_message_s >= limits.idle_timeout_s):
                    reason = f"no message for {limits.idle_timeout_s:g} s"
                    break
                if (limits.wait_timeout_s is not None and recorder.last_message_s is None
                        and now - started >= limits.wait_timeout_s):
                    missing = recorder.missing()
                    raise RosCommunicationError(
                        f"nothing arrived within {limits.wait_timeout_s:g} s"
                        + (f"; no publisher for {', '.join(missing)}" if missing else "")
                        + " (is the publisher running, in the same ROS_DOMAIN_ID and RMW?); "
                        f"{args.output} is closed and empty")
            counts = dict(writer.counts)
            wanted = [] if args.all else [t for t in recorder.topics or [] if t not in recorder.skipped]
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    of = f" of {limits.messages_per_topic}" if limits.messages_per_topic is not None else ""
    listed = sorted(set(counts) | set(wanted))
    log(f"recorded {sum(counts.values())} message(s) to {args.output} ({reason}): "
        + (", ".join(f"{topic} {counts.get(topic, 0)}{of}" for topic in listed) or "nothing"))
    short = [] if stop.is_set() else _shortfall(counts, wanted, limits)
    if short:
        raise RosCommunicationError(f"fewer messages than expected arrived ({reason}): {', '.join(short)}; "
                                    f"{args.output} is closed and holds what did")
    return EXIT_CODES["ok"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_bag_record --help``."""
    return run_tool("stereo_bag_record", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
