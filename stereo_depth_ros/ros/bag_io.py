"""rosbag2 bags for the bag tools: storage through rosbags, payloads through rclpy.

Storage (sqlite3 or MCAP files plus ``metadata.yaml``) is read and written with
the ``rosbags`` library; payloads are CDR bytes made and read by rclpy's
``serialize_message`` / ``deserialize_message`` with the real message classes,
so the tools handle exactly the objects the node publishes. The definitions and
type hashes (RIHS01) written into a bag come from rosbags' Jazzy typestore.

Conventions:

* Topic names are stored fully qualified (``/left/image_raw``), as ``ros2 bag
  record`` does; every function here accepts them with or without the leading
  slash (``normalize_topic``).
* Times are integer nanoseconds since the epoch (``stamp_ns``, ``log_time_ns``).
  The log time is when a message was written (recorded); the stamp is its
  ``header.stamp``.
* A reader never hangs and never lets a foreign exception escape: a damaged
  bag raises :class:`CorruptBagError` (on opening, or while iterating, saying
  how many messages were read first); a writer used as a context manager is
  closed, with its metadata, even when the block raises, so partial output is
  a readable bag.
* MCAP chunks are written with their CRC-32 (rosbags writes 0, "not computed"),
  and a chunk whose CRC does not match is reported as damaged
  (:class:`CorruptBagError`), never read. sqlite3 bags have no checksums.
* An MCAP file that was cut off (a recording killed before it closed the file:
  no footer) is read up to its last complete record; ``BagReader.note`` says
  so. Messages of a chunk that was still being written are lost.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import struct
from binascii import crc32
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.rosbag2.reader import DirectoryReader
from rosbags.rosbag2.storage_mcap import McapReader, McapWriter
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.core.camera_model import CameraCalibration
from stereo_depth_ros.ros.errors import (
    BagNotFoundError,
    BagWriteError,
    CorruptBagError,
    ImageConversionError,
    MissingTopicError,
    TopicTypeError,
    UnknownMessageTypeError,
)
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.ros.sync import Side, StereoSynchronizer, SyncCounters

__all__ = [
    "CAMERA_INFO_TYPE",
    "DISPARITY_TYPE",
    "GROUND_TRUTH_TOPIC",
    "IMAGE_TYPE",
    "STORAGE_FORMATS",
    "BagMessage",
    "BagReader",
    "BagTopic",
    "BagWriter",
    "StereoFrame",
    "StereoFrameReader",
    "StereoTopics",
    "camera_info_from_calibration",
    "disparity_px_from_message",
    "message_class",
    "message_type_name",
    "normalize_topic",
]

#: Storage plugins a bag can be written with (``ros2 bag record -s``).
STORAGE_FORMATS: Final = ("sqlite3", "mcap")
IMAGE_TYPE: Final = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE: Final = "sensor_msgs/msg/CameraInfo"
DISPARITY_TYPE: Final = "stereo_msgs/msg/DisparityImage"
#: Ground truth in dataset bags: a DisparityImage in the node's output convention
#: (image = d - (cx_left - cx_right), invalid below min_disparity), stamped like the images.
GROUND_TRUTH_TOPIC: Final = "ground_truth/disparity"

_STORAGE_PLUGINS: Final = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
_STORAGE_SUFFIXES: Final = {".db3": "sqlite3", ".mcap": "mcap"}


def _foreign_storage_errors() -> tuple[type[BaseException], ...]:
    """What rosbags and its storage libraries raise on damaged files.

    rosbags wraps most problems in ReaderError, but damaged content inside an
    otherwise valid file surfaces as the storage library's own error (apsw for
    sqlite3) or as a decoding error (struct, overflow, index, value) from the
    MCAP parser.
    """
    errors: list[type[BaseException]] = [ReaderError, OSError, EOFError, struct.error, ValueError,
                                         OverflowError, IndexError, KeyError, MemoryError]
    try:
        import apsw  # rosbags' sqlite3 binding
    except ImportError:
        pass
    else:
        errors.append(apsw.Error)
    return tuple(errors)


_STORAGE_ERRORS: Final = _foreign_storage_errors()

_MCAP_MAGIC: Final = b"\x89MCAP0\r\n"
_MCAP_DATA_END_OP: Final = 0x0F
#: A footer without a summary (summary start 0): readers then scan the data section.
_MCAP_EMPTY_FOOTER: Final = b"\x02" + struct.pack("<QQQI", 20, 0, 0, 0) + _MCAP_MAGIC
#: Where a chunk record's uncompressed-data CRC is: op (1) + record length (8) + start, end, size (3 x 8).
_MCAP_CHUNK_CRC_OFFSET: Final = 1 + 8 + 24


class _CrcMcapWriter(McapWriter):
    """rosbags' MCAP writer, with each chunk's CRC-32 of its uncompressed records filled in."""

    def close_chunk(self) -> None:
        crc = crc32(self.chunk.bio.getbuffer())
        chunk_start = self.bio.tell()
        super().close_chunk()
        end = self.bio.tell()
        self.bio.seek(chunk_start + _MCAP_CHUNK_CRC_OFFSET)
        self.bio.write(struct.pack("<I", crc))
        self.bio.seek(end)


class _CrcWriter(Writer):
    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _CrcMcapWriter}


def _complete_mcap_records_end(handle: io.BufferedReader, size: int) -> int:
    """Offset just past the last complete record of a cut-off MCAP data section (or its DataEnd record)."""
    position = len(_MCAP_MAGIC)
    while position + 9 <= size:
        handle.seek(position)
        opcode, length = struct.unpack("<BQ", handle.read(9))
        if opcode == _MCAP_DATA_END_OP or position + 9 + length > size:
            break
        position += 9 + length
    return position


class _CutOffMcapFile(io.RawIOBase):
    """An MCAP file's first ``end`` bytes followed by a footer without a summary (read-only, seekable)."""

    def __init__(self, handle: io.BufferedReader, end: int) -> None:
        super().__init__()
        self._handle = handle
        self._end = end
        self._size = end + len(_MCAP_EMPTY_FOOTER)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(0, self._size - self._position))
        done = 0
        if self._position < self._end and wanted:
            self._handle.seek(self._position)
            done = self._handle.readinto(view[:min(wanted, self._end - self._position)]) or 0
        if done < wanted and self._position + done >= self._end:
            start = self._position + done - self._end
            tail = _MCAP_EMPTY_FOOTER[start:start + wanted - done]
            view[done:done + len(tail)] = tail
            done += len(tail)
        self._position += done
        return done

    def close(self) -> None:
        self._handle.close()
        super().close()


