"""StereoDepthNode: stereo images + CameraInfo in, disparity, depth and points out.

Topics (relative, so they follow the namespace and can be remapped):

    subscribes  left/image_raw, left/camera_info, right/image_raw, right/camera_info
                (with rectify:=false remap the image topics to image_rect)
                hints/points        sensor_msgs/PointCloud2 from a LiDAR, subscribed once hints is
                                    lidar or both (at start-up or later; kept when hints changes back)
    publishes   disparity           stereo_msgs/DisparityImage (stereo_image_proc conventions)
                depth               sensor_msgs/Image, 32FC1 metres NaN invalid, or 16UC1 mm 0 invalid
                depth/camera_info   sensor_msgs/CameraInfo of the left rectified camera
                confidence          sensor_msgs/Image 32FC1 in [0, 1], 0 where invalid
                points2             sensor_msgs/PointCloud2, organised, xyz (+ rgb)
                left/image_rect     sensor_msgs/Image, the rectified left image
                /diagnostics        diagnostic_msgs/DiagnosticArray

Every output is at the rectified input resolution (the cloud optionally
decimated), in the left rectified optical frame (the left CameraInfo's
frame_id), stamped with the left image's stamp.

Threads: the executor thread runs the subscription callbacks, which only pair
images (``sync.StereoSynchronizer``) and hand the newest pair to one "pending"
slot; a worker thread takes it, converts the images, runs the shared
``StereoPipeline`` and publishes. A pair arriving while another is pending
replaces it (counted as dropped), so no backlog builds and latency stays at
one inference. The image subscriptions are raw: the executor reads each
image's stamp from its serialized header (``ros.stamps.stamp_ns_from_cdr``)
and only the pairs the worker takes are deserialized, so images dropped
because the node is slower than the camera (four in five at 30 Hz input and
6 Hz output) cost no deserialization (about 1 ms each at 640x480 rgb8).

LiDAR hints: the hints/points callback only keeps the newest
``LIDAR_CLOUDS_KEPT`` clouds. The worker takes the one nearest in time to the
pair, checks its stamp and frame and projects it (``ros.lidar_input``, the
same code as ``stereo_bag_process``); a pair without a usable cloud (none yet,
stale, wrong frame, unreadable layout) is matched without LiDAR hints, with a
throttled warning and a count on /diagnostics.

Bad input never stops the node: each problem (unsupported encoding, size
mismatches, invalid calibration, stamps going backwards, truncated data, a
failing backend run) is logged (throttled per kind) and shown on /diagnostics,
and publishing resumes with the next good pair. Calibration follows the rule
of ``ros.calibration``, the same as ``stereo_bag_process`` and
``stereo_depth_adapt``: a pair of CameraInfos is validated as a whole (each
camera and the pair) before it is cached; a bad one is rejected with a
throttled warning and the last good calibration stays in use (before the first
good one there is no output, with an error on /diagnostics). The rig (with its
rectification maps) is built once per calibration; /diagnostics names the
calibration in use.

An endpoint that can never connect (a publisher or subscriber with an
incompatible QoS) and samples Fast DDS reports lost are logged (throttled) and
counted on /diagnostics (``ros.qos_events``). ``main`` selects the package's
Fast DDS profile for large images before rclpy starts (``ros.dds``).

The backends run the left-right check themselves (``StereoPipeline`` calls
``match_checked``; the network reads the right view from the same pass); the
node only switches the check on and off.

rclpy use is limited to what Humble offers.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any, Final

import numpy as np
import rclpy
import rclpy.logging
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    HistoryPolicy,
    QoSPresetProfiles,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.serialization import deserialize_message
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from stereo_depth_ros.backends import FittedBackend, create_backend, scaled_num_disparities
from stereo_depth_ros.backends.base import StereoBackend
from stereo_depth_ros.backends.errors import BackendError, BackendUnavailableError, ConfigurationError
from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.errors import ImageShapeError, StereoDepthError
from stereo_depth_ros.core.frames import StaticTransforms
from stereo_depth_ros.core.stamps import seconds_to_ns
from stereo_depth_ros.pipeline.stereo_pipeline import StereoOutput, StereoPipeline
from stereo_depth_ros.ros.allocator import keep_freed_buffers
from stereo_depth_ros.ros.calibration import CalibrationCache, calibration_diagnostics
from stereo_depth_ros.ros.dds import select_large_image_profile
from stereo_depth_ros.ros.diagnostics import Level, NodeStatistics, diagnostic_array
from stereo_depth_ros.ros.errors import (
    ImageConversionError,
    LidarHintError,
    PointCloudConversionError,
    RosLayerError,
)
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.lidar_input import (
    LIDAR_TOPIC,
    LidarHintSettings,
    lidar_hints_for_pair,
    nearest_cloud,
    uses_lidar,
)
from stereo_depth_ros.ros.model_files import inference_hw, resolve_model_path
from stereo_depth_ros.ros.node_diagnostics import NodeState, node_reports
from stereo_depth_ros.ros.node_help import help_requested, node_help
from stereo_depth_ros.ros.outputs import OUTPUT_TOPICS, disparity_range_px, output_messages
from stereo_depth_ros.ros.parameters import (
    DEPTH_RANGES,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    NodeSettings,
    descriptor,
    pipeline_config,
    problems,
    settings_from_values,
)
from stereo_depth_ros.ros.qos_events import QosEventMonitor
from stereo_depth_ros.ros.stamps import stamp_ns_from_cdr, time_from_ns
from stereo_depth_ros.ros.static_transforms import TF_STATIC_QOS, TF_STATIC_TOPIC, add_transforms, tf_message_class
from stereo_depth_ros.ros.sync import SIDES, Side, StereoPair, StereoSynchronizer

try:  # Galactic and newer
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover
    ExternalShutdownException = RuntimeError  # type: ignore[misc, assignment]

__all__ = ["NODE_NAME", "StereoDepthNode", "backend_from_settings", "main"]

NODE_NAME: Final = "stereo_depth_node"
#: A repeated problem of one kind is logged at most once per this many seconds.
LOG_THROTTLE_S: Final = 5.0
#: How long shutdown waits for an inference in progress, s.
WORKER_JOIN_TIMEOUT_S: Final = 1.5
#: LiDAR clouds kept for pairing with stereo pairs (the newest ones); the subscription's queue depth is 2.
LIDAR_CLOUDS_KEPT: Final = 3

#: A stereo pair as the executor queues it: both images serialized (CDR bytes of sensor_msgs/Image).
Pair = StereoPair[bytes, CameraInfo]


def backend_from_settings(settings: NodeSettings) -> StereoBackend:
    """The matcher ``settings.backend`` names, built by ``backends.create_backend`` from the settings.

    With an inference size (``inference_width_px``, ``inference_height_px`` > 0) the
    classical backends are wrapped in ``backends.FittedBackend`` (matching on the pair
    shrunk to that size) and the network backends load the model of that size
    (``model_files.resolve_model_path``); an explicit ``model_path`` must have that input size.

    Raises:
        BackendError: (a subclass of) the backend's own error, e.g. a missing model or an
            unavailable execution provider; the node does not start without a backend.
    """
    size = inference_hw(settings)
    if settings.backend in ("sgbm", "bm"):
        if size is None:
            return create_backend(settings.backend,
                                  num_disparities=scaled_num_disparities(settings.max_disparity_px, 1.0))
        name = settings.backend
        return FittedBackend(lambda num_disparities: create_backend(name, num_disparities=num_disparities),
                             size, max_disparity_px=settings.max_disparity_px)
    model_path = resolve_model_path(settings)
    options: dict[str, object] = {"model_path": model_path}
    if settings.backend == "onnx":
        auto = tuple(settings.execution_providers) == ("auto",)
        options.update(providers=None if auto else list(settings.execution_providers),
                       intra_op_threads=settings.intra_op_threads)
    try:
        backend = create_backend(settings.backend, **options)
    except BackendUnavailableError as err:
        raise BackendUnavailableError(_unavailable_provider_advice(err, settings)) from err
    model_hw = getattr(backend, "model_hw", None)
    if size is not None and model_hw is not None and tuple(model_hw) != size:
        raise ConfigurationError(
            f"model_path {model_path} takes {model_hw[1]}x{model_hw[0]} px input but the inference size is "
            f"{size[1]}x{size[0]} px (inference_width_px x inference_height_px); set both to 0 to use the "
            "model's own size, or export the model at that size")
    return backend


def _unavailable_provider_advice(err: BackendUnavailableError, settings: NodeSettings) -> str:
    """``err``'s message with the parameters to change instead of the backend's Python-level advice."""
    detail = str(err).split(" Use providers=", 1)[0].rstrip(".")
    return (f"{detail}. Set execution_providers to [auto] (the best available) or [cpu] (node: "
            "-p execution_providers:=\"['cpu']\"; stereo_bag_process: --execution_providers cpu), or backend to "
            f"sgbm; execution_providers is {list(settings.execution_providers)}")


def _deserialized_image(serialized: bytes) -> Image:
    """A raw subscription's sensor_msgs/Image.

    Raises:
        ImageConversionError: the bytes are not a serialized sensor_msgs/Image.
    """
    try:
        return deserialize_message(serialized, Image)
    except RuntimeError as err:  # rclpy's RMWError: Fast CDR could not read it
        raise ImageConversionError(f"unreadable serialized image ({len(serialized)} bytes): {err}") from err


def _describe_image(msg: Image) -> str:
    return f"{msg.width}x{msg.height} {msg.encoding!r}"


class _Throttle:
    """Per-kind log throttling on the monotonic clock.

    rclpy's ``throttle_duration_sec`` throttles per call site; the node reports
    every kind of bad input from the same few call sites, so one kind would
    hide another. Here each kind has its own timer.
    """

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._last_s: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, kind: str) -> int | None:
        """None to stay quiet; else the number of messages of ``kind`` suppressed since the last one logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last_s.get(kind)
            if last is not None and now - last < self._period_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return None
            self._last_s[kind] = now
            return self._suppressed.pop(kind, 0)


