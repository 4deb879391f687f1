"""stereo_bag_process: run the node's pipeline over a bag as fast as possible -> an output bag.

The same code as the node: images are paired by the node's synchroniser
(``ros.sync``), converted with ``ros.image_conversion.matching_image``, processed
by ``pipeline.StereoPipeline`` with the settings the node's parameter
schema (``ros.parameters``) produces, and turned into the node's messages with
``ros.messages``. Every node parameter that matters offline is an option of
the same name (``--backend sgbm --max_disparity_px 64 --lr_check false``), or
comes from a node parameter file (``--params-file config/stereo_depth.yaml``).

Output topics are the node's (``disparity``, ``depth``, ``depth/camera_info``,
``confidence``, ``points2``, ``left/image_rect``, each subject to its
``publish_*`` parameter), stamped with the left image's stamp and logged at the
log time of the message that completed the pair. ``--include-inputs`` copies
every input message too (ground truth included), so one bag holds both.

Calibration follows the node's rule (``ros.calibration``): each frame's pair of
CameraInfos is validated as a whole; a bad one is rejected (the first of each
kind printed, all counted in the summary) and the frame is processed with the
last good calibration; frames before the first good one are skipped and
counted. A bag without any good calibration is bad input (exit 5). The rig is
built once per calibration.

LiDAR hints (``--hints lidar`` or ``both`` with ``--lidar-topic TOPIC``): each
stereo frame takes the PointCloud2 of that topic whose header stamp is nearest
to the frame's, wherever it lies in the bag (``ros.lidar_bag.BagClouds``), and the node's own
code (``ros.lidar_input``) checks its stamp (``--lidar_stamp_tolerance_s``) and
frame (``--lidar_frame_id``, ``--lidar_transform``) and projects it. A frame
whose cloud is rejected is processed without LiDAR hints; the first rejection
of each kind is printed and the summary counts them all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from stereo_depth_ros.backends.base import StereoBackend
from stereo_depth_ros.backends.errors import BackendError, BackendUnavailableError
from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.errors import CalibrationError, ImageShapeError, StereoDepthError
from stereo_depth_ros.core.stamps import seconds_to_ns
from stereo_depth_ros.pipeline.stereo_pipeline import StereoOutput, StereoPipeline
from stereo_depth_ros.ros.allocator import keep_freed_buffers
from stereo_depth_ros.ros.bag_io import (
    STORAGE_FORMATS,
    BagMessage,
    BagReader,
    BagWriter,
    StereoFrame,
    StereoFrameReader,
    StereoTopics,
    normalize_topic,
)
from stereo_depth_ros.ros.calibration import CalibrationCache
from stereo_depth_ros.ros.errors import LidarHintError, PointCloudConversionError, RosLayerError
from stereo_depth_ros.ros.image_conversion import matching_image
from stereo_depth_ros.ros.lidar_bag import BagClouds
from stereo_depth_ros.ros.lidar_input import (
    LidarHintSettings,
    uses_lidar,
)
from stereo_depth_ros.ros.node import backend_from_settings as node_backend_from_settings
from stereo_depth_ros.ros.outputs import disparity_range_px, output_messages
from stereo_depth_ros.ros.parameter_file import ParameterFileError, values_from_file
from stereo_depth_ros.ros.parameters import (
    PARAMETERS,
    NodeSettings,
    ParameterSpec,
    pipeline_config,
    settings_from_values,
)
from stereo_depth_ros.tools.errors import EXIT_CODES, NoStereoFramesError, UsageError, run_tool
from stereo_depth_ros.tools.parameter_options import add_parameter_options
from stereo_depth_ros.tools.previews import depth_preview, disparity_preview, write_png

__all__ = [
    "OFFLINE_PARAMETERS",
    "BagProcessor",
    "ProcessSummary",
    "backend_from_settings",
    "main",
    "settings_from_args",
]

#: Node parameters that mean nothing offline (QoS, diagnostics period).
_ONLINE_ONLY: Final = frozenset({"input_qos", "output_qos_reliability", "output_qos_depth",
                                 "diagnostics_period_seconds"})
#: Node parameters that are options of this tool.
OFFLINE_PARAMETERS: Final[tuple[ParameterSpec, ...]] = tuple(p for p in PARAMETERS if p.name not in _ONLINE_ONLY)
#: What one frame's processing may raise (as the node catches it): bad images or calibration, backend failures.
_FRAME_ERRORS: Final = (RosLayerError, StereoDepthError, BackendError, ValueError)


def backend_from_settings(settings: NodeSettings) -> StereoBackend:
    """The matcher the node builds for ``settings`` (its own ``ros.node.backend_from_settings``).

    Raises:
        BackendError: e.g. a missing model file or an unavailable execution provider.
    """
    return node_backend_from_settings(settings)


@dataclass
class ProcessSummary:
    """What a run did (filled in while it runs, so it is complete up to an error).

    Attributes:
        frames: frames processed and written.
        failed: frames skipped with ``keep_going`` (bad images or a backend failure).
        without_calibration: frames skipped because no good calibration had been seen yet.
        calibration_rejected: frames whose own CameraInfos were rejected, by error name (processed
            with the last good calibration, or counted in ``without_calibration``).
        calibrations: ids of the calibrations used, in order (``ros.calibration``).
        invalid_fraction_sum: sum over frames of the share of invalid (NaN) disparities.
        stage_ms: summed milliseconds per pipeline stage.
        wall_s: seconds from the first frame read to the last written (I/O included).
        unmatched, without_info: images the synchroniser dropped, pairs without calibration.
        previews: PNG files written.
        interrupted: stopped by Ctrl-C.
        lidar_topic: the LiDAR topic hints came from ("" = none).
        lidar_used: frames guided by a cloud.
        lidar_rejected: frames whose nearest cloud was rejected, by error name (LidarStampError, ...).
    """

    frames: int = 0
    failed: int = 0
    without_calibration: int = 0
    calibration_rejected: dict[str, int] = field(default_factory=dict)
    calibrations: list[str] = field(default_factory=list)
    invalid_fraction_sum: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    unmatched: int = 0
    without_info: int = 0
    previews: list[Path] = field(default_factory=list)
    interrupted: bool = False
    backend: str = ""
    lidar_topic: str = ""
    lidar_used: int = 0
    lidar_rejected: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """Frames per second over the whole run (reading and writing included)."""
        return self.frames / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def invalid_fraction(self) -> float:
        """Mean share of invalid disparities per frame, [0, 1]."""
        return self.invalid_fraction_sum / self.frames if self.frames else float("nan")

    @property
    def pipeline_ms_per_frame(self) -> float:
        """Mean milliseconds of the pipeline (rectify to points) per frame."""
        return sum(self.stage_ms.values()) / self.frames if self.frames else float("nan")

    def lines(self) -> list[str]:
        """A human-readable summary."""
        stages = ", ".join(f"{name} {ms / max(self.frames, 1):.1f}" for name, ms in self.stage_ms.items())
        lines = [f"frames: {self.frames} processed, {self.failed} failed, {self.unmatched} images unmatched, "
                 f"{self.without_info} pairs without camera_info" + (" (interrupted)" if self.interrupted else ""),
                 f"speed: {self.fps:.2f} frames/s overall, {self.pipeline_ms_per_frame:.1f} ms/frame in the "
                 f"{self.backend} pipeline ({stages} ms)",
                 f"invalid disparities: {100.0 * self.invalid_fraction:.1f} % of pixels per frame (mean)"]
        if self.calibration_rejected or self.without_calibration or len(self.calibrations) > 1:
            rejected = "".join(f", {count} {name}" for name, count in sorted(self.calibration_rejected.items()))
            lines.append(f"calibration: {', '.join(self.calibrations) or 'none valid'} used; "
                         f"{sum(self.calibration_rejected.values())} frame(s) with rejected camera_info{rejected} "
                         f"(processed with the last good calibration), {self.without_calibration} skipped before "
                         "a valid one")
        if self.lidar_topic:
            rejected = "".join(f", {count} {name}" for name, count in sorted(self.lidar_rejected.items()))
            lines.append(f"LiDAR hints from {self.lidar_topic}: {self.lidar_used} frames guided, "
                         f"{sum(self.lidar_rejected.values())} without{rejected}")
        return lines


class BagProcessor:
    """Processes the stereo frames of one bag into an output bag (see the module docstring).

    Args:
        settings: node parameter values.
        backend: the matcher; default ``backend_from_settings(settings)``.
        topics: input topics.
        output_namespace: prefix of the output topics ("" = none).
        include_inputs: copy every input message into the output bag.
        keep_going: skip frames that fail (bad images or calibration, backend errors) instead of stopping.
        previews_dir: write PNG previews of disparity and depth there (None = none).
        preview_every: preview every n-th processed frame.
        preview_max_disparity_px: top of the disparity colour scale (None = per frame).
        max_frames: stop after this many frames (None = all).
        lidar_topic: PointCloud2 topic of the input bag giving LiDAR hints (None = none); needs
            ``settings.hints`` lidar or both.
    """

    def __init__(self, settings: NodeSettings, *, backend: StereoBackend | None = None,
                 topics: StereoTopics = StereoTopics(), output_namespace: str = "", include_inputs: bool = False,
                 keep_going: bool = False, previews_dir: Path | None = None, preview_every: int = 1,
                 preview_max_disparity_px: float | None = None, max_frames: int | None = None,
                 lidar_topic: str | None = None) -> None:
        if preview_every < 1:
            raise UsageError(f"preview_every must be >= 1, got {preview_every}")
        if lidar_topic is not None and not uses_lidar(settings.hints):
            raise UsageError(f"a LiDAR topic ({lidar_topic}) needs hints lidar or both, not {settings.hints!r}")
        self.settings = settings
        self.backend = backend if backend is not None else backend_from_settings(settings)
        self.pipeline = StereoPipeline(self.backend, pipeline_config(settings))
        self.topics = topics
        self.output_namespace = output_namespace.strip("/")
        self.include_inputs = include_inputs
        self.keep_going = keep_going
        self.previews_dir = previews_dir
        self.preview_every = preview_every
        self.preview_max_disparity_px = preview_max_disparity_px
        self.max_frames = max_frames
        self.lidar_topic = lidar_topic
        self.lidar_settings = LidarHintSettings.from_settings(settings)
        self.summary = ProcessSummary(backend=self.backend.name,
                                      lidar_topic=normalize_topic(lidar_topic) if lidar_topic else "")
        self._clouds: BagClouds | None = None
        #: The calibration in use (the node's rule); ``rigs_built`` counts the rigs made.
        self.calibration = CalibrationCache(rectify=settings.rectify)

    def _output_topic(self, name: str) -> str:
        return f"{self.output_namespace}/{name}" if self.output_namespace else name

    def rig_for(self, frame: StereoFrame) -> StereoCameraModel | None:
        """The rig to process the frame with, by the node's rule (``ros.calibration``); None = no good one yet.

        A rejected calibration is counted in the summary and the first of each kind printed.
        """
        update = self.calibration.update(frame.left_info, frame.right_info, stamp_ns=frame.stamp_ns)
        summary, in_use, rejected = self.summary, update.in_use, update.rejected
        if rejected is not None:
            kind = type(rejected).__name__
            if kind not in summary.calibration_rejected:
                kept = (f"keeping {in_use.calibration_id}, the last good calibration" if in_use is not None
                        else "no valid calibration yet: frame skipped")
                print(f"stereo_bag_process: frame at {frame.stamp_ns / 1e9:.3f} s: camera_info rejected ({kind}: "
                      f"{rejected}); {kept} (further {kind}s are only counted)", file=sys.stderr)
            summary.calibration_rejected[kind] = summary.calibration_rejected.get(kind, 0) + 1
        if update.changed and in_use is not None:
            summary.calibrations.append(in_use.calibration_id)
        return in_use.rig if in_use is not None else None

    def process_frame(self, frame: StereoFrame, rig: StereoCameraModel) -> StereoOutput:
        """Run the pipeline on one frame with ``rig``, checking images against each other and the rig as the node does.

        Raises:
            ImageConversionError, ImageShapeError, BackendError: naming the frame.
        """
        left, right = matching_image(frame.left_image), matching_image(frame.right_image)
        if left.shape != right.shape:
            raise ImageShapeError(f"left image is {left.shape} but right image is {right.shape}; they must match")
        if left.shape[:2] != (rig.height, rig.width):
            raise ImageShapeError(f"images are {left.shape[1]}x{left.shape[0]} px but camera_info says "
                                  f"{rig.width}x{rig.height} px")
        return self.pipeline.process(left, right, rig, lidar_hints_px=self._lidar_hints(frame, rig))

    def _lidar_hints(self, frame: StereoFrame, rig: StereoCameraModel) -> np.ndarray | None:
        """Hints from the cloud nearest to the frame, or None (counted, first of a kind printed) when it is unfit."""
        if self._clouds is None:
            return None
        summary = self.summary
        try:
            hints_px = self._clouds.hints_for(rig, image_stamp_ns=frame.stamp_ns, settings=self.lidar_settings)
        except (LidarHintError, PointCloudConversionError, ValueError) as err:
            kind = type(err).__name__
            if kind not in summary.lidar_rejected:
                print(f"stereo_bag_process: frame at {frame.stamp_ns / 1e9:.3f} s: cloud on {self._clouds.topic} "
                      f"not used ({kind}: {err}); matching without LiDAR hints (further {kind}s are only counted)",
                      file=sys.stderr)
            summary.lidar_rejected[kind] = summary.lidar_rejected.get(kind, 0) + 1
            return None
        summary.lidar_used += 1
        return hints_px

    def run(self, input_path: str | Path, output_path: str | Path, *, storage: str = "sqlite3",
            overwrite: bool = False, progress: bool = True) -> ProcessSummary:
        """Process ``input_path`` into a new bag at ``output_path``; returns (and keeps) the summary.

        The output bag is closed cleanly whatever happens; on Ctrl-C the summary says
        ``interrupted`` and what was processed stays in the output.

        Raises:
            BagReadError: the input is not a readable bag (raised after writing what was readable).
            MissingTopicError: the input lacks image or camera_info topics.
            NoStereoFramesError: no left/right pair could be made.
            BagWriteError: the output exists or cannot be written.
            CalibrationError: no frame had a valid calibration (the last rejection is named).
            ImageConversionError, ImageShapeError, BackendError: a frame fails and ``keep_going`` is off.
        """
        summary = self.summary
        settings = self.settings
        if self.lidar_topic is None and uses_lidar(settings.hints):
            print(f"stereo_bag_process: hints={settings.hints!r} without --lidar-topic: no LiDAR hints",
                  file=sys.stderr)
        with BagReader(input_path) as reader, self._opened_clouds(input_path):
            writer_box: list[BagWriter] = []

            def copy_input(message: BagMessage) -> None:
                writer_box[0].write_raw(message.topic, message.msgtype, message.data, message.log_time_ns,
                                        definition=reader.topics[message.topic].definition)

            frames = StereoFrameReader(reader, self.topics, queue_size=settings.queue_size,
                                       approximate=settings.approximate_sync,
                                       tolerance_ns=seconds_to_ns(settings.approximate_sync_tolerance_seconds),
                                       observer=copy_input if self.include_inputs else None)
            total_pairs = min(reader.topics[normalize_topic(self.topics.left_image)].message_count,
                              reader.topics[normalize_topic(self.topics.right_image)].message_count)
            custom = {"stereo_depth_ros.tool": "stereo_bag_process", "stereo_depth_ros.input": str(input_path),
                      "stereo_depth_ros.backend": self.backend.name,
                      **{f"stereo_depth_ros.backend.{k}": v for k, v in self.backend.describe().items()}}
            started = time.perf_counter()
            with BagWriter(output_path, storage=storage, overwrite=overwrite, custom_data=custom) as writer:
                writer_box.append(writer)
                try:
                    for frame in frames:
                        self._handle(frame, writer)
                        summary.wall_s = time.perf_counter() - started
                        if progress:
                            self._progress(total_pairs)
                        if self.max_frames is not None and summary.frames >= self.max_frames:
                            break
                except KeyboardInterrupt:
                    summary.interrupted = True
                finally:
                    summary.wall_s = time.perf_counter() - started
                    counters = frames.counters
                    summary.unmatched, summary.without_info = counters.unmatched, counters.without_info
                    if progress:
                        sys.stderr.write("\n" if sys.stderr.isatty() else "")
            if summary.frames == 0 and summary.without_calibration and not summary.interrupted:
                last = self.calibration.last_rejection
                raise CalibrationError(f"{input_path}: none of the {summary.without_calibration} stereo frame(s) had "
                                       f"a valid calibration; the last camera_info rejected: {last}")
            if summary.frames == 0 and summary.failed == 0 and not summary.interrupted:
                raise NoStereoFramesError(
                    f"{input_path}: no stereo frame could be made from {counters.left_images} left and "
                    f"{counters.right_images} right images ({counters.unmatched} unmatched, "
                    f"{counters.without_info} pairs before both camera_infos; stamps must "
                    + ("differ by at most approximate_sync_tolerance_seconds)" if settings.approximate_sync
                       else "be equal: try --approximate_sync true)"))
        return summary

    @contextmanager
    def _opened_clouds(self, input_path: str | Path) -> Iterator[None]:
        """``self._clouds`` open for the run (when there is a LiDAR topic)."""
        if self.lidar_topic is None:
            yield
            return
        with BagClouds(input_path, self.lidar_topic) as clouds:
            for problem in clouds.static_transform_problems:
                print(f"stereo_bag_process: /tf_static: {problem}", file=sys.stderr)
            self._clouds = clouds
            try:
                yield
            finally:
                self._clouds = None

    def _handle(self, frame: StereoFrame, writer: BagWriter) -> None:
        summary = self.summary
        rig = self.rig_for(frame)
        if rig is None:  # no good calibration yet: no output, as in the node
            summary.without_calibration += 1
            return
        try:
            output = self.process_frame(frame, rig)
        except _FRAME_ERRORS as err:
            if not self.keep_going or isinstance(err, BackendUnavailableError):
                raise _with_frame_context(err, frame) from err
            summary.failed += 1
            print(f"stereo_bag_process: frame at {frame.stamp_ns / 1e9:.3f} s skipped: {err}", file=sys.stderr)
            return
        stamp = frame.left_image.header.stamp
        messages = output_messages(output, stamp=stamp, settings=self.settings,
                                   disparity_range=disparity_range_px(self.backend, output.camera))
        for topic, message in messages.items():
            writer.write(self._output_topic(topic), message, frame.log_time_ns)
        summary.frames += 1
        summary.invalid_fraction_sum += float(np.isnan(output.disparity_px).mean())
        for stage, ms in output.timings_ms.items():
            summary.stage_ms[stage] = summary.stage_ms.get(stage, 0.0) + ms
        if self.previews_dir is not None and (summary.frames - 1) % self.preview_every == 0:
            name = f"frame_{summary.frames - 1:05d}"
            summary.previews.append(write_png(self.previews_dir / f"{name}_disparity.png", disparity_preview(
                output.disparity_px, max_disparity_px=self.preview_max_disparity_px)))
            summary.previews.append(write_png(self.previews_dir / f"{name}_depth.png", depth_preview(output.depth_m)))

    def _progress(self, total_pairs: int) -> None:
        summary = self.summary
        line = (f"frame {summary.frames + summary.failed}/{total_pairs}: {summary.fps:.2f} frames/s, "
                f"{summary.pipeline_ms_per_frame:.0f} ms/frame, invalid {100.0 * summary.invalid_fraction:.1f} %")
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line)
        elif summary.frames + summary.failed in (1, total_pairs) or (summary.frames + summary.failed) % 10 == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _with_frame_context(error: Exception, frame: StereoFrame) -> Exception:
    """The same kind of error with the frame's stamp in front of its message."""
    try:
        return type(error)(f"frame at {frame.stamp_ns / 1e9:.3f} s: {error}")
    except TypeError:  # an error class with another constructor: keep it as it is
        return error


