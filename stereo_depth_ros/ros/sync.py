"""Pair left and right images by stamp, each with its side's latest calibration (ROS-free).

The ROS node (and ``ros.bag_io.StereoFrameReader``) feeds every image (with
its stamp in nanoseconds) and every CameraInfo here; the pairs' CameraInfos are
validated afterwards, pair by pair (``ros.calibration``). Nothing in this
module imports rclpy, so it is tested without ROS. Images and calibrations are
opaque to it (any object).

Matching:

* exact (default): a left and a right image pair when their stamps are equal;
* approximate: an image pairs with the queued image of the other side whose
  stamp is nearest, if within ``tolerance_ns`` (ties go to the earlier one).
  Matching is greedy (first come, first paired), which is right when the
  tolerance is below half the frame period, as with any synchronised rig.

Bounded memory: each side keeps at most ``queue_size`` images. An image is
dropped, and counted as unmatched, when its queue overflows (oldest first),
when a later pair is matched (everything at or before that pair is stale), or
when the other side has already moved past it so no partner can arrive
(each side's stamps only grow). Nothing waits forever.

Calibration: the latest one given for each side is reused for every pair (a
camera_info may arrive less often than images). A matched pair is emitted only
when both sides have one. Before that, the latest matched pair is held and
emitted by the ``set_camera_info`` call that completes the calibration (over
DDS a frame's camera_info often lands just after its images); a held pair is
dropped and counted when a newer pair replaces it or time jumps.

Time going backwards on one side (a bag played in a loop, a clock reset)
empties both queues and is reported as a ``TimeJump``; calibrations are kept.
A repeated stamp on one side is dropped as a duplicate.

Not thread-safe: call from one thread (the node's executor).
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

__all__ = ["SIDES", "Side", "StereoPair", "StereoSynchronizer", "SyncCounters", "SyncResult", "TimeJump"]

Side = Literal["left", "right"]
SIDES: Final[tuple[Side, Side]] = ("left", "right")

ImageT = TypeVar("ImageT")
InfoT = TypeVar("InfoT")


@dataclass(frozen=True)
class StereoPair(Generic[ImageT, InfoT]):
    """A matched left and right image with their sides' calibrations.

    Attributes:
        stamp_ns: the left image's stamp, ns (the stamp of everything computed from the pair).
        right_stamp_ns: the right image's stamp, ns (equal to ``stamp_ns`` with exact sync).
        left_image, right_image: the images as they were added.
        left_info, right_info: each side's latest calibration when the pair was matched.
    """

    stamp_ns: int
    right_stamp_ns: int
    left_image: ImageT
    right_image: ImageT
    left_info: InfoT
    right_info: InfoT

    @property
    def skew_ns(self) -> int:
        """right_stamp_ns - stamp_ns, ns."""
        return self.right_stamp_ns - self.stamp_ns


@dataclass(frozen=True)
class TimeJump:
    """One side's stamp went backwards; both queues were emptied.

    Attributes:
        side: the side whose stamp went backwards.
        previous_stamp_ns: the latest stamp seen on that side before, ns.
        stamp_ns: the new, earlier stamp, ns.
        discarded: images thrown away from the two queues.
    """

    side: Side
    previous_stamp_ns: int
    stamp_ns: int
    discarded: int


@dataclass(frozen=True)
class SyncResult(Generic[ImageT, InfoT]):
    """What one ``add_image`` call did.

    Attributes:
        pair: the matched pair, or None (no partner yet, or no calibration).
        time_jump: set when this image's stamp went backwards.
        dropped: images dropped as unmatched by this call (not counting a time jump's).
        missing_info: sides without a calibration when a pair was matched (then ``pair`` is None and the
            matched pair is held until ``set_camera_info`` completes the calibration).
        dropped_without_info: held pairs dropped by this call because the new pair replaced them (0 or 1).
    """

    pair: StereoPair[ImageT, InfoT] | None = None
    time_jump: TimeJump | None = None
    dropped: int = 0
    missing_info: tuple[Side, ...] = ()
    dropped_without_info: int = 0


@dataclass(frozen=True)
class SyncCounters:
    """Totals since construction.

    Attributes:
        left_images, right_images: images added per side.
        pairs: pairs emitted (matched and with both calibrations).
        unmatched: images dropped without a partner (overflow, stale, duplicate stamp, time jump).
        without_info: matched pairs dropped because a side had no calibration yet (held, then replaced).
        time_jumps: times a stamp went backwards.
    """

    left_images: int = 0
    right_images: int = 0
    pairs: int = 0
    unmatched: int = 0
    without_info: int = 0
    time_jumps: int = 0


def _check_side(side: str) -> Side:
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return side  # type: ignore[return-value]


class StereoSynchronizer(Generic[ImageT, InfoT]):
    """Exact or approximate stereo pairing with per-side calibration cache (see the module docstring)."""

    def __init__(self, *, queue_size: int = 5, approximate: bool = False, tolerance_ns: int = 0) -> None:
        """Args:
            queue_size: images kept per side while waiting for a partner (>= 1).
            approximate: pair by nearest stamp within ``tolerance_ns`` instead of equal stamps.
            tolerance_ns: largest |left stamp - right stamp| paired in approximate mode, ns (>= 0).

        Raises:
            ValueError: queue_size < 1 or tolerance_ns < 0.
        """
        if operator.index(queue_size) < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if operator.index(tolerance_ns) < 0:
            raise ValueError(f"tolerance_ns must be >= 0, got {tolerance_ns}")
        self.queue_size = int(queue_size)
        self.approximate = approximate
        self.tolerance_ns = int(tolerance_ns) if approximate else 0
        self._queues: dict[Side, deque[tuple[int, ImageT]]] = {side: deque() for side in SIDES}
        self._last_stamp_ns: dict[Side, int | None] = {side: None for side in SIDES}
        self._info: dict[Side, InfoT | None] = {side: None for side in SIDES}
        self._held: tuple[tuple[int, ImageT], tuple[int, ImageT]] | None = None  # (left, right) awaiting calibration
        self._counts = {field: 0 for field in SyncCounters.__dataclass_fields__}

    @property
    def counters(self) -> SyncCounters:
        """A snapshot of the totals."""
        return SyncCounters(**self._counts)

    def queued(self, side: Side) -> int:
        """Images of ``side`` waiting for a partner."""
        return len(self._queues[_check_side(side)])

    def set_camera_info(self, side: Side, info: InfoT) -> StereoPair[ImageT, InfoT] | None:
        """Make ``info`` the calibration of ``side`` for every pair from now on.

        Returns:
            The held pair, when this call gave it its last missing calibration; else None.
        """
        self._info[_check_side(side)] = info
        if self._held is None:
            return None
        pair = self._complete(*self._held)
        if pair is not None:
            self._held = None
        return pair

    def camera_info(self, side: Side) -> InfoT | None:
        """The calibration ``side`` pairs use now, or None before the first one."""
        return self._info[_check_side(side)]

    def reset(self) -> int:
        """Empty both queues, drop a held pair and forget the latest stamps (calibrations are kept).

        Returns:
            The number of images thrown away (counted as unmatched).
        """
        discarded = sum(len(queue) for queue in self._queues.values())
        for side in SIDES:
            self._queues[side].clear()
            self._last_stamp_ns[side] = None
        self._counts["unmatched"] += discarded
        if self._held is not None:
            self._held = None
            self._counts["without_info"] += 1
        return discarded

    def add_image(self, side: Side, stamp_ns: int, image: ImageT) -> SyncResult[ImageT, InfoT]:
        """Add one image; returns the pair it completes, if any.

        Args:
            side: "left" or "right".
            stamp_ns: the image's stamp, ns (>= 0).
            image: anything; handed back in the pair unchanged.

        Raises:
            ValueError: unknown side or negative stamp.
        """
        side = _check_side(side)
        stamp_ns = operator.index(stamp_ns)
        if stamp_ns < 0:
            raise ValueError(f"stamp_ns must be >= 0, got {stamp_ns}")
        self._counts[f"{side}_images"] += 1
        time_jump = None
        previous = self._last_stamp_ns[side]
        if previous is not None and stamp_ns < previous:
            time_jump = TimeJump(side=side, previous_stamp_ns=previous, stamp_ns=stamp_ns, discarded=self.reset())
            self._counts["time_jumps"] += 1
        elif previous is not None and stamp_ns == previous:
            self._counts["unmatched"] += 1
            return SyncResult(dropped=1)
        self._last_stamp_ns[side] = stamp_ns

        other_side: Side = "right" if side == "left" else "left"
        own, other = self._queues[side], self._queues[other_side]
        partner = self._partner(stamp_ns, other)
        if partner is None:
            # Every other-side image older than this one is now out of reach (no
            # partner within tolerance, and this side's stamps only grow).
            dropped = self._drop_while(other, lambda queued_ns: queued_ns < stamp_ns)
            own.append((stamp_ns, image))
            if len(own) > self.queue_size:
                own.popleft()
                dropped += 1
            self._counts["unmatched"] += dropped
            return SyncResult(time_jump=time_jump, dropped=dropped)

        partner_ns, partner_image = other[partner]
        del other[partner]
        dropped = (self._drop_while(other, lambda queued_ns: queued_ns <= partner_ns)
                   + self._drop_while(own, lambda queued_ns: queued_ns <= stamp_ns))
        self._counts["unmatched"] += dropped
        left, right = ((stamp_ns, image), (partner_ns, partner_image)) if side == "left" \
            else ((partner_ns, partner_image), (stamp_ns, image))
        pair = self._complete(left, right)
        if pair is not None:
            return SyncResult(pair=pair, time_jump=time_jump, dropped=dropped)
        replaced = int(self._held is not None)
        self._counts["without_info"] += replaced
        self._held = (left, right)
        missing = tuple(s for s in SIDES if self._info[s] is None)
        return SyncResult(time_jump=time_jump, dropped=dropped, missing_info=missing, dropped_without_info=replaced)

    def _complete(self, left: tuple[int, ImageT], right: tuple[int, ImageT]) -> StereoPair[ImageT, InfoT] | None:
        """The pair of ``left`` and ``right`` ((stamp_ns, image) each) with both calibrations (counted), or None."""
        left_info, right_info = self._info["left"], self._info["right"]
        if left_info is None or right_info is None:
            return None
        self._counts["pairs"] += 1
        return StereoPair(stamp_ns=left[0], right_stamp_ns=right[0], left_image=left[1], right_image=right[1],
                          left_info=left_info, right_info=right_info)

    def _partner(self, stamp_ns: int, other: deque[tuple[int, ImageT]]) -> int | None:
        """Index in ``other`` of the image to pair with ``stamp_ns``, or None."""
        best, best_gap = None, None
        for index, (queued_ns, _) in enumerate(other):
            gap = abs(queued_ns - stamp_ns)
            if gap <= self.tolerance_ns and (best_gap is None or gap < best_gap):
                best, best_gap = index, gap
        return best

    @staticmethod
    def _drop_while(queue: deque[tuple[int, ImageT]], stale: Callable[[int], bool]) -> int:
        """Pop images from the front of ``queue`` while ``stale(stamp_ns)``; returns how many."""
        dropped = 0
        while queue and stale(queue[0][0]):
            queue.popleft()
            dropped += 1
        return dropped