class _CutOffTolerantMcapReader(McapReader):
    """rosbags' MCAP reader that reads a file without a footer (cut off) up to its last complete record.

    Attributes:
        cut_off_note: what was done, or "" for a complete file.
    """

    cut_off_note = ""

    def open(self) -> None:
        try:
            handle = self.path.open("rb")
        except OSError as err:
            raise ReaderError(f"Could not open file {str(self.path)!r}: {err.strerror}.") from err
        size = self.path.stat().st_size
        if size > 2 * len(_MCAP_MAGIC) and handle.read(len(_MCAP_MAGIC)) == _MCAP_MAGIC:
            handle.seek(size - len(_MCAP_MAGIC))
            if handle.read() != _MCAP_MAGIC:
                end = _complete_mcap_records_end(handle, size)
                self.cut_off_note = (f"{self.path.name} was cut off (no MCAP footer): reading its complete records, "
                                     f"{end} of {size} bytes; messages of an unfinished chunk are lost")
                self.bio = io.BufferedReader(_CutOffMcapFile(handle, end))
        handle.seek(0)
        if self.bio is None:
            self.bio = handle
        try:
            self._open()
        except BaseException:
            self.close()
            raise


class _DirectoryReader(DirectoryReader):
    STORAGE_PLUGINS = {**DirectoryReader.STORAGE_PLUGINS, "mcap": _CutOffTolerantMcapReader}


class _Reader(Reader):
    STORAGE_PLUGINS = {**Reader.STORAGE_PLUGINS, "dir": _DirectoryReader, ".mcap": _CutOffTolerantMcapReader}


