"""End-to-end section of ``stereo_depth_benchmark``: the node as its own process, over DDS.

For each run: start ``stereo_depth_node --ros-args --params-file <file>``
(parameters checked against the node's schema, ``ros.parameters``), publish a
stream of raw pairs of the distorted rig plus both CameraInfos at a fixed rate
(sensor-data QoS, as a camera driver does), each stamped with the wall clock
just before it is published, and record when ``disparity`` and ``points2``
arrive. The subscriptions are raw (the stamp is read from the serialized
header), so a 10 MB cloud is not deserialized in this process.

* **latency**: arrival wall clock minus the image stamp, ms, for outputs of
  pairs published in the measuring window;
* **sustained rate**: (n - 1) / (last - first arrival) over the window, Hz;
  the node keeps one pending pair and drops the rest, so this is its real
  throughput when it cannot keep up;
* **peak RSS**: ``VmHWM`` of the node's process (/proc/<pid>/status), MB;
* **CPU**: user + system time of the node's process (all its threads,
  /proc/<pid>/stat) over the window, as % of one core and ms per disparity
  output: what the node takes from the cores it shares with the driver.

Runs (``NodeRunSettings.backends``): ``default`` is the node with its schema
defaults and only what the benchmark must set (``rectify`` true for the raw
pairs, ``model_path`` of the chosen network file, ``intra_op_threads``,
``max_disparity_px``); ``default+lr`` the same with ``lr_check`` true; any other
name is a node ``backend`` run without hints and with ``lr_check`` true, or
false with a ``-no-lr`` suffix (``onnx-no-lr``). An ``@WxH`` suffix runs any of
them at that inference size (``inference_width_px`` x ``inference_height_px``;
``default@512x384``): the network backends then load the bundled model of that
size, the classical ones match the pair shrunk to fit it.

The window starts ``warmup_s`` after the first output (model loading, first
inferences). This process shares the CPU with the node (publishing and
receiving cost a few ms per frame), as a driver and a consumer would.

Anything that keeps the section from running (no node executable, no rclpy,
the node exiting, no output in time) is reported as ``skipped: ...`` or
``failed: ...`` with the end of the node's log; the other sections are not affected.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from stereo_depth_ros.core.stamps import sec_nanosec_from_ns
from stereo_depth_ros.ros.dds import PROFILES_FILE_VARIABLE
from stereo_depth_ros.ros.dds import dds_environment as large_image_dds_environment
from stereo_depth_ros.ros.model_files import inference_hw
from stereo_depth_ros.ros.parameters import NETWORK_BACKENDS, pipeline_config, problems, settings_from_values
from stereo_depth_ros.tools.benchmark_metrics import (
    ModelFile,
    describe_configuration,
    parse_size,
    summarize_ms,
    sustained_rate_hz,
)
from stereo_depth_ros.tools.benchmark_scenes import RawStereoInput
from stereo_depth_ros.tools.errors import UsageError

__all__ = ["DEFAULT_RUNS", "NODE_EXECUTABLE", "SMALL_INFERENCE_RUN", "NodeRunSettings", "dds_environment",
           "find_node_executable", "node_parameters", "node_section", "run_configuration"]

NODE_EXECUTABLE: Final = "stereo_depth_node"
#: Outputs whose arrival is timed.
TIMED_OUTPUTS: Final = ("disparity", "points2")
#: A node backend name with this suffix runs that backend with lr_check off (e.g. ``onnx-no-lr``).
NO_LR_SUFFIX: Final = "-no-lr"
#: A run name with this separator and WxH after it runs at that inference size (``default@512x384``).
INFERENCE_SIZE_SEPARATOR: Final = "@"
#: The node's defaults at the issue's small inference size (a run of the default node runs and a target).
SMALL_INFERENCE_RUN: Final = f"default{INFERENCE_SIZE_SEPARATOR}512x384"
#: Runs of the node's schema defaults: {run name: the parameters it changes beyond them}.
DEFAULT_RUNS: Final[dict[str, dict[str, Any]]] = {"default": {}, "default+lr": {"lr_check": True}}
_LOG_TAIL_LINES: Final = 15
_MB: Final = 1e6


@dataclass(frozen=True)
class NodeRunSettings:
    """What the node section runs.

    Attributes:
        backends: runs, one node process each: a name of ``DEFAULT_RUNS`` or a node ``backend``
            (optionally with ``NO_LR_SUFFIX``), either optionally followed by ``@WxH`` (an inference size).
        rate_hz: input pair rate, Hz.
        seconds: length of the measuring window, s.
        warmup_s: time between the first output and the window, s.
        startup_timeout_s: longest wait for the node's topics and its first output, s.
        executable: the node's console script; None = ``stereo_depth_node`` next to
            this Python, else on PATH.
        max_disparity_px: the node's ``max_disparity_px`` (classical backends), px.
        onnx_threads: the node's ``intra_op_threads``.
    """

    backends: tuple[str, ...] = ("default", "default+lr", SMALL_INFERENCE_RUN, "sgbm")
    rate_hz: float = 30.0
    seconds: float = 20.0
    warmup_s: float = 5.0
    startup_timeout_s: float = 120.0
    executable: str | None = None
    max_disparity_px: int = 192
    onnx_threads: int = 0


def find_node_executable(executable: str | None) -> Path | None:
    """The node's console script: ``executable`` if given (path or name), else next to this Python, else on PATH."""
    if executable:
        found = shutil.which(executable) if os.sep not in executable else executable
        return Path(found) if found and Path(found).is_file() else None
    beside = Path(sys.executable).parent / NODE_EXECUTABLE
    if beside.is_file():
        return beside
    found = shutil.which(NODE_EXECUTABLE)
    return Path(found) if found else None


