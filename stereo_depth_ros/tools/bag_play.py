"""stereo_bag_play: publish a bag's messages over DDS with their original timing.

Messages are published as the stored CDR bytes (no decoding), in log-time
order, each at ``start + (time - first_time) / rate`` on the wall clock, where
the time is the bag's log time (``--timing log``, default; a dataset bag's log
time is its header stamp) or the message's own header stamp (``--timing
header``, e.g. for a recording whose log times are receive times; messages
without a header keep their log time). ``--clock`` also publishes rosgraph_msgs/Clock on /clock with the bag
time, so nodes started with ``use_sim_time:=true`` follow the bag. Topics can
be selected, excluded and remapped; ``--loop`` starts over at the end (stamps
in the messages repeat, so receivers see time jump back).

Publishers are reliable by default (a reliable publisher also serves
best-effort subscribers, such as the node's sensor-data inputs). With
``--wait-for-subscribers`` playback starts only once each image and
camera_info topic (what stereo_depth_node reads; ``--wait-topics`` names
others) has a subscriber, plus ``DISCOVERY_SETTLE_S``: a subscriber drops
best-effort samples of a writer it has not matched yet, and it matches the
player a moment after the player matched it (60-100 ms measured here), so
nothing is lost to discovery. ``--wait-for-ack SEC`` waits after each message
until every reliable subscriber has it. ``--wait-for TOPIC`` plays in step with
a consumer: before the images of the next frame it waits until TOPIC (e.g.
the node's ``disparity``) has a message stamped like the frame's images, so
a node slower than the bag drops nothing (its pace sets the playback's). Before exiting, the player waits (up
to ``--ack-timeout``) until reliable subscribers have every message, and, when a played topic has a best-effort
subscriber, ``BEST_EFFORT_DRAIN_S`` more: such a subscriber acknowledges nothing, and over shared memory it
copies each sample out of the player's segment, which goes when the player exits (the last frame was lost
about once in ten runs here when the player left at once).
Unless ``FASTRTPS_DEFAULT_PROFILES_FILE`` is set, the player uses the package's
Fast DDS profile for large images (``ros.dds``).

Ctrl-C (SIGINT) or SIGTERM stops playback; the exit code is then 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import rclpy
from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock

from stereo_depth_ros.core.stamps import NS_PER_S, sec_nanosec_from_ns
from stereo_depth_ros.ros.bag_io import IMAGE_TYPE, BagMessage, BagReader, message_class, normalize_topic
from stereo_depth_ros.ros.dds import select_large_image_profile
from stereo_depth_ros.ros.errors import MissingTopicError, UnknownMessageTypeError
from stereo_depth_ros.ros.stamps import stamp_ns_from_cdr
from stereo_depth_ros.tools.bag_record import subscription_qos
from stereo_depth_ros.tools.errors import RosCommunicationError, UsageError, run_tool

__all__ = ["BEST_EFFORT_DRAIN_S", "DISCOVERY_SETTLE_S", "WAITED_TYPES", "PlaybackSummary", "build_parser", "main",
           "parse_remaps"]

_CLOCK_TOPIC: Final = "/clock"
#: Message types whose topics ``--wait-for-subscribers`` waits for by default: what stereo_depth_node reads.
WAITED_TYPES: Final = frozenset({"sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"})
#: Seconds to wait after the last subscriber matched, so that the subscribers have matched the player too.
DISCOVERY_SETTLE_S: Final = 1.0
#: Seconds the player stays after its last message when a played topic has a best-effort subscriber.
BEST_EFFORT_DRAIN_S: Final = 1.0


@dataclass
class PlaybackSummary:
    """What a playback did.

    Attributes:
        published: messages per (output) topic.
        skipped_topics: {topic: why} for topics left out (unknown type, excluded).
        max_lateness_s: the most a message was published after its due time, s.
        loops: complete passes over the bag.
        stopped: ended by a signal.
        unacknowledged: messages some reliable subscriber had not acknowledged within ``--wait-for-ack``.
        frames_without_output: frames for which ``--wait-for``'s topic had no message within its timeout.
    """

    published: Counter[str] = field(default_factory=Counter)
    skipped_topics: dict[str, str] = field(default_factory=dict)
    max_lateness_s: float = 0.0
    loops: int = 0
    stopped: bool = False
    unacknowledged: int = 0
    frames_without_output: int = 0


def parse_remaps(remaps: Sequence[str]) -> dict[str, str]:
    """``FROM:=TO`` strings as {fully qualified from: fully qualified to}.

    Raises:
        UsageError: an item without ``:=``.
    """
    mapping = {}
    for item in remaps:
        source, separator, target = item.partition(":=")
        if not separator or not source.strip() or not target.strip():
            raise UsageError(f"remap {item!r} is not FROM:=TO")
        mapping[normalize_topic(source)] = normalize_topic(target)
    return mapping


def _has_header(cls: type) -> bool:
    fields = cls.get_fields_and_field_types()  # type: ignore[attr-defined]
    return next(iter(fields.items()), None) == ("header", "std_msgs/Header")


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_bag_play."""
    parser = argparse.ArgumentParser(
        prog="stereo_bag_play",
        description="Publish a rosbag2 bag's messages over DDS with their original timing (Fast DDS: the "
                    "package's large-image profile unless FASTRTPS_DEFAULT_PROFILES_FILE is set).",
        epilog="Exit codes: 0 ok (also when stopped with Ctrl-C), 2 usage, 3 bag unreadable, 4 nothing to play, "
               "8 no subscriber within --wait-for-subscribers.")
    parser.add_argument("bag", help="bag directory, or .db3 / .mcap file")
    parser.add_argument("--rate", type=float, default=1.0, help="speed factor: 2 = twice as fast (default 1)")
    parser.add_argument("--loop", action="store_true", help="start over at the end until stopped")
    parser.add_argument("--start-offset", type=float, default=0.0, metavar="SEC",
                        help="skip the first SEC seconds of the bag (default 0)")
    parser.add_argument("--topics", nargs="+", default=None, metavar="TOPIC", help="play only these topics")
    parser.add_argument("--exclude", nargs="+", default=(), metavar="TOPIC", help="do not play these topics")
    parser.add_argument("--remap", nargs="+", default=(), metavar="FROM:=TO",
                        help="publish FROM under the name TO, e.g. left/image_raw:=/stereo/left/image_raw")
    parser.add_argument("--clock", type=float, nargs="?", const=100.0, default=None, metavar="HZ",
                        help="publish /clock with the bag time at HZ (default 100 when given) for use_sim_time")
    parser.add_argument("--timing", choices=("log", "header"), default="log",
                        help="pace by the bag's log times (default) or by each message's header stamp")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SEC",
                        help="wait up to SEC seconds until each image and camera_info topic (or --wait-topics) has "
                             f"a subscriber, then {DISCOVERY_SETTLE_S:g} s for discovery (default 0: start at once)")
    parser.add_argument("--wait-topics", nargs="+", default=None, metavar="TOPIC",
                        help="the played topics --wait-for-subscribers waits for (default: those of "
                             "sensor_msgs/Image and CameraInfo); names as in the bag, before --remap")
    parser.add_argument("--wait-for", default=None, metavar="TOPIC",
                        help="play in step with a consumer: before each frame's images wait until TOPIC has a "
                             "message stamped like the previous frame's images (e.g. disparity, the node's output)")
    parser.add_argument("--wait-for-timeout", type=float, default=60.0, metavar="SEC",
                        help="with --wait-for: go on after SEC s without that message (default 60)")
    parser.add_argument("--wait-for-ack", type=float, default=0.0, metavar="SEC",
                        help="after each message wait up to SEC s until every reliable subscriber has it "
                             "(default 0: do not wait)")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SEC",
                        help="sleep SEC seconds after creating the publishers (discovery), default 0")
    parser.add_argument("--qos-reliability", choices=("reliable", "best_effort"), default="reliable",
                        help="reliability of the publishers (default reliable)")
    parser.add_argument("--qos-depth", type=int, default=10, help="history depth of the publishers (default 10)")
    parser.add_argument("--ack-timeout", type=float, default=5.0, metavar="SEC",
                        help="at the end, wait up to SEC s for reliable subscribers to receive everything")
    parser.add_argument("--node-name", default="stereo_bag_player", help="ROS node name")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    return parser