def normalize_topic(topic: str) -> str:
    """The fully qualified name of ``topic``: one leading slash, no trailing one.

    >>> normalize_topic("left/image_raw"), normalize_topic("/left/image_raw/")
    ('/left/image_raw', '/left/image_raw')
    """
    name = topic.strip().strip("/")
    if not name:
        raise ValueError(f"topic name {topic!r} is empty")
    return "/" + name


def message_type_name(message: object) -> str:
    """``package/msg/Name`` of a message instance or class (e.g. ``sensor_msgs/msg/Image``)."""
    cls = message if isinstance(message, type) else type(message)
    parts = cls.__module__.split(".")
    if len(parts) < 2 or parts[1] not in ("msg", "srv", "action"):
        raise UnknownMessageTypeError(f"{cls.__module__}.{cls.__name__} is not a ROS 2 message class")
    return f"{parts[0]}/{parts[1]}/{cls.__name__}"


@cache
def message_class(msgtype: str) -> type:
    """The Python class of ``package/msg/Name``.

    Raises:
        UnknownMessageTypeError: malformed name, or the package is not installed.
    """
    parts = msgtype.split("/")
    if len(parts) != 3 or not all(parts):
        raise UnknownMessageTypeError(f"message type {msgtype!r} is not of the form package/msg/Name")
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise UnknownMessageTypeError(
            f"message type {msgtype!r} is not available in Python; install its package "
            f"(ros-jazzy-{package.replace('_', '-')}) or leave the topic out") from err


@lru_cache(maxsize=1)
def _typestore() -> Any:
    return get_typestore(Stores.ROS2_JAZZY)


def _definition(msgtype: str) -> tuple[str, str]:
    """(message definition text, RIHS01 hash) of ``msgtype`` from rosbags' Jazzy typestore."""
    typestore = _typestore()
    if msgtype not in typestore.types:
        raise UnknownMessageTypeError(
            f"no definition of {msgtype!r} is known (rosbags' Jazzy typestore lacks it), so it cannot be "
            "written to a bag; leave the topic out")
    msgdef, _ = typestore.generate_msgdef(msgtype, ros_version=2)
    return msgdef, typestore.hash_rihs01(msgtype)


def camera_info_from_calibration(calibration: CameraCalibration, *, stamp: Time) -> CameraInfo:
    """The CameraInfo of one camera (the inverse of ``messages.calibration_from_camera_info``).

    Header frame id is ``calibration.frame_id``; K, D, R, P, size and distortion
    model are copied as they are (row-major); no binning, full-image ROI.
    """
    return CameraInfo(header=Header(stamp=stamp, frame_id=calibration.frame_id), width=calibration.width,
                      height=calibration.height, distortion_model=calibration.distortion_model,
                      d=[float(v) for v in calibration.D], k=calibration.K.flatten(),
                      r=calibration.R.flatten(), p=calibration.P.flatten())


def disparity_px_from_message(message: DisparityImage, *, cx_offset_px: float) -> np.ndarray:
    """Our disparity from a stereo_msgs/DisparityImage (the inverse of ``messages.disparity_image_message``).

    Args:
        message: a DisparityImage whose image is 32FC1 d_msg = d - cx_offset_px, with
            invalid pixels below ``min_disparity`` (or non-finite).
        cx_offset_px: cx_left - cx_right of the rig, px (the message does not carry
            it); pass 0.0 to stay in the message's own convention, e.g. to compare two
            messages of one rig (errors are the same in both conventions).

    Returns:
        (H, W) float32 d = x_left - x_right, px; NaN = invalid.

    Raises:
        ImageConversionError: the image is not a valid 32FC1 image.
    """
    if message.image.encoding != "32FC1":
        raise ImageConversionError(f"DisparityImage image must be 32FC1, got {message.image.encoding!r}")
    values = image_to_numpy(message.image)
    valid = np.isfinite(values) & (values >= np.float32(message.min_disparity))
    return np.where(valid, values + np.float32(cx_offset_px), np.float32(np.nan)).astype(np.float32)


@dataclass(frozen=True)
class BagTopic:
    """One topic of a bag.

    Attributes:
        name: fully qualified topic name.
        msgtype: ``package/msg/Name``.
        message_count: messages on it, from the bag's metadata.
        definition: (message definition text, RIHS01 hash) as stored in the bag, or None
            when the bag lacks either; lets a copy keep types this machine does not know.
    """

    name: str
    msgtype: str
    message_count: int
    definition: tuple[str, str] | None = None