def dds_environment(ros_domain_id: int | None) -> dict[str, str]:
    """Variables set for both processes: the domain (if given), the package's Fast DDS profile for large
    images (``ros.dds``) and localhost discovery, each only where the environment does not set it already
    (the domain always)."""
    values = large_image_dds_environment()
    if ros_domain_id is not None:
        if not 0 <= ros_domain_id <= 232:
            raise UsageError(f"--ros-domain-id must be in 0..232, got {ros_domain_id}")
        values["ROS_DOMAIN_ID"] = str(ros_domain_id)
    if "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ:
        values["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return values


def _memory_mb(pid: int) -> dict[str, float]:
    """VmHWM (peak) and VmRSS (now) of a process, MB (10^6 bytes); empty when it is gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) * 1024 / _MB
    except OSError:
        return {}
    return {"peak_rss_mb": values.get("VmHWM", float("nan")), "rss_mb": values.get("VmRSS", float("nan"))}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads) so far, s; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def node_parameters(run: str, settings: NodeRunSettings, model: ModelFile | None) -> dict[str, Any]:
    """The parameters the benchmark sets for one run (see the module docstring), checked against the schema.

    Args:
        run: a name of ``DEFAULT_RUNS``, or a node backend (``NO_LR_SUFFIX``: lr_check off), optionally
            followed by ``@WxH``: the inference size, px.
        settings: the section's settings (``max_disparity_px``, ``onnx_threads``).
        model: the network file for the stream's size, or None (the node's own choice); not used by a
            run with an inference size (the node then loads the bundled model of that size).

    Raises:
        UsageError: a malformed size, or the schema rejects a value (e.g. an unknown backend), naming it.
    """
    name, separator, size = run.partition(INFERENCE_SIZE_SEPARATOR)
    values: dict[str, Any] = {"rectify": True, "max_disparity_px": settings.max_disparity_px,
                              "intra_op_threads": settings.onnx_threads}
    if separator:
        try:
            height, width = parse_size(size)
        except UsageError as err:
            raise UsageError(f"node run {run!r}: {err}") from err
        values.update(inference_width_px=width, inference_height_px=height)
    if name in DEFAULT_RUNS:
        values.update(DEFAULT_RUNS[name])
        node_backend = settings_from_values({}).backend
    else:
        node_backend = name.removesuffix(NO_LR_SUFFIX)
        values.update({"backend": node_backend, "lr_check": node_backend == name, "hints": "none",
                       "publish_points": True})
    if node_backend in NETWORK_BACKENDS and model is not None and not separator:
        values["model_path"] = str(model.path.resolve())
    found = problems(values)
    if found:
        raise UsageError(f"node run {run!r}: parameters rejected by the schema: " + "; ".join(found))
    return values


def run_configuration(parameters: dict[str, Any]) -> str:
    """What a run's node does, in words: backend, hints (network backends only), LR check and the
    inference size where one is set."""
    node = settings_from_values(parameters)
    size = inference_hw(node)
    at_size = "" if size is None else f", at {size[1]}x{size[0]}"
    if node.backend not in NETWORK_BACKENDS:
        return f"{node.backend}, LR check {'on' if node.lr_check else 'off'}{at_size}"
    config = pipeline_config(node)
    return f"{node.backend}, " + describe_configuration(hints=config.hints,
                                                       classical_hint_scale=config.classical_hints.scale,
                                                       lr_check=config.lr_check) + at_size


class _Peer:
    """This process's rclpy node: publishes pairs and CameraInfo, records output arrivals."""

    def __init__(self, raw: RawStereoInput) -> None:
        import rclpy
        from builtin_interfaces.msg import Time
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSPresetProfiles, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        from std_msgs.msg import Header
        from stereo_msgs.msg import DisparityImage

        from stereo_depth_ros.ros.bag_io import camera_info_from_calibration
        from stereo_depth_ros.ros.image_conversion import numpy_to_image

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stereo_depth_benchmark_peer", context=self.context)
        sensor = QoSPresetProfiles.SENSOR_DATA.value
        self.image_pubs = [self.node.create_publisher(Image, f"{side}/image_raw", sensor) for side in ("left", "right")]
        self.info_pubs = [self.node.create_publisher(CameraInfo, f"{side}/camera_info", sensor)
                          for side in ("left", "right")]
        rig = raw.rig
        self.images = [numpy_to_image(raw.left, "rgb8", header=Header(frame_id=rig.left.frame_id)),
                       numpy_to_image(raw.right, "rgb8", header=Header(frame_id=rig.right.frame_id))]
        self.infos = [camera_info_from_calibration(rig.left, stamp=Time()),
                      camera_info_from_calibration(rig.right, stamp=Time())]
        self._time = Time
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[tuple[int, int]]] = {topic: [] for topic in TIMED_OUTPUTS}
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        types = {"disparity": DisparityImage, "points2": PointCloud2}
        for topic in TIMED_OUTPUTS:
            self.node.create_subscription(types[topic], topic, self._recorder(topic), reliable, raw=True)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if self.context.ok():
                    raise
                return

    def _recorder(self, topic: str) -> Callable[[bytes], None]:
        from stereo_depth_ros.ros.stamps import stamp_ns_from_cdr  # ROS message types: only where rclpy is

        def record(serialized: bytes) -> None:
            arrival_ns = time.time_ns()
            with self.lock:
                self.arrivals[topic].append((stamp_ns_from_cdr(serialized), arrival_ns))
        return record

    def connected(self) -> bool:
        """The node subscribes to every input and publishes disparity."""
        return (all(p.get_subscription_count() > 0 for p in self.image_pubs + self.info_pubs)
                and self.node.count_publishers("/disparity") > 0)

    def publish_pair(self) -> int:
        """Publish both CameraInfos and images stamped now; returns the stamp, ns."""
        stamp_ns = time.time_ns()
        sec, nanosec = sec_nanosec_from_ns(stamp_ns)
        stamp = self._time(sec=sec, nanosec=nanosec)
        for message in self.infos + self.images:
            message.header.stamp = stamp
        for publisher, message in zip(self.info_pubs + self.image_pubs, self.infos + self.images, strict=True):
            publisher.publish(message)
        return stamp_ns

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.arrivals[topic])

    def close(self) -> None:
        self.node.destroy_node()
        if self.context.ok():
            self.context.try_shutdown()
        self._spinner.join(timeout=2.0)