# ------------------------------------------------------------------ command line

def settings_from_args(args: argparse.Namespace) -> NodeSettings:
    """Node settings: schema defaults, then ``--params-file``, then options given on the command line.

    Raises:
        UsageError: unknown or invalid parameter values (each one named).
    """
    values: dict[str, object] = {}
    if getattr(args, "params_file", None):
        try:
            values.update(values_from_file(args.params_file))
        except ParameterFileError as err:
            raise UsageError(str(err)) from err
    for spec in OFFLINE_PARAMETERS:
        given = getattr(args, f"param_{spec.name}")
        if given is not None:
            values[spec.name] = tuple(given) if spec.type.endswith("_array") else given
    try:
        return settings_from_values(values)
    except RosLayerError as err:
        raise UsageError(str(err)) from err


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_bag_process."""
    parser = argparse.ArgumentParser(
        prog="stereo_bag_process",
        description="Run the stereo depth pipeline (the node's code) over a bag's stereo images as fast as "
                    "possible and write disparity, depth, depth/camera_info, confidence, points2 and "
                    "left/image_rect to a new bag.",
        epilog="Exit codes: 0 ok, 2 usage, 3 input bag unreadable, 4 topics or frames missing, 5 bad images "
               "or calibration, 6 backend cannot run, 7 output not writable, 130 interrupted.")
    parser.add_argument("input", help="input bag (directory, or .db3 / .mcap file)")
    parser.add_argument("output", help="output bag directory to create")
    parser.add_argument("--storage", choices=STORAGE_FORMATS, default="sqlite3",
                        help="output storage (default sqlite3)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    parser.add_argument("--namespace", default="", help="namespace of the input topics, e.g. stereo (default none)")
    parser.add_argument("--output-namespace", default=None, help="namespace of the output topics (default --namespace)")
    parser.add_argument("--include-inputs", action="store_true",
                        help="copy every input message (images, camera_info, ground truth) into the output bag")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--keep-going", action="store_true",
                        help="skip frames with bad images or a failing backend instead of stopping (exit 0); "
                             "a bad calibration never stops processing: the last good one is kept, as in the node")
    parser.add_argument("--previews", type=Path, default=None, metavar="DIR",
                        help="write colourised disparity and depth PNGs (with colour bars) into DIR")
    parser.add_argument("--preview-every", type=int, default=1, metavar="N", help="preview every N-th frame")
    parser.add_argument("--preview-max-disparity-px", type=float, default=None,
                        help="top of the disparity colour scale, px (default: 99th percentile per frame)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument("--lidar-topic", default=None, metavar="TOPIC",
                        help="PointCloud2 topic of the input bag whose clouds guide matching, each frame taking the "
                             "cloud nearest in stamp (needs --hints lidar or both; relative names are in --namespace; "
                             "see --lidar_frame_id, --lidar_transform, --lidar_stamp_tolerance_s)")
    parser.add_argument("--params-file", default=None, metavar="YAML",
                        help="node parameter file (e.g. config/stereo_depth.yaml); options below override it")
    add_parameter_options(parser, OFFLINE_PARAMETERS)
    return parser


def _namespaced(namespace: str, name: str) -> str:
    return f"{namespace.strip('/')}/{name}" if namespace.strip("/") else name


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_buffers()   # as the node does: each frame's output buffers are reused, not faulted in again
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    settings = settings_from_args(args)
    topics = StereoTopics(*(_namespaced(args.namespace, name) for name in
                            (StereoTopics.left_image, StereoTopics.right_image, StereoTopics.left_info,
                             StereoTopics.right_info)))
    output_namespace = args.namespace if args.output_namespace is None else args.output_namespace
    lidar_topic = args.lidar_topic
    if lidar_topic is not None and not lidar_topic.startswith("/"):
        lidar_topic = _namespaced(args.namespace, lidar_topic)
    processor = BagProcessor(settings, topics=topics, output_namespace=output_namespace,
                             include_inputs=args.include_inputs, keep_going=args.keep_going, previews_dir=args.previews,
                             preview_every=args.preview_every, preview_max_disparity_px=args.preview_max_disparity_px,
                             max_frames=args.max_frames, lidar_topic=lidar_topic)
    try:
        summary = processor.run(args.input, args.output, storage=args.storage, overwrite=args.overwrite,
                                progress=not args.quiet)
    except Exception:
        if processor.summary.frames:
            print(f"stereo_bag_process: {processor.summary.frames} frame(s) written to {args.output} before the "
                  "error; the bag is closed and readable", file=sys.stderr)
        raise
    for line in summary.lines():
        print(line)
    print(f"output: {args.output}" + (f", previews: {args.previews}" if summary.previews else ""))
    return EXIT_CODES["interrupted"] if summary.interrupted else EXIT_CODES["ok"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_bag_process --help``."""
    return run_tool("stereo_bag_process", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