@dataclass(frozen=True)
class BagMessage:
    """One serialised message as stored in a bag.

    Attributes:
        topic: fully qualified topic name.
        msgtype: ``package/msg/Name``.
        log_time_ns: when it was recorded, ns since the epoch.
        data: CDR bytes.
    """

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes

    def deserialize(self) -> Any:
        """The message object (rclpy class of ``msgtype``).

        Raises:
            UnknownMessageTypeError: the message package is not installed.
            CorruptBagError: the bytes are not a valid ``msgtype``.
        """
        cls = message_class(self.msgtype)
        try:
            return deserialize_message(self.data, cls)
        except RuntimeError as err:  # rclpy's RMWError: the CDR bytes do not decode
            raise CorruptBagError(
                f"message on {self.topic} at {self.log_time_ns} ns is not a valid {self.msgtype} "
                f"({len(self.data)} bytes): {err}") from err


def _locate_storage(path: Path) -> tuple[Path, str]:
    """What to hand rosbags' Reader for ``path``, and a note when it is not a plain bag directory."""
    if not path.exists():
        raise BagNotFoundError(f"{path}: no such bag (expected a rosbag2 directory or a .db3 / .mcap file)")
    if path.is_file():
        if path.suffix not in _STORAGE_SUFFIXES:
            raise BagNotFoundError(f"{path}: not a bag (a rosbag2 directory, or a .db3 / .mcap file)")
        return path, ""
    if (path / "metadata.yaml").exists():
        return path, ""
    storage_files = sorted(p for p in path.iterdir() if p.suffix in _STORAGE_SUFFIXES)
    if len(storage_files) == 1:
        return storage_files[0], (f"{path} has no metadata.yaml (recording interrupted?); "
                                  f"reading {storage_files[0].name} directly")
    found = ", ".join(p.name for p in storage_files) or "none"
    raise BagNotFoundError(f"{path}: not a bag: no metadata.yaml, and storage files ({found}) "
                           "are not exactly one .db3 or .mcap file")