def _stream(peer: _Peer, process: subprocess.Popen[bytes], *, rate_hz: float, until: Callable[[], bool],
            deadline_s: float) -> list[int]:
    """Publish pairs at ``rate_hz`` until ``until()`` or the deadline (monotonic s); returns the stamps."""
    period_s, stamps = 1.0 / rate_hz, []
    next_s = time.monotonic()
    while not until() and time.monotonic() < deadline_s and process.poll() is None:
        stamps.append(peer.publish_pair())
        next_s += period_s
        pause = next_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_s = time.monotonic()  # behind: do not burst to catch up
    return stamps


def _run_one(backend: str, raw: RawStereoInput, settings: NodeRunSettings, model: ModelFile | None,
             executable: Path, work_dir: Path, env: dict[str, str], log: Callable[[str], None]) -> dict[str, Any]:
    work_dir.mkdir(parents=True, exist_ok=True)
    params = node_parameters(backend, settings, model)
    params_file = work_dir / "params.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    log_file = work_dir / "node.log"
    result: dict[str, Any] = {"backend": backend, "configuration": run_configuration(params), "parameters": params,
                              "log": str(log_file)}
    with open(log_file, "wb") as log_handle:
        process = subprocess.Popen([str(executable), "--ros-args", "--params-file", str(params_file)],
                                   stdout=log_handle, stderr=subprocess.STDOUT, env=env)
        peer = None
        try:
            peer = _Peer(raw)
            deadline = time.monotonic() + settings.startup_timeout_s
            while not peer.connected() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is not None:
                result["failed"] = (f"failed: the node exited with status {process.returncode} before "
                                    f"connecting; log:\n{_log_tail(log_file)}")
                return result
            if not peer.connected():
                result["failed"] = f"failed: no connection to the node within {settings.startup_timeout_s:g} s"
                return result
            log(f"node ({backend}): connected; streaming at {settings.rate_hz:g} Hz until the first output")
            started = time.monotonic()
            _stream(peer, process, rate_hz=settings.rate_hz, until=lambda: peer.count("disparity") > 0,
                     deadline_s=started + settings.startup_timeout_s)
            if peer.count("disparity") == 0:
                status = process.poll()
                why = f"the node exited with status {status}" if status is not None else \
                    f"no disparity within {settings.startup_timeout_s:g} s"
                result["failed"] = f"failed: {why}; log:\n{_log_tail(log_file)}"
                return result
            result["first_output_s"] = time.monotonic() - started
            _stream(peer, process, rate_hz=settings.rate_hz, until=lambda: False,
                    deadline_s=time.monotonic() + settings.warmup_s)
            log(f"node ({backend}): measuring for {settings.seconds:g} s")
            window_start, cpu_start_s = time.monotonic(), _cpu_seconds(process.pid)
            stamps = _stream(peer, process, rate_hz=settings.rate_hz, until=lambda: False,
                             deadline_s=window_start + settings.seconds)
            window_s, cpu_end_s = time.monotonic() - window_start, _cpu_seconds(process.pid)
            time.sleep(min(5.0, 2.0 + settings.seconds / 10.0))  # outputs still in flight
            result.update(_memory_mb(process.pid))
            if process.poll() is not None:
                result["failed"] = f"failed: the node exited with status {process.returncode} during the run"
            result.update(_summarize(peer, stamps, window_s))
            if cpu_start_s is not None and cpu_end_s is not None and window_s > 0:
                cpu_s = cpu_end_s - cpu_start_s
                outputs = result["disparity"]["received"]
                result.update(cpu_percent=100.0 * cpu_s / window_s,
                              cpu_ms_per_output=1000.0 * cpu_s / outputs if outputs else float("nan"))
        finally:
            if peer is not None:
                peer.close()
            result["exit_status"] = _stop(process)
    return result