class _OutputWaiter:
    """The ``--wait-for`` topic: subscribed once it has a publisher; tells when a message of a given stamp came."""

    def __init__(self, node: Any, topic: str, stop: threading.Event) -> None:
        self.node = node
        self.topic = normalize_topic(topic)
        self.stop = stop
        self.stamps: set[int] = set()
        self.subscription: Any = None

    def connect(self, timeout_s: float) -> None:
        """Subscribe as soon as the topic has a publisher (its type and QoS come from the graph).

        Raises:
            RosCommunicationError: no publisher of the topic within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while self.subscription is None and not self.stop.is_set():
            publishers = self.node.get_publishers_info_by_topic(self.topic)
            if publishers:
                cls = message_class(publishers[0].topic_type)
                if not _has_header(cls):
                    raise UsageError(f"--wait-for {self.topic}: {publishers[0].topic_type} has no header stamp")
                qos = subscription_qos([p.qos_profile for p in publishers], depth=10)
                self.subscription = self.node.create_subscription(cls, self.topic, self._on_message, qos, raw=True)
                return
            if time.monotonic() >= deadline:
                raise RosCommunicationError(f"--wait-for {self.topic}: no publisher within {timeout_s:g} s")
            self.stop.wait(0.05)

    def _on_message(self, data: bytes) -> None:
        try:
            self.stamps.add(stamp_ns_from_cdr(data))
        except ValueError:
            pass

    def wait(self, stamp_ns: int, timeout_s: float) -> bool:
        """Spin until a message stamped ``stamp_ns`` arrived (True), or ``timeout_s`` passed or playback stopped."""
        deadline = time.monotonic() + timeout_s
        while stamp_ns not in self.stamps and not self.stop.is_set() and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.02)
        return stamp_ns in self.stamps


class _Player:
    """Publishers of one playback and the pacing loop."""

    def __init__(self, args: argparse.Namespace, reader: BagReader, stop: threading.Event) -> None:
        self.args = args
        self.reader = reader
        self.stop = stop
        self.summary = PlaybackSummary()
        self.node = rclpy.create_node(args.node_name)
        self.remaps = parse_remaps(args.remap)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=args.qos_depth,
                         reliability=ReliabilityPolicy.RELIABLE if args.qos_reliability == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
        wanted = None if args.topics is None else {normalize_topic(t) for t in args.topics}
        excluded = {normalize_topic(t) for t in args.exclude}
        self.publishers: dict[str, Any] = {}
        self.with_header: set[str] = set()
        for name, topic in reader.topics.items():
            if (wanted is not None and name not in wanted) or name in excluded:
                self.summary.skipped_topics[name] = "not selected"
                continue
            try:
                cls = message_class(topic.msgtype)
            except UnknownMessageTypeError as err:
                self.summary.skipped_topics[name] = str(err)
                print(f"stereo_bag_play: skipping {name}: {err}", file=sys.stderr)
                continue
            self.publishers[name] = self.node.create_publisher(cls, self.remaps.get(name, name), qos)
            if _has_header(cls):
                self.with_header.add(name)
        if wanted is not None and wanted - set(reader.topics):
            raise UsageError(f"--topics {sorted(wanted - set(reader.topics))} not in the bag; "
                             f"{reader.describe_topics()}")
        if args.wait_topics is None:
            self.waited = [name for name in self.publishers if reader.topics[name].msgtype in WAITED_TYPES]
        else:
            self.waited = [normalize_topic(t) for t in args.wait_topics]
            unknown = [t for t in self.waited if t not in self.publishers]
            if unknown:
                raise UsageError(f"--wait-topics {unknown} are not played; played: {sorted(self.publishers)}")
        self.waiter = None if args.wait_for is None else _OutputWaiter(self.node, args.wait_for, stop)
        self.image_topics = {name for name in self.publishers if reader.topics[name].msgtype == IMAGE_TYPE}
        self.clock_publisher = None
        if args.clock is not None:
            self.clock_publisher = self.node.create_publisher(Clock, _CLOCK_TOPIC, QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE))

    def wait_for_subscribers(self, timeout_s: float) -> None:
        """Wait until each waited-for topic has a subscriber, then ``DISCOVERY_SETTLE_S``.

        Raises:
            RosCommunicationError: some topic has none after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while not self.stop.is_set():
            lonely = [name for name in self.waited if self.publishers[name].get_subscription_count() == 0]
            if not lonely:
                self.stop.wait(DISCOVERY_SETTLE_S)
                return
            if time.monotonic() >= deadline:
                raise RosCommunicationError(
                    f"no subscriber for {', '.join(self.remaps.get(n, n) for n in lonely)} within {timeout_s:g} s "
                    "(is the subscriber running, in the same ROS_DOMAIN_ID and RMW? --wait-topics chooses the "
                    "topics to wait for)")
            self.stop.wait(0.05)

    def _publish_clock(self, bag_time_ns: int) -> None:
        assert self.clock_publisher is not None
        sec, nanosec = sec_nanosec_from_ns(max(bag_time_ns, 0))
        self.clock_publisher.publish(Clock(clock=Time(sec=sec, nanosec=nanosec)))

    def _wait_until(self, due_s: float, bag_time_ns: int, start_s: float, bag_start_ns: int) -> bool:
        """Sleep until ``due_s`` (monotonic), publishing /clock meanwhile; False when stopped."""
        clock_period_s = 1.0 / self.args.clock if self.clock_publisher is not None else None
        while True:
            now = time.monotonic()
            if now >= due_s:
                return not self.stop.is_set()
            if clock_period_s is None:
                if self.stop.wait(due_s - now):
                    return False
                continue
            self._publish_clock(bag_start_ns + int((now - start_s) * self.args.rate * NS_PER_S))
            if self.stop.wait(min(clock_period_s, due_s - now)):
                return False

    def play_once(self) -> bool:
        """One pass over the bag; False when stopped."""
        args = self.args
        first_ns = self.reader.start_time_ns + int(args.start_offset * NS_PER_S)
        start_s = time.monotonic()
        start_ns = first_ns if args.start_offset > 0.0 else None  # None: the reader also checks completeness
        first_time_ns: int | None = None
        pending_stamp_ns: int | None = None  # with --wait-for: the frame whose output has not come yet
        for message in self.reader.messages(self.publishers, start_ns=start_ns):
            time_ns = self._time_ns(message)
            if first_time_ns is None:  # header stamps need not start at the bag's first log time
                first_time_ns = time_ns if args.timing == "header" else first_ns
            stamp_ns = self._image_stamp_ns(message) if self.waiter is not None else None
            if stamp_ns is not None:
                if pending_stamp_ns is not None and stamp_ns != pending_stamp_ns:
                    start_s += self._wait_for_output(pending_stamp_ns)  # the schedule moves on by the wait
                pending_stamp_ns = stamp_ns
            due_s = start_s + (time_ns - first_time_ns) / NS_PER_S / args.rate
            if not self._wait_until(due_s, message.log_time_ns, start_s, first_ns):
                return False
            self.summary.max_lateness_s = max(self.summary.max_lateness_s, time.monotonic() - due_s)
            self._publish(message)
        if pending_stamp_ns is not None:
            self._wait_for_output(pending_stamp_ns)
        return not self.stop.is_set()

    def _image_stamp_ns(self, message: BagMessage) -> int | None:
        """The header stamp of an image message, else (or when not plain CDR) None."""
        if message.topic not in self.image_topics:
            return None
        try:
            return stamp_ns_from_cdr(message.data)
        except ValueError:
            return None

    def _wait_for_output(self, stamp_ns: int) -> float:
        """Wait for ``--wait-for``'s message of ``stamp_ns`` (counted when it does not come); the seconds waited."""
        assert self.waiter is not None
        started_s = time.monotonic()
        if not self.waiter.wait(stamp_ns, self.args.wait_for_timeout) and not self.stop.is_set():
            self.summary.frames_without_output += 1
        return time.monotonic() - started_s

    def _time_ns(self, message: BagMessage) -> int:
        """The time ``message`` is paced by: its log time, or with ``--timing header`` its header stamp."""
        if self.args.timing == "header" and message.topic in self.with_header:
            try:
                return stamp_ns_from_cdr(message.data)
            except ValueError:
                pass  # not plain CDR: keep the log time
        return message.log_time_ns

    def _publish(self, message: BagMessage) -> None:
        if self.clock_publisher is not None:
            self._publish_clock(message.log_time_ns)
        publisher = self.publishers[message.topic]
        publisher.publish(message.data)
        self.summary.published[self.remaps.get(message.topic, message.topic)] += 1
        if self.args.wait_for_ack > 0.0 and self.args.qos_reliability == "reliable":
            if not publisher.wait_for_all_acked(Duration(nanoseconds=int(self.args.wait_for_ack * NS_PER_S))):
                self.summary.unacknowledged += 1

    def drain(self, ack_timeout_s: float) -> None:
        """Let the subscribers have the last messages before the player goes (module docstring).

        Waits up to ``ack_timeout_s`` for reliable subscribers' acknowledgements (reliable publishers), then
        ``BEST_EFFORT_DRAIN_S`` if any played topic has a best-effort subscriber.
        """
        if self.args.qos_reliability == "reliable":
            deadline = time.monotonic() + ack_timeout_s
            for publisher in self.publishers.values():
                remaining = max(0.0, deadline - time.monotonic())
                publisher.wait_for_all_acked(Duration(nanoseconds=int(remaining * NS_PER_S)))
        if any(info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
               for publisher in self.publishers.values()
               for info in self.node.get_subscriptions_info_by_topic(publisher.topic_name)):
            time.sleep(BEST_EFFORT_DRAIN_S)