class StereoDepthNode(Node):
    """The stereo depth node (see the module docstring for topics, threads and error handling).

    Raises (from the constructor, so the process exits non-zero):
        RosLayerError: a parameter value is invalid (the message names it).
        BackendError: the backend cannot start (missing model, unavailable provider, ...).
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)  # type: ignore[arg-type]
        self._settings = self._declare_parameters()
        self._stats = NodeStatistics()
        self._throttle = _Throttle(LOG_THROTTLE_S)
        self._qos_events = QosEventMonitor(lambda category, kind, message: self._problem(category, kind, message,
                                                                                         level=Level.WARN))

        self._backend = backend_from_settings(self._settings)
        self._backend_facts = {key: str(value) for key, value in self._backend.describe().items()}
        self._pipeline = StereoPipeline(self._backend, pipeline_config(self._settings))
        model = self._backend_facts.get("model")
        self.get_logger().info(
            f"backend {self._backend.name} ready ({self._backend_facts.get('provider', 'n/a')})"
            + (f", model {model}" if model else "") + f"; rectify={self._settings.rectify}, "
            f"{'approximate' if self._settings.approximate_sync else 'exact'} sync")

        settings = self._settings
        self._sync: StereoSynchronizer[Image, CameraInfo] = StereoSynchronizer(
            queue_size=settings.queue_size, approximate=settings.approximate_sync,
            tolerance_ns=seconds_to_ns(settings.approximate_sync_tolerance_seconds))
        # Worker-only (the diagnostics timer reads its in_use and counters): the calibration in use.
        self._calibration = CalibrationCache(rectify=settings.rectify)

        # Executor thread appends, the worker reads a snapshot (deque appends are atomic).
        self._lidar_clouds: deque[PointCloud2] = deque(maxlen=LIDAR_CLOUDS_KEPT)
        self._lidar_subscription: Subscription | None = None
        self._lidar_hint_pixels: int | None = None  # of the last pair guided by a cloud
        self._hint_fraction_last: float | None = None  # of the last pair processed with hints on
        # Copy-on-write: the executor thread swaps in an extended copy, the worker looks up in the one it reads.
        self._static_transforms = StaticTransforms()
        self._tf_static_subscription: Subscription | None = None

        self._pending: Pair | None = None
        self._stopping = False
        self._condition = threading.Condition()
        self._publish_lock = threading.Lock()

        output_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=settings.output_qos_depth,
            reliability=(ReliabilityPolicy.RELIABLE if settings.output_qos_reliability == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT))
        output_types: dict[str, type] = {"disparity": DisparityImage, "depth": Image, "depth_info": CameraInfo,
                                         "confidence": Image, "points": PointCloud2, "rectified": Image}
        self._output_pubs = {
            OUTPUT_TOPICS[role]: self.create_publisher(
                msg_type, OUTPUT_TOPICS[role], output_qos,
                event_callbacks=self._qos_events.publisher_callbacks(self.resolve_topic_name(OUTPUT_TOPICS[role])))
            for role, msg_type in output_types.items()}
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        input_qos = self._input_qos(settings)
        self._subscriptions_kept = [self._input_subscription(msg_type, f"{side}/{name}", callback, input_qos,
                                                             raw=raw)
                                    for side in SIDES for msg_type, name, callback, raw in (
                                        (Image, "image_raw", partial(self._on_image, side), True),
                                        (CameraInfo, "camera_info", partial(self._on_camera_info, side), False))]
        self._subscribe_lidar_if_used(settings.hints)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_timer = self.create_timer(settings.diagnostics_period_seconds, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="stereo_depth_worker", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- parameters

    def _declare_parameters(self) -> NodeSettings:
        values = {}
        for spec in PARAMETERS:
            default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            values[spec.name] = self.declare_parameter(spec.name, default, descriptor(spec)).value
        return settings_from_values(values)

    def _on_set_parameters(self, parameters: Sequence[Parameter]) -> SetParametersResult:
        """Validate run-time changes against the schema, then apply them to the next frame."""
        changes = {p.name: p.value for p in parameters if p.name in PARAMETERS_BY_NAME}
        if not changes:
            return SetParametersResult(successful=True)
        fixed = [name for name in changes if not PARAMETERS_BY_NAME[name].dynamic]
        if fixed:
            return SetParametersResult(successful=False, reason=f"read-only (set at start-up): {', '.join(fixed)}")
        current = dataclasses.asdict(self._settings)
        for low, high in DEPTH_RANGES:
            if {low, high} & changes.keys():  # checked together, against the current other one
                changes.setdefault(low, current[low])
                changes.setdefault(high, current[high])
        found = problems(changes)
        if found:
            return SetParametersResult(successful=False, reason="; ".join(found))
        settings = settings_from_values({**current, **changes})
        try:
            config = pipeline_config(settings)
        except ValueError as err:
            return SetParametersResult(successful=False, reason=str(err))
        self._subscribe_lidar_if_used(settings.hints)
        if not uses_lidar(settings.hints):
            self._stats.clear("lidar")
        self._settings = settings
        self._pipeline.config = config  # read once per frame by StereoPipeline.process
        self.get_logger().info("parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in sorted(changes.items())))
        return SetParametersResult(successful=True)

    def _subscribe_lidar_if_used(self, hints: str) -> None:
        """Subscribe hints/points the first time ``hints`` asks for LiDAR hints (the subscription then stays)."""
        if self._lidar_subscription is not None or not uses_lidar(hints):
            return
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
        subscription = self.create_subscription(PointCloud2, LIDAR_TOPIC, self._on_lidar_cloud, qos)
        self._lidar_subscription = subscription
        self.get_logger().info(f"hints={hints!r}: LiDAR clouds from {subscription.topic_name}")
        tf_message = tf_message_class()
        if tf_message is None:
            self.get_logger().info(f"tf2_msgs is not installed, so {TF_STATIC_TOPIC} is not read: clouds outside "
                                   "the left camera's frame need lidar_transform")
            return
        self._tf_static_subscription = self.create_subscription(tf_message, TF_STATIC_TOPIC, self._on_tf_static,
                                                                TF_STATIC_QOS)

    def _input_subscription(self, msg_type: type, topic: str, callback: Any, qos: QoSProfile, *,
                            raw: bool = False) -> Subscription:
        """A subscription of an input topic whose QoS events (incompatible publisher, lost samples) are reported.

        ``raw``: the callback gets the message's serialized CDR bytes instead of the message.
        """
        resolved = self.resolve_topic_name(topic)
        return self.create_subscription(msg_type, topic, callback, qos, raw=raw,
                                        event_callbacks=self._qos_events.subscription_callbacks(resolved))

    @staticmethod
    def _input_qos(settings: NodeSettings) -> QoSProfile:
        if settings.input_qos == "system_default":
            profile = QoSPresetProfiles.SYSTEM_DEFAULT.value
            return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.queue_size,
                              reliability=profile.reliability, durability=profile.durability)
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.queue_size,
                          reliability=(ReliabilityPolicy.BEST_EFFORT if settings.input_qos == "sensor_data"
                                       else ReliabilityPolicy.RELIABLE))

    # ---------------------------------------------------------------- logging and problems

    def _problem(self, category: str, kind: str, message: str, *, level: Level = Level.ERROR) -> None:
        """Show a problem on /diagnostics and log it, throttled per ``kind``."""
        self._stats.report(category, message, level)
        suppressed = self._throttle.admit(kind)
        if suppressed is None:
            return
        text = message + (f" ({suppressed} more like this since the last report)" if suppressed else "")
        if level >= Level.ERROR:
            self.get_logger().error(text)
        else:
            self.get_logger().warning(text)

    def _resolved(self, category: str, message: str) -> None:
        if self._stats.clear(category):
            self.get_logger().info(message)

    # ---------------------------------------------------------------- input (executor thread)

    def _on_camera_info(self, side: Side, msg: CameraInfo) -> None:
        """Keep the side's latest CameraInfo for the next pairs (validated with the pair, in the worker)."""
        self._stats.count(f"{side}_camera_info")
        held_pair = self._sync.set_camera_info(side, msg)
        if held_pair is not None:
            self._hand_to_worker(held_pair)

    def _on_lidar_cloud(self, msg: PointCloud2) -> None:
        self._stats.count("lidar_clouds")
        self._lidar_clouds.append(msg)  # checked and projected by the worker, for the pair it fits

    def _on_tf_static(self, msg: Any) -> None:
        extended = self._static_transforms.copy()
        problems = add_transforms(extended, msg.transforms)
        self._static_transforms = extended
        if problems:
            self._problem("lidar", "tf_static_rejected", f"{TF_STATIC_TOPIC}: left out " + "; ".join(problems),
                          level=Level.WARN)

    def _on_image(self, side: Side, serialized: bytes) -> None:
        self._stats.count(f"{side}_images")
        try:
            image_stamp_ns = stamp_ns_from_cdr(serialized)
        except ValueError as err:
            self._stats.count("input_errors")
            self._problem("input", "input_unreadable_image", f"{side}/image_raw: unreadable message dropped ({err})")
            return
        result = self._sync.add_image(side, image_stamp_ns, serialized)
        if result.time_jump is not None:  # counted by the synchroniser (its counters are on /diagnostics)
            jump = result.time_jump
            self._problem("sync", "time_jump",
                          f"{jump.side} image stamp went backwards ({jump.previous_stamp_ns / 1e9:.3f} s -> "
                          f"{jump.stamp_ns / 1e9:.3f} s; bag loop or clock reset?): queues reset, "
                          f"{jump.discarded} queued images discarded", level=Level.WARN)
        if result.missing_info:
            self._problem("calibration", "waiting_for_camera_info",
                          f"waiting for {' and '.join(s + '/camera_info' for s in result.missing_info)}: the "
                          "latest stereo pair is held until it arrives, older ones are dropped", level=Level.WARN)
        if result.pair is not None:
            self._hand_to_worker(result.pair)

    def _hand_to_worker(self, pair: Pair) -> None:
        """Make ``pair`` the next one the worker processes (replacing one it has not started: counted)."""
        self._stats.count("pairs")
        with self._condition:
            if self._pending is not None:
                self._stats.count("frames_dropped")
            self._pending = pair
            self._condition.notify()

    # ---------------------------------------------------------------- worker thread

    def _work(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._stopping:
                    self._condition.wait()
                if self._stopping or self._pending is None:
                    return
                pair, self._pending = self._pending, None
            try:
                self._process(pair)
            except Exception:  # noqa: BLE001  last resort: log, count, keep the worker alive
                if not self.context.ok():
                    return  # SIGINT/SIGTERM shut the context down under a publish: nothing to report
                self._stats.count("frames_failed")
                self._problem("processing", "internal_error", "unexpected error while processing a stereo pair:\n"
                              + traceback.format_exc())

    def _rig_for(self, pair: Pair) -> StereoCameraModel | None:
        """The rig to process ``pair`` with (``ros.calibration``'s rule), or None: no good calibration yet.

        A rejected calibration is reported (throttled, /diagnostics); a new one is logged.
        """
        update = self._calibration.update(pair.left_info, pair.right_info, stamp_ns=pair.stamp_ns)
        in_use, rejected = update.in_use, update.rejected
        if rejected is not None:
            self._problem("calibration", f"calibration_{type(rejected).__name__}",
                          f"camera_info rejected ({type(rejected).__name__}: {rejected}); "
                          + (f"keeping {in_use.calibration_id}, the last good calibration" if in_use is not None
                             else "no valid calibration yet: no output"),
                          level=Level.WARN if in_use is not None else Level.ERROR)
        else:
            self._resolved("calibration", "camera_info valid again")
        if update.changed and in_use is not None:
            self.get_logger().info(f"stereo rig: {in_use.describe()}")
        return in_use.rig if in_use is not None else None

    @staticmethod
    def _images(pair: Pair, rig: StereoCameraModel) -> tuple[np.ndarray, np.ndarray]:
        """The pair as matching arrays, checked against each other and the calibration.

        Raises:
            ImageConversionError: unreadable serialized bytes, unsupported encoding, bad step, truncated data.
            ImageShapeError: left and right differ, or differ from the calibration's size.
        """
        left_msg, right_msg = _deserialized_image(pair.left_image), _deserialized_image(pair.right_image)
        left, right = matching_image(left_msg), matching_image(right_msg)
        if left.shape != right.shape:
            raise ImageShapeError(f"left image is {_describe_image(left_msg)} but right image is "
                                  f"{_describe_image(right_msg)}; they must match")
        if left.shape[:2] != (rig.height, rig.width):
            raise ImageShapeError(f"images are {left_msg.width}x{left_msg.height} px but camera_info says "
                                  f"{rig.width}x{rig.height} px")
        return left, right

    def _process(self, pair: Pair) -> None:
        settings = self._settings
        started_s = time.perf_counter()
        rig = self._rig_for(pair)
        if rig is None:
            self._stats.count("frames_failed")
            return
        try:
            left, right = self._images(pair, rig)
        except (ImageConversionError, ImageShapeError) as err:
            self._stats.count("frames_failed")
            self._stats.count("input_errors")
            self._problem("input", f"input_{type(err).__name__}: {err}",
                          f"stereo pair at {pair.stamp_ns / 1e9:.3f} s rejected: {err}")
            return
        lidar_hints_px = self._lidar_hints(pair, rig, settings) if uses_lidar(settings.hints) else None
        # Lazy outputs: nothing is built for a topic nobody subscribes to (the cloud above all).
        wanted = {topic for topic, publisher in self._output_pubs.items() if publisher.get_subscription_count() > 0}
        points_wanted = OUTPUT_TOPICS["points"] in wanted
        try:
            output = self._pipeline.process(left, right, rig, lidar_hints_px=lidar_hints_px,
                                            points_wanted=points_wanted)
        except (BackendError, StereoDepthError, ValueError) as err:
            self._stats.count("frames_failed")
            self._problem("processing", f"processing_{type(err).__name__}",
                          f"stereo pair at {pair.stamp_ns / 1e9:.3f} s failed in the {self._backend.name} "
                          f"pipeline ({type(err).__name__}: {err})")
            return
        self._hint_fraction_last = output.hint_fraction if settings.hints != "none" else None
        with self._publish_lock:
            if self._stopping or not self.context.ok():
                return
            self._publish(output, pair, settings, wanted)
        if output.points is not None:
            self._stats.count("point_clouds_built")
        processing_ms = (time.perf_counter() - started_s) * 1000.0
        latency_ms = (self.get_clock().now().nanoseconds - pair.stamp_ns) / 1e6
        self._stats.count("frames_published")
        self._stats.record_frame(latency_ms=latency_ms, processing_ms=processing_ms)
        self._resolved("input", "input valid again: output resumes")
        self._stats.clear("sync")
        self._resolved("processing", "processing succeeds again")

    def _lidar_hints(self, pair: Pair, rig: StereoCameraModel, settings: NodeSettings) -> np.ndarray | None:
        """Disparity hints from the kept cloud nearest in time to the pair, or None (reported) when none fits."""
        topic = self._lidar_subscription.topic_name if self._lidar_subscription is not None else LIDAR_TOPIC
        cloud = nearest_cloud(list(self._lidar_clouds), pair.stamp_ns)
        if cloud is None:
            self._stats.count("lidar_pairs_without_cloud")
            self._problem("lidar", "lidar_no_cloud", f"hints={settings.hints!r} but no cloud has arrived on "
                          f"{topic} yet: matching without LiDAR hints", level=Level.WARN)
            return None
        try:
            hints_px = lidar_hints_for_pair(cloud, rig, image_stamp_ns=pair.stamp_ns,
                                            settings=LidarHintSettings.from_settings(settings),
                                            static_transforms=self._static_transforms)
        except (LidarHintError, PointCloudConversionError, ValueError) as err:
            self._stats.count("lidar_clouds_rejected")
            self._problem("lidar", f"lidar_{type(err).__name__}",
                          f"stereo pair at {pair.stamp_ns / 1e9:.3f} s: cloud on {topic} not used "
                          f"({type(err).__name__}: {err}); matching without LiDAR hints", level=Level.WARN)
            return None
        self._stats.count("lidar_clouds_used")
        self._lidar_hint_pixels = int(np.count_nonzero(np.isfinite(hints_px)))
        self._resolved("lidar", f"LiDAR hints from {topic} used again")
        return hints_px

    def _publish(self, output: StereoOutput, pair: Pair, settings: NodeSettings, wanted: set[str]) -> None:
        messages = output_messages(output, stamp=time_from_ns(pair.stamp_ns), settings=settings,
                                   disparity_range=disparity_range_px(self._backend, output.camera), wanted=wanted)
        for topic, message in messages.items():
            self._output_pubs[topic].publish(message)

    # ---------------------------------------------------------------- diagnostics

    def _publish_diagnostics(self) -> None:
        """Publish the four statuses of the last period (``ros.node_diagnostics``)."""
        settings = self._settings
        state = NodeState(
            name=self.get_name(), sync=self._sync.counters,
            sync_description=(f"approximate, tolerance {settings.approximate_sync_tolerance_seconds} s"
                              if settings.approximate_sync else "exact"),
            lidar_hints=uses_lidar(settings.hints), lidar_hint_pixels_last=self._lidar_hint_pixels,
            hint_fraction_last=self._hint_fraction_last,
            tf_static_transforms=len(self._static_transforms) if self._tf_static_subscription is not None else None,
            backend_name=self._backend.name, backend_facts=self._backend_facts,
            calibration=calibration_diagnostics(self._calibration),
            calibration_in_use=self._calibration.in_use is not None, qos_counts=self._qos_events.counts())
        reports = node_reports(self._stats.take_window(), state)
        self._diagnostics_pub.publish(diagnostic_array(reports, stamp=self.get_clock().now().to_msg()))

    # ---------------------------------------------------------------- shutdown

    def stop(self, timeout_s: float = WORKER_JOIN_TIMEOUT_S) -> bool:
        """Stop the worker: no publishing after this returns. True when the thread ended in time."""
        with self._condition:
            self._stopping = True
            self._pending = None
            self._condition.notify_all()
        with self._publish_lock:  # waits for a publish in progress
            pass
        self._worker.join(timeout_s)
        if self._worker.is_alive():
            self.get_logger().warning(f"inference still running after {timeout_s} s; exiting without it")
            return False
        return True

    def destroy_node(self) -> None:
        """Stop the worker, then destroy the node."""
        self.stop()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_node [--help] [--ros-args ...]``; returns the exit status."""
    argv = sys.argv[1:] if args is None else list(args)
    if help_requested(argv):
        sys.stdout.write(node_help())
        return 0
    profile = select_large_image_profile()  # before rclpy.init: Fast DDS reads it with the first participant
    buffers_kept = keep_freed_buffers()       # before the first frame's outputs are allocated
    rclpy.init(args=None if args is None else list(args))
    node = None
    status = 0
    try:
        node = StereoDepthNode()
        node.get_logger().info(f"Fast DDS profiles file: {profile or 'none (Fast DDS defaults)'}")
        node.get_logger().debug("freed output buffers stay in the process (mallopt)" if buffers_kept
                                else "freed output buffers go back to the system (no glibc mallopt)")
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (RosLayerError, BackendError, ParameterException) as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {type(err).__name__}: {err}")
        status = 1
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