def _summarize(peer: _Peer, stamps: Sequence[int], window_s: float) -> dict[str, Any]:
    """Input rate, and per output: latency, sustained rate and share of pairs answered."""
    sent = set(stamps)
    summary: dict[str, Any] = {"published_pairs": len(stamps),
                               "input_rate_hz": len(stamps) / window_s if window_s > 0 else float("nan")}
    with peer.lock:
        arrivals = {topic: [a for a in peer.arrivals[topic] if a[0] in sent] for topic in TIMED_OUTPUTS}
    for topic, pairs in arrivals.items():
        latencies_ms = [(arrival - stamp) / 1e6 for stamp, arrival in pairs]
        summary[topic] = {"received": len(pairs), "latencies_ms": latencies_ms,
                          "answered_percent": 100.0 * len(pairs) / len(stamps) if stamps else float("nan"),
                          "latency": summarize_ms(latencies_ms).as_dict(),
                          "sustained_rate_hz": sustained_rate_hz([arrival for _, arrival in pairs])}
    return summary


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGINT, then SIGKILL after 20 s; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20.0)
    return process.returncode


def node_section(raw: RawStereoInput, settings: NodeRunSettings, model: ModelFile | None, *, out_dir: Path,
                 ros_domain_id: int | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the node once per backend and measure it; never raises for a missing or failing node.

    Args:
        raw: the raw pair (and distorted rig) to stream.
        settings: the section's settings.
        model: the network file for the stream's size (onnx runs), or None.
        out_dir: where parameter files and node logs go (``node_<backend>/``).
        ros_domain_id: DDS domain for both processes; None = the environment's. The DDS
            variables of :func:`dds_environment` are set in this process's environment.
        log: progress lines (stderr).
    """
    executable = find_node_executable(settings.executable)
    if executable is None:
        return {"skipped": f"skipped: node executable {settings.executable or NODE_EXECUTABLE!r} not found"}
    try:
        import rclpy  # noqa: F401  (only to know it is there)
    except ImportError as err:
        return {"skipped": f"skipped: rclpy is not importable ({err})"}
    variables = dds_environment(ros_domain_id)
    os.environ.update(variables)  # read by rclpy.init of this process's peer
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    runs = []
    for backend in settings.backends:
        log(f"node ({backend}): starting {executable}")
        runs.append(_run_one(backend, raw, settings, model, executable, out_dir / f"node_{backend}", env, log))
    height, width = raw.left.shape[:2]
    return {"executable": str(executable), "size": f"{width}x{height}", "rate_hz": settings.rate_hz,
            "seconds": settings.seconds, "warmup_s": settings.warmup_s,
            "environment": {name: os.environ.get(name) for name in
                            ("ROS_DOMAIN_ID", "RMW_IMPLEMENTATION", PROFILES_FILE_VARIABLE,
                             "FASTDDS_BUILTIN_TRANSPORTS", "ROS_AUTOMATIC_DISCOVERY_RANGE")},
            "runs": runs}