def _install_stop_handlers(stop: threading.Event) -> None:
    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if not args.rate > 0.0:
        raise UsageError(f"--rate must be > 0, got {args.rate}")
    if not args.wait_for_timeout > 0.0:
        raise UsageError(f"--wait-for-timeout must be > 0 s, got {args.wait_for_timeout}")
    if min(args.start_offset, args.wait_for_subscribers, args.delay, args.wait_for_ack, args.ack_timeout) < 0.0:
        raise UsageError("--start-offset, --wait-for-subscribers, --delay, --wait-for-ack and --ack-timeout "
                         "must be >= 0")
    if args.clock is not None and not args.clock > 0.0:
        raise UsageError(f"--clock must be > 0 Hz, got {args.clock}")
    if args.qos_depth < 1:
        raise UsageError(f"--qos-depth must be >= 1, got {args.qos_depth}")
    parse_remaps(args.remap)
    stop = threading.Event()
    _install_stop_handlers(stop)
    with BagReader(args.bag) as reader:
        if reader.note and not args.quiet:
            print(f"stereo_bag_play: {reader.note}", file=sys.stderr)
        select_large_image_profile()
        rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # the command line is ours, not rcl's
        player = None
        try:
            player = _Player(args, reader, stop)
            if not player.publishers:
                raise MissingTopicError(f"{args.bag}: nothing to play; {reader.describe_topics()}")
            if args.wait_for_subscribers > 0.0:
                player.wait_for_subscribers(args.wait_for_subscribers)
            if player.waiter is not None:
                player.waiter.connect(max(args.wait_for_subscribers, args.wait_for_timeout))
            if args.delay > 0.0:
                stop.wait(args.delay)
            if not args.quiet:
                print(f"playing {args.bag}: {len(player.publishers)} topic(s), "
                      f"{(reader.end_time_ns - reader.start_time_ns) / 1e9:.2f} s at rate {args.rate:g}"
                      + (", looping" if args.loop else ""), flush=True)
            while player.play_once():
                player.summary.loops += 1
                if not args.loop:
                    break
            player.summary.stopped = stop.is_set()
            player.drain(args.ack_timeout)
            summary = player.summary
            if not args.quiet:
                total = sum(summary.published.values())
                print(f"published {total} message(s) on {len(summary.published)} topic(s)"
                      + (" (stopped)" if summary.stopped else "")
                      + f"; at most {summary.max_lateness_s * 1000.0:.1f} ms behind schedule"
                      + (f"; {summary.unacknowledged} not acknowledged within {args.wait_for_ack:g} s"
                         if summary.unacknowledged else "")
                      + (f"; {summary.frames_without_output} frame(s) without {player.waiter.topic} within "
                         f"{args.wait_for_timeout:g} s" if player.waiter is not None else ""), flush=True)
        finally:
            if player is not None:
                player.node.destroy_node()
            if rclpy.ok():
                rclpy.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_bag_play --help``."""
    return run_tool("stereo_bag_play", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