class BagReader:
    """A rosbag2 bag (directory, or a lone .db3 / .mcap file) opened for reading.

    Use as a context manager. A directory without ``metadata.yaml`` but with one
    storage file (an interrupted recording) is read from that file; ``note``
    says so.

    Attributes:
        path: the bag as given.
        storage: ``"sqlite3"`` or ``"mcap"``.
        topics: ``{fully qualified name: BagTopic}``.
        note: a remark about how the bag was opened, or "".

    Raises (constructor):
        BagNotFoundError: ``path`` is not a bag.
        CorruptBagError: the metadata or the storage file is truncated or damaged.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        target, self.note = _locate_storage(self.path)
        try:
            self._reader = _Reader(target)
            self._reader.open()
        except _STORAGE_ERRORS as err:
            raise CorruptBagError(f"{self.path}: cannot be opened, it is truncated or damaged: {err}") from err
        storages = getattr(self._reader.storage, "storages", None) or [self._reader.storage]
        notes = [self.note, *(getattr(storage, "cut_off_note", "") for storage in storages)]
        self.note = "; ".join(note for note in notes if note)
        self.storage = "mcap" if any(p.suffix == ".mcap" for p in self._storage_files()) else "sqlite3"
        self.topics: dict[str, BagTopic] = {}
        for name, info in self._reader.topics.items():
            digests = {c.digest for c in info.connections if c.digest}
            definition = ((info.msgdef.data, digests.pop())
                          if info.msgdef.data and info.msgdef.format != MessageDefinitionFormat.NONE
                          and len(digests) == 1 else None)
            self.topics[normalize_topic(name)] = BagTopic(name=normalize_topic(name), msgtype=info.msgtype,
                                                           message_count=int(info.msgcount), definition=definition)
        self._open = True

    def _storage_files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return [p for p in self.path.iterdir() if p.suffix in _STORAGE_SUFFIXES]

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the storage files (idempotent)."""
        if self._open:
            self._open = False
            try:
                self._reader.close()
            except _STORAGE_ERRORS:
                pass  # closing a damaged file: nothing left to save

    @property
    def message_count(self) -> int:
        """Messages in the bag (all topics)."""
        return sum(topic.message_count for topic in self.topics.values())

    @property
    def start_time_ns(self) -> int:
        """Log time of the first message, ns (0 for an empty bag)."""
        return int(self._reader.start_time) if self.message_count else 0

    @property
    def end_time_ns(self) -> int:
        """Log time of the last message, ns (0 for an empty bag)."""
        return int(self._reader.end_time) - 1 if self.message_count else 0

    @property
    def custom_data(self) -> dict[str, str]:
        """The metadata's custom_data (provenance written by these tools), {} if none."""
        custom = getattr(self._reader.storage.metadata, "custom", None)
        return {str(key): str(value) for key, value in (custom or {}).items()}

    def describe_topics(self) -> str:
        """One line listing the topics with their types, for error messages."""
        if not self.topics:
            return "the bag has no topics"
        return "the bag has: " + ", ".join(f"{t.name} ({t.msgtype}, {t.message_count})"
                                           for t in self.topics.values())

    def require_topics(self, expected: Mapping[str, str]) -> None:
        """Check that each ``{topic: msgtype}`` is in the bag with that type.

        Raises:
            MissingTopicError: some topics are absent (all of them are named).
            TopicTypeError: a topic has another type.
        """
        missing = [f"{normalize_topic(t)} ({msgtype})" for t, msgtype in expected.items()
                   if normalize_topic(t) not in self.topics]
        if missing:
            raise MissingTopicError(f"{self.path}: missing {', '.join(missing)}; {self.describe_topics()}")
        for topic, msgtype in expected.items():
            found = self.topics[normalize_topic(topic)].msgtype
            if found != msgtype:
                raise TopicTypeError(f"{self.path}: {normalize_topic(topic)} is {found}, expected {msgtype}")

    def messages(self, topics: Iterable[str] | None = None, *, start_ns: int | None = None,
                 stop_ns: int | None = None) -> Iterator[BagMessage]:
        """Messages in log-time order.

        Args:
            topics: names to read (with or without leading slash); None = all. Names
                not in the bag are ignored (check with ``require_topics``).
            start_ns: only messages logged at or after this time, ns.
            stop_ns: only messages logged before this time, ns.

        Raises:
            CorruptBagError: the storage is damaged, or (reading the whole time range)
                fewer messages came than the metadata lists; raised after yielding
                what was readable.
        """
        wanted = None if topics is None else {normalize_topic(t) for t in topics}
        connections = [c for c in self._reader.connections
                       if wanted is None or normalize_topic(c.topic) in wanted]
        if not connections:
            return
        iterator = self._reader.messages(connections=connections, start=start_ns, stop=stop_ns)
        selected = {normalize_topic(c.topic) for c in connections}
        expected = sum(t.message_count for name, t in self.topics.items() if name in selected)
        count = 0
        while True:
            try:
                connection, log_time_ns, data = next(iterator)
            except StopIteration:
                if start_ns is None and stop_ns is None and count < expected:
                    raise CorruptBagError(f"{self.path}: only {count} of the {expected} messages its metadata "
                                          "lists could be read; the bag is truncated or damaged") from None
                return
            except _STORAGE_ERRORS as err:
                raise CorruptBagError(
                    f"{self.path}: truncated or damaged after {count} readable messages: {type(err).__name__}: {err}"
                ) from err
            count += 1
            yield BagMessage(topic=normalize_topic(connection.topic), msgtype=connection.msgtype,
                             log_time_ns=int(log_time_ns), data=bytes(data))


def _remove_existing_bag(path: Path) -> None:
    """Delete ``path`` if it looks like a bag this package could have written; refuse otherwise."""
    if path.is_file() or not path.is_dir():
        raise BagWriteError(f"{path} exists and is not a bag directory; not overwriting it")
    unexpected = [p.name for p in path.iterdir()
                  if p.name != "metadata.yaml" and p.suffix not in _STORAGE_SUFFIXES]
    if unexpected:
        raise BagWriteError(f"{path} exists and holds more than a bag ({', '.join(sorted(unexpected)[:5])}); "
                            "not overwriting it")
    shutil.rmtree(path)


