"""Test helpers for the node tests: an asymmetric rig, scenes, the node process and a peer node.

The node runs as a separate process (its console script with
``--ros-args --params-file``); ``RosPeer`` is an rclpy node inside the pytest
process that publishes stereo pairs and CameraInfo and records every output.
All waits are generous (the machine is slow and busy); nothing asserts timings.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
import yaml
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.core.synthetic import SceneConfig, StereoScene, scene_for_index
from stereo_depth_ros.ros.image_conversion import image_to_numpy, numpy_to_image

NODE_EXECUTABLE = Path(sys.executable).parent / "stereo_depth_node"
NODE_NAME = "stereo_depth_node"
OUTPUT_TYPES: dict[str, type] = {
    "disparity": DisparityImage,
    "depth": Image,
    "depth/camera_info": CameraInfo,
    "confidence": Image,
    "points2": PointCloud2,
    "left/image_rect": Image,
}
ALL_OUTPUTS = tuple(OUTPUT_TYPES)
SCENE_CONFIG = SceneConfig(height=320, width=448, max_disparity_px=48.0, textureless_probability=0.0,
                           thin_structure_probability=0.0)
SCENE_SEED = 4


@dataclass(frozen=True)
class Rig:
    """An asymmetric rectified rig: fx != fy, cx != cy, cx_left != cx_right, non-square images.

    cx_right > cx_left, so cx_offset_px is negative and every scene disparity
    (> 0) is a valid depth: Z = fx * baseline_m / (d - cx_offset_px).
    """

    width: int = 448
    height: int = 320
    fx: float = 420.0
    fy: float = 395.0
    cx_left: float = 221.5
    cx_right: float = 233.0
    cy: float = 157.25
    baseline_m: float = 0.12
    frame_id: str = "stereo_left_optical"

    @property
    def cx_offset_px(self) -> float:
        return self.cx_left - self.cx_right

    def projections(self) -> tuple[np.ndarray, np.ndarray]:
        p_left = np.array([[self.fx, 0.0, self.cx_left, 0.0], [0.0, self.fy, self.cy, 0.0], [0.0, 0.0, 1.0, 0.0]])
        p_right = p_left.copy()
        p_right[0, 2:] = self.cx_right, -self.fx * self.baseline_m
        return p_left, p_right

    def depth_m(self, disparity_px: np.ndarray) -> np.ndarray:
        """Ground-truth depth of scene disparities (d = x_left - x_right), metres; NaN at or beyond infinity."""
        shifted = np.asarray(disparity_px, np.float64) - self.cx_offset_px
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(shifted > 0, self.fx * self.baseline_m / shifted, np.nan)

    def rectified_infos(self) -> tuple[CameraInfo, CameraInfo]:
        """CameraInfo of already rectified images (K = P[:, :3], no distortion, R = I)."""
        infos = []
        for p, frame in zip(self.projections(), (self.frame_id, "stereo_right_optical"), strict=True):
            infos.append(CameraInfo(header=Header(frame_id=frame), width=self.width, height=self.height,
                                    distortion_model="plumb_bob", d=[0.0] * 5, k=p[:, :3].flatten().tolist(),
                                    r=np.eye(3).flatten().tolist(), p=p.flatten().tolist()))
        return infos[0], infos[1]


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    return cv2.Rodrigues(np.array([rx, ry, rz], np.float64))[0]


@dataclass(frozen=True)
class RawCamera:
    """A raw camera of the rig: intrinsics K and rotation R (raw -> rectified), no distortion."""

    K: np.ndarray
    R: np.ndarray

    def unrectify(self, rectified: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The raw image whose rectification (K, R, P) is ``rectified``."""
        homography = p[:, :3] @ self.R @ np.linalg.inv(self.K)  # raw pixel -> rectified pixel
        height, width = rectified.shape[:2]
        return cv2.warpPerspective(rectified, homography, (width, height),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


RAW_LEFT = RawCamera(K=np.array([[430.0, 0.0, 226.0], [0.0, 402.0, 151.0], [0.0, 0.0, 1.0]]),
                     R=_rotation(0.010, -0.015, 0.006))
RAW_RIGHT = RawCamera(K=np.array([[415.0, 0.0, 219.0], [0.0, 398.0, 163.5], [0.0, 0.0, 1.0]]),
                      R=_rotation(-0.008, 0.012, -0.004))


def raw_infos(rig: Rig) -> tuple[CameraInfo, CameraInfo]:
    """CameraInfo of the raw cameras RAW_LEFT and RAW_RIGHT rectified to ``rig`` (identity distortion)."""
    left, right = rig.rectified_infos()
    for info, camera in ((left, RAW_LEFT), (right, RAW_RIGHT)):
        info.k = camera.K.flatten().tolist()
        info.r = camera.R.flatten().tolist()
    return left, right


def raw_pair(rig: Rig, scene: StereoScene) -> tuple[np.ndarray, np.ndarray]:
    """Raw images of a scene seen by RAW_LEFT and RAW_RIGHT."""
    p_left, p_right = rig.projections()
    return RAW_LEFT.unrectify(scene.left, p_left), RAW_RIGHT.unrectify(scene.right, p_right)


_SCENES: dict[int, StereoScene] = {}


def scene(index: int) -> StereoScene:
    """Rectified synthetic scene ``index`` (448x320, exact disparity), cached."""
    if index not in _SCENES:
        _SCENES[index] = scene_for_index(index, seed=SCENE_SEED, config=SCENE_CONFIG)
    return _SCENES[index]


def image_message(pixels: np.ndarray, encoding: str, frame_id: str) -> Image:
    return numpy_to_image(np.ascontiguousarray(pixels), encoding, header=Header(frame_id=frame_id))


def stamp_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def to_time(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def disparity_from_message(msg: DisparityImage, cx_offset_px: float) -> np.ndarray:
    """Our d = x_left - x_right (px, NaN invalid) from a DisparityImage, checking its invalid marker."""
    adjusted = image_to_numpy(msg.image).astype(np.float32)
    invalid = adjusted <= 0.0  # the message's d - cx_offset_px is > 0 for every point in front of the rig
    assert np.all(adjusted[invalid] == np.float32(min(msg.min_disparity, 0.0) - 1.0)), "invalid marker"
    return np.where(invalid, np.nan, adjusted + np.float32(cx_offset_px)).astype(np.float32)


def accuracy(disparity_px: np.ndarray, truth_px: np.ndarray, evaluated: np.ndarray) -> tuple[float, float, float]:
    """(density, median |error| px, bad-2 fraction) over ``evaluated`` pixels."""
    valid = evaluated & np.isfinite(disparity_px)
    errors = np.abs(disparity_px - truth_px)[valid]
    return float(valid.sum() / evaluated.sum()), float(np.median(errors)), float(np.mean(errors > 2.0))


def cloud_fields(msg: PointCloud2) -> dict[str, np.ndarray]:
    """The fields of an organised little-endian PointCloud2 as (height, width) arrays (rgb as uint32)."""
    assert not msg.is_bigendian and msg.row_step == msg.point_step * msg.width
    formats = {field.name: "<u4" if field.name == "rgb" else "<f4" for field in msg.fields}
    record = np.dtype({"names": list(formats), "formats": list(formats.values()),
                       "offsets": [field.offset for field in msg.fields], "itemsize": msg.point_step})
    points = np.frombuffer(bytes(msg.data), dtype=record).reshape(msg.height, msg.width)
    return {name: np.asarray(points[name]) for name in formats}


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(H, W) uint32 0x00RRGGBB -> (H, W, 3) uint8 R, G, B."""
    return np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=-1).astype(np.uint8)


class NodeProcess:
    """The node's console script in its own process, with its log in a file."""

    def __init__(self, tmp_dir: Path, parameters: dict[str, Any], extra_args: Iterable[str] = ()) -> None:
        self.params_file = tmp_dir / "params.yaml"
        self.params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": parameters}}))
        self.log_file = tmp_dir / "node.log"
        self._log = self.log_file.open("wb")
        self.process = subprocess.Popen(
            [str(NODE_EXECUTABLE), "--ros-args", "--params-file", str(self.params_file), *extra_args],
            stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def signal_and_wait(self, signum: int, timeout_s: float) -> tuple[int | None, float]:
        """Send ``signum``; returns (exit status or None if still running, seconds until exit)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return status, time.monotonic() - started

    def close(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
        self._log.close()


@dataclass
class Diagnostic:
    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, *, period_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(period_s)


class RosPeer:
    """The test's own rclpy node: publishes the node's inputs and records its outputs."""

    def __init__(self, *, keep: int = 8) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stereo_depth_test_peer", context=self.context)
        self._lock = threading.Lock()
        self._outputs: dict[str, deque[Any]] = {topic: deque(maxlen=keep) for topic in OUTPUT_TYPES}
        self.output_counts: dict[str, int] = {topic: 0 for topic in OUTPUT_TYPES}
        self._diagnostics: dict[str, Diagnostic] = {}
        self._diagnostics_count = 0
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pubs = {side: self.node.create_publisher(Image, f"{side}/image_raw", reliable)
                           for side in ("left", "right")}
        self.info_pubs = {side: self.node.create_publisher(CameraInfo, f"{side}/camera_info", reliable)
                          for side in ("left", "right")}
        self._reliable = reliable
        self._output_subscriptions = {topic: self.node.create_subscription(msg_type, topic, self._recorder(topic),
                                                                           reliable)
                                      for topic, msg_type in OUTPUT_TYPES.items()}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.parameter_client = self.node.create_client(SetParameters, f"/{NODE_NAME}/set_parameters")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()
        self._next_stamp_ns = 1_700_000_000 * 1_000_000_000
        # Seconds between the left and right image of a pair. With the package's Fast DDS profile
        # (ros_environment) a pair can go back to back, as camera drivers send it; Fast DDS's default
        # 512 KB shared-memory segment used to drop one of two such images.
        self.pair_gap_s = 0.0

    def unsubscribe(self, topic: str) -> None:
        """Stop listening to one of the node's outputs (the node then has no subscriber there)."""
        self.node.destroy_subscription(self._output_subscriptions.pop(topic))

    def subscribe(self, topic: str, timeout_s: float = 30.0) -> None:
        """Listen to one of the node's outputs again, once the node's publisher has matched."""
        subscription = self.node.create_subscription(OUTPUT_TYPES[topic], topic, self._recorder(topic), self._reliable)
        self._output_subscriptions[topic] = subscription
        wait_for(lambda: subscription.get_publisher_count() > 0, timeout_s, f"the node's {topic} publisher")

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:
                if self.context.ok():
                    raise
                return

    def _recorder(self, topic: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self._lock:
                self._outputs[topic].append(msg)
                self.output_counts[topic] += 1
        return record

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self._lock:
            for status in msg.status:
                if status.name.startswith(NODE_NAME):
                    part = status.name.split(": ", 1)[-1]
                    self._diagnostics[part] = Diagnostic(level=status.level[0], message=status.message,
                                                         values={kv.key: kv.value for kv in status.values})
            self._diagnostics_count += 1

    # ---------------------------------------------------------------- inputs

    def next_stamp(self, step_ns: int = 100_000_000) -> int:
        self._next_stamp_ns += step_ns
        return self._next_stamp_ns

    def wait_until_connected(self, timeout_s: float = 120.0) -> None:
        """Until the node subscribes to the inputs and its outputs reach this peer."""
        def connected() -> bool:
            return (all(p.get_subscription_count() > 0 for p in self.image_pubs.values())
                    and all(p.get_subscription_count() > 0 for p in self.info_pubs.values())
                    and self.node.count_publishers("/disparity") > 0)
        wait_for(connected, timeout_s, "the node's subscriptions and publishers")

    def send_infos(self, infos: tuple[CameraInfo, CameraInfo], stamp: int) -> None:
        for side, info in zip(("left", "right"), infos, strict=True):
            info.header.stamp = to_time(stamp)
            self.info_pubs[side].publish(info)

    def send_pair(self, left: Image, right: Image, *, stamp: int | None = None, right_stamp: int | None = None,
                  infos: tuple[CameraInfo, CameraInfo] | None = None) -> int:
        """Publish (infos and) a pair; returns the left stamp, ns."""
        stamp = self.next_stamp() if stamp is None else stamp
        if infos is not None:
            self.send_infos(infos, stamp)
        left.header.stamp = to_time(stamp)
        right.header.stamp = to_time(stamp if right_stamp is None else right_stamp)
        self.image_pubs["left"].publish(left)
        if self.pair_gap_s:
            time.sleep(self.pair_gap_s)
        self.image_pubs["right"].publish(right)
        return stamp

    # ---------------------------------------------------------------- outputs

    def output(self, topic: str, stamp: int) -> Any | None:
        with self._lock:
            for msg in reversed(self._outputs[topic]):
                if stamp_ns(msg.header.stamp) == stamp:
                    return msg
        return None

    def latest(self, topic: str) -> Any | None:
        with self._lock:
            return self._outputs[topic][-1] if self._outputs[topic] else None

    def outputs(self, stamp: int, topics: Iterable[str], timeout_s: float) -> dict[str, Any]:
        topics = tuple(topics)

        def ready() -> dict[str, Any] | None:
            found = {topic: self.output(topic, stamp) for topic in topics}
            return found if all(msg is not None for msg in found.values()) else None
        return wait_for(ready, timeout_s, f"outputs {topics} stamped {stamp}")

    def exchange(self, left: Image, right: Image, *, infos: tuple[CameraInfo, CameraInfo] | None,
                 topics: Iterable[str] = ALL_OUTPUTS, timeout_s: float = 90.0, resend_s: float = 5.0,
                 right_offset_ns: int = 0) -> tuple[int, dict[str, Any]]:
        """Send a pair and wait for its outputs; returns (left stamp, {topic: message}).

        Best-effort transport may lose a pair (the node's sensor-data subscriptions drop what
        arrives before they matched this peer), so the pair is sent again with a new stamp
        every ``resend_s`` until the outputs of one of the stamps sent are complete.
        ``right_offset_ns`` shifts the right image's stamp (approximate sync).
        """
        topics = tuple(topics)
        sent: list[int] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stamp = self.next_stamp()
            self.send_pair(left, right, stamp=stamp, right_stamp=stamp + right_offset_ns, infos=infos)
            sent.append(stamp)
            resend_at = min(deadline, time.monotonic() + resend_s)
            while time.monotonic() < resend_at:
                for candidate in sent:
                    found = {topic: self.output(topic, candidate) for topic in topics}
                    if all(msg is not None for msg in found.values()):
                        return candidate, found
                time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for outputs {topics} of stamps {sent}")

    def diagnostics(self) -> dict[str, Diagnostic]:
        with self._lock:
            return dict(self._diagnostics)

    def diagnostics_received(self) -> int:
        """/diagnostics messages of the node received so far."""
        with self._lock:
            return self._diagnostics_count

    def wait_for_diagnostics(self, predicate: Callable[[dict[str, Diagnostic]], bool], what: str,
                             timeout_s: float = 60.0) -> dict[str, Diagnostic]:
        def check() -> dict[str, Diagnostic] | None:
            current = self.diagnostics()
            return current if current and predicate(current) else None
        return wait_for(check, timeout_s, f"diagnostics showing {what}", period_s=0.2)

    def set_parameters(self, timeout_s: float = 60.0, **values: Any) -> list[SetParametersResult]:
        wait_for(lambda: self.parameter_client.wait_for_service(timeout_sec=0.5), timeout_s,
                 "the node's set_parameters service")
        request = SetParameters.Request(parameters=[
            ParameterMsg(name=name, value=Parameter(name, value=value).get_parameter_value())
            for name, value in values.items()])
        future = self.parameter_client.call_async(request)
        wait_for(future.done, timeout_s, f"set_parameters {values}")
        return list(future.result().results)

    def close(self) -> None:
        self.node.destroy_node()
        self.context.try_shutdown()
        self._spinner.join(5)


def node_and_peer_fixtures(directory_name: str, parameters: dict[str, Any]) -> tuple[Callable, Callable]:
    """Module-scoped pytest fixtures ``node`` (the node process with ``parameters``) and ``peer`` (connected to it).

    Use as ``node, peer = node_and_peer_fixtures("stereo_node_sgbm", PARAMETERS)`` in a test module.
    """
    import pytest

    @pytest.fixture(scope="module")
    def node(tmp_path_factory: pytest.TempPathFactory, ros_environment: dict[str, str]) -> Iterator[NodeProcess]:
        process = NodeProcess(tmp_path_factory.mktemp(directory_name), parameters)
        yield process
        process.close()

    @pytest.fixture(scope="module")
    def peer(node: NodeProcess) -> Iterator[RosPeer]:
        connected = RosPeer()
        connected.wait_until_connected()
        yield connected
        connected.close()

    return node, peer