class BagWriter:
    """A new rosbag2 bag (metadata version 9, as Jazzy writes) opened for writing.

    Use as a context manager: the bag is closed with its metadata even when the
    block raises, so whatever was written stays readable.

    Args:
        path: bag directory to create.
        storage: ``"sqlite3"`` or ``"mcap"``.
        overwrite: replace an existing bag directory at ``path`` (only one holding
            nothing but bag files).
        custom_data: string pairs stored in the metadata (provenance).

    Raises:
        BagWriteError: ``path`` exists (and ``overwrite`` is off or it is not a bag),
            or it cannot be created.
        ValueError: unknown ``storage``.
    """

    def __init__(self, path: str | os.PathLike[str], *, storage: str = "sqlite3", overwrite: bool = False,
                 custom_data: Mapping[str, str] | None = None) -> None:
        if storage not in STORAGE_FORMATS:
            raise ValueError(f"storage must be one of {STORAGE_FORMATS}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        if self.path.exists() or self.path.is_symlink():
            if not overwrite:
                raise BagWriteError(f"{self.path} exists; choose another output or overwrite it")
            _remove_existing_bag(self.path)
        try:
            self._writer = _CrcWriter(self.path, version=Writer.VERSION_LATEST,
                                      storage_plugin=_STORAGE_PLUGINS[storage])
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, str(value))
            self._writer.open()
        except (WriterError, OSError) as err:
            raise BagWriteError(f"{self.path}: cannot create the bag: {err}") from err
        self._connections: dict[str, Any] = {}
        self._msgtypes: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self._open = True

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def message_count(self) -> int:
        """Messages written so far (all topics)."""
        return sum(self.counts.values())

    def add_topic(self, topic: str, msgtype: str, *, definition: tuple[str, str] | None = None) -> str:
        """Register ``topic`` (idempotent); returns its fully qualified name.

        The definition and hash come from rosbags' Jazzy typestore, else from
        ``definition`` (text, RIHS01), e.g. ``BagTopic.definition`` of an input bag.

        Raises:
            UnknownMessageTypeError: no definition of ``msgtype`` is known or given.
            BagWriteError: the topic was added with another type, or the bag is closed.
        """
        name = normalize_topic(topic)
        if name in self._connections:
            if self._msgtypes[name] != msgtype:
                raise BagWriteError(f"{name} is already {self._msgtypes[name]} in {self.path}, not {msgtype}")
            return name
        self._check_open()
        try:
            msgdef, rihs01 = _definition(msgtype)
        except UnknownMessageTypeError:
            if definition is None:
                raise
            msgdef, rihs01 = definition
        try:
            self._connections[name] = self._writer.add_connection(name, msgtype, msgdef=msgdef, rihs01=rihs01)
        except (WriterError, OSError) as err:
            raise BagWriteError(f"{self.path}: cannot add {name} ({msgtype}): {err}") from err
        self._msgtypes[name] = msgtype
        return name

    def write(self, topic: str, message: object, log_time_ns: int) -> None:
        """Serialise ``message`` (an rclpy message object) and write it on ``topic`` at ``log_time_ns``."""
        self.write_raw(topic, message_type_name(message), serialize_message(message), log_time_ns)

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int, *,
                  definition: tuple[str, str] | None = None) -> None:
        """Write already serialised CDR bytes of ``msgtype`` on ``topic`` at ``log_time_ns`` (>= 0);
        ``definition`` as in ``add_topic``."""
        if log_time_ns < 0:
            raise BagWriteError(f"log time must be >= 0 ns, got {log_time_ns} for {topic}")
        name = self.add_topic(topic, msgtype, definition=definition)
        self._check_open()
        try:
            self._writer.write(self._connections[name], int(log_time_ns), data)
        except (WriterError, OSError) as err:
            raise BagWriteError(f"{self.path}: cannot write on {name}: {err}") from err
        self.counts[name] += 1

    def _check_open(self) -> None:
        if not self._open:
            raise BagWriteError(f"{self.path} is closed")

    def close(self) -> None:
        """Write the metadata and close (idempotent)."""
        if self._open:
            self._open = False
            try:
                self._writer.close()
            except (WriterError, OSError) as err:
                raise BagWriteError(f"{self.path}: cannot finish the bag: {err}") from err


@dataclass(frozen=True)
class StereoTopics:
    """Input topic names of a stereo camera (relative, as the node subscribes them)."""

    left_image: str = "left/image_raw"
    right_image: str = "right/image_raw"
    left_info: str = "left/camera_info"
    right_info: str = "right/camera_info"

    def expected(self) -> dict[str, str]:
        """``{topic: msgtype}`` of the four topics."""
        return {self.left_image: IMAGE_TYPE, self.right_image: IMAGE_TYPE,
                self.left_info: CAMERA_INFO_TYPE, self.right_info: CAMERA_INFO_TYPE}


@dataclass(frozen=True)
class StereoFrame:
    """One left/right image pair with the calibration valid for it.

    Attributes:
        stamp_ns: header stamp of the left image, ns.
        log_time_ns: log time of the message that completed the frame, ns.
        left_image, right_image: the raw (or rectified) images.
        left_info, right_info: each side's latest CameraInfo when the pair was matched.
    """

    stamp_ns: int
    log_time_ns: int
    left_image: Image
    right_image: Image
    left_info: CameraInfo
    right_info: CameraInfo


class StereoFrameReader:
    """Stereo frames from a bag, paired exactly as the node pairs them.

    Images go through the node's ``StereoSynchronizer`` (``ros.sync``) in
    log-time order: exact stamps by default, nearest stamp within
    ``tolerance_ns`` with ``approximate``; each pair takes each side's latest
    CameraInfo. The latest pair completed before both CameraInfos arrived is
    held and yielded once they have (as in the node); an older held pair is
    dropped when a newer one replaces it. The CameraInfos are not validated
    here: ``ros.calibration`` does that per pair, as the node does.
    ``counters`` tells what was paired and dropped.

    Args:
        reader: an open bag.
        topics: the four input topics.
        queue_size: images kept per side while waiting for the other side (node parameter ``queue_size``).
        approximate: pair by nearest stamp (node parameter ``approximate_sync``).
        tolerance_ns: largest stamp difference of an approximate pair, ns.
        observer: called with every message of the bag (all topics, log-time order)
            before it is used, e.g. to copy the inputs into an output bag; a frame is
            yielded after the observer saw the message that completed it.

    Raises (constructor):
        MissingTopicError: an image or CameraInfo topic is not in the bag (images
            without calibration are refused here, before anything is processed).
        TopicTypeError: a topic has another type.
    """

    def __init__(self, reader: BagReader, topics: StereoTopics = StereoTopics(), *, queue_size: int = 5,
                 approximate: bool = False, tolerance_ns: int = 0,
                 observer: Callable[[BagMessage], None] | None = None) -> None:
        reader.require_topics(topics.expected())
        self.reader = reader
        self.topics = topics
        self.observer = observer
        self._sync: StereoSynchronizer[Image, CameraInfo] = StereoSynchronizer(
            queue_size=queue_size, approximate=approximate, tolerance_ns=tolerance_ns)

    @property
    def counters(self) -> SyncCounters:
        """Images per side, pairs made, images dropped unmatched or without calibration."""
        return self._sync.counters

    def __iter__(self) -> Iterator[StereoFrame]:
        roles: dict[str, tuple[Side, bool]] = {
            normalize_topic(self.topics.left_image): ("left", False),
            normalize_topic(self.topics.right_image): ("right", False),
            normalize_topic(self.topics.left_info): ("left", True),
            normalize_topic(self.topics.right_info): ("right", True)}
        for item in self.reader.messages(None if self.observer else roles):
            if self.observer is not None:
                self.observer(item)
                if item.topic not in roles:
                    continue
            side, is_info = roles[item.topic]
            message = item.deserialize()
            if is_info:
                pair = self._sync.set_camera_info(side, message)
            else:
                pair = self._sync.add_image(side, stamp_ns(message.header.stamp), message).pair
            if pair is not None:
                yield StereoFrame(stamp_ns=pair.stamp_ns, log_time_ns=item.log_time_ns, left_image=pair.left_image,
                                  right_image=pair.right_image, left_info=pair.left_info, right_info=pair.right_info)
