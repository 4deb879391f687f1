"""stereo_bag_from_dataset: stereo image files or built-in data -> a rosbag2 bag the node can play.

The bag holds, per frame, ``left/camera_info``, ``right/camera_info``,
``left/image_raw``, ``right/image_raw`` (sensor_msgs, all with the frame's
stamp, frame ids of the left and right optical frames) and, when ground truth
is known, ``ground_truth/disparity``: a stereo_msgs/DisparityImage in the
node's output convention (see ``ros.messages.disparity_image_message``), so
``stereo_bag_evaluate`` compares like with like. Frames are ``1 / rate`` apart
from ``--start-time``; the log time of every message is its stamp.

Sources: ``--dataset motorcycle`` (Middlebury 2014 Motorcycle from
scikit-image, 741x500, ground truth with inf = unknown), ``--dataset synthetic``
(rendered scenes with exact ground truth), or ``--left/--right`` image files
with a calibration (camera_info YAML pair, OpenCV stereo file, or numbers).
"""

from __future__ import annotations

import argparse
import glob
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from std_msgs.msg import Header

from stereo_depth_ros.core.camera_model import StereoCameraModel
from stereo_depth_ros.core.stamps import NS_PER_S
from stereo_depth_ros.ros.bag_io import (
    GROUND_TRUTH_TOPIC,
    STORAGE_FORMATS,
    BagWriter,
    StereoTopics,
    camera_info_from_calibration,
)
from stereo_depth_ros.ros.image_conversion import numpy_to_image
from stereo_depth_ros.ros.messages import disparity_image_message
from stereo_depth_ros.ros.stamps import time_from_ns
from stereo_depth_ros.tools.calibration_io import (
    DEFAULT_FRAME_IDS,
    read_camera_info_yaml_pair,
    read_opencv_stereo,
    rectified_stereo,
)
from stereo_depth_ros.tools.errors import DatasetError, UsageError, run_tool

__all__ = [
    "IMAGE_ENCODINGS",
    "MOTORCYCLE",
    "DatasetFrame",
    "MiddleburyCalibration",
    "load_image_files",
    "main",
    "motorcycle_dataset",
    "read_ground_truth",
    "synthetic_dataset",
    "synthetic_rig",
    "write_dataset_bag",
]

#: Encodings the images can be stored in.
IMAGE_ENCODINGS: Final = ("rgb8", "bgr8", "mono8")
_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class MiddleburyCalibration:
    """A Middlebury 2014 ``calib.txt`` (full resolution): cam0/cam1 intrinsics, doffs, baseline.

    Attributes:
        focal_px: f of cam0 and cam1, px.
        cx_px, cy_px: cam0's principal point, px.
        doffs_px: cx1 - cx0, px (so cx_right = cx_left + doffs).
        baseline_m: metres (the file states millimetres).
        width: full-resolution width, px.
    """

    focal_px: float
    cx_px: float
    cy_px: float
    doffs_px: float
    baseline_m: float
    width: int

    def rig(self, width: int, height: int) -> StereoCameraModel:
        """The rectified rig for images downscaled to ``width`` (all px values scale by width / self.width).

        Principal points scale as scikit-image states them for its downscaled
        copy (cx / 4 for Motorcycle), i.e. plainly, not with the pixel-centre shift.
        """
        scale = width / self.width
        return rectified_stereo(width=width, height=height, focal_px=self.focal_px * scale,
                                baseline_m=self.baseline_m, cx_px=self.cx_px * scale, cy_px=self.cy_px * scale,
                                cx_right_px=(self.cx_px + self.doffs_px) * scale, frame_ids=DEFAULT_FRAME_IDS)


#: Motorcycle's calib.txt; scaled by 741 / 2964 = 1/4 it gives scikit-image's
#: stated f = 994.978 px, cx = 311.193 px, cy = 254.877 px, doffs = 31.086 px, baseline 193.001 mm.
MOTORCYCLE: Final = MiddleburyCalibration(focal_px=3979.911, cx_px=1244.772, cy_px=1019.507, doffs_px=124.343,
                                          baseline_m=0.193001, width=2964)


@dataclass(frozen=True)
class DatasetFrame:
    """One stereo pair of a dataset.

    Attributes:
        left, right: (H, W, 3) uint8 RGB or (H, W) uint8 grey, same shape.
        ground_truth_px: (H, W) float32 left-view disparity d = x_left - x_right, px;
            NaN or inf = unknown; None when the dataset has none.
        name: where the frame came from (file name or index), for messages.
    """

    left: np.ndarray
    right: np.ndarray
    ground_truth_px: np.ndarray | None
    name: str


def motorcycle_dataset(frames: int = 1) -> tuple[StereoCameraModel, list[DatasetFrame]]:
    """Middlebury Motorcycle (scikit-image's 741x500 copy) repeated ``frames`` times, with its rig."""
    import skimage.data

    left, right, disparity = skimage.data.stereo_motorcycle()
    rig = MOTORCYCLE.rig(left.shape[1], left.shape[0])
    frame = DatasetFrame(left=np.ascontiguousarray(left), right=np.ascontiguousarray(right),
                         ground_truth_px=np.asarray(disparity, dtype=np.float32), name="motorcycle")
    return rig, [frame] * frames


def synthetic_rig(width: int, height: int) -> StereoCameraModel:
    """The rig synthetic scenes are rendered for: rectified, fx = fy = 0.8 * width px, baseline 0.12 m,
    cx_right = cx_left + 2.5 px (a small Middlebury-style doffs, so the cx offset is exercised)."""
    focal = 0.8 * width
    return rectified_stereo(width=width, height=height, focal_px=focal, baseline_m=0.12,
                            cx_px=(width - 1) / 2.0, cy_px=(height - 1) / 2.0, cx_right_px=(width - 1) / 2.0 + 2.5)


def synthetic_dataset(frames: int, *, width: int = 640, height: int = 352, max_disparity_px: float = 96.0,
                      seed: int = 7) -> tuple[StereoCameraModel, Iterator[DatasetFrame]]:
    """``frames`` rendered scenes with exact ground truth (every pixel, occluded ones included).

    Scene ``i`` is ``core.synthetic.scene_for_index(i, seed=seed)``, so a
    bag is reproducible from (seed, size, max disparity). The synthetic module is
    numpy/OpenCV only (no torch).
    """
    from stereo_depth_ros.core.synthetic import SceneConfig, scene_for_index

    if frames < 1:
        raise UsageError(f"--frames must be >= 1, got {frames}")
    config = SceneConfig(height=height, width=width, max_disparity_px=max_disparity_px)

    def generate() -> Iterator[DatasetFrame]:
        for index in range(frames):
            scene = scene_for_index(index, seed=seed, config=config)
            yield DatasetFrame(left=scene.left, right=scene.right, ground_truth_px=scene.disparity_px,
                               name=f"synthetic {index} (seed {seed})")

    return synthetic_rig(width, height), generate()


def _expand(patterns: Sequence[str]) -> list[Path]:
    """Files named by ``patterns`` (files, directories of images, or glob patterns), each group sorted."""
    files: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES + (".pfm", ".npy")))
        elif path.is_file():
            files.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(pattern))
            if not matches:
                raise DatasetError(f"{pattern}: no such file, directory or matching files")
            files.extend(matches)
    return files


def _read_image(path: Path) -> np.ndarray:
    """An 8-bit image file as (H, W, 3) RGB or (H, W) grey."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"{path}: not a readable image")
    if image.dtype != np.uint8:
        raise DatasetError(f"{path}: {image.dtype} image; only 8-bit images are supported")
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def _read_pfm(path: Path) -> np.ndarray:
    """A one-channel PFM (Middlebury's disparity format): rows stored bottom-up, scale < 0 = little endian."""
    with open(path, "rb") as handle:
        kind = handle.readline().strip()
        if kind != b"Pf":
            raise DatasetError(f"{path}: not a one-channel PFM (header {kind!r}, expected b'Pf')")
        try:
            width, height = (int(v) for v in handle.readline().split())
            scale = float(handle.readline())
        except ValueError as err:
            raise DatasetError(f"{path}: malformed PFM header: {err}") from err
        data = np.frombuffer(handle.read(), dtype="<f4" if scale < 0 else ">f4")
    if data.size != width * height:
        raise DatasetError(f"{path}: PFM holds {data.size} values, expected {width}x{height}")
    return np.flipud(data.reshape(height, width)).astype(np.float32)


def read_ground_truth(path: Path, *, png_scale: float = 256.0) -> np.ndarray:
    """A ground-truth disparity file as (H, W) float32 px, NaN/inf = unknown.

    ``.pfm`` (Middlebury; inf unknown), ``.npy`` (float, NaN or inf unknown) or a
    16-bit ``.png`` holding ``d * png_scale`` with 0 = unknown (KITTI: scale 256).
    """
    suffix = path.suffix.lower()
    if suffix == ".pfm":
        return _read_pfm(path)
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DatasetError(f"{path}: not a readable .npy array: {err}") from err
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
            raise DatasetError(f"{path}: ground truth must be an (H, W) float array, got {array.shape} {array.dtype}")
        return array.astype(np.float32)
    if suffix == ".png":
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint16 or image.ndim != 2:
            raise DatasetError(
                f"{path}: ground-truth PNGs must be 16-bit single-channel (d * {png_scale:g}, 0 unknown)")
        disparity = image.astype(np.float32) / np.float32(png_scale)
        disparity[image == 0] = np.nan
        return disparity
    raise DatasetError(f"{path}: ground truth must be .pfm, .npy or 16-bit .png")


def load_image_files(left: Sequence[str], right: Sequence[str], ground_truth: Sequence[str] = (), *,
                     png_scale: float = 256.0, limit: int | None = None) -> Iterator[DatasetFrame]:
    """Frames from left/right image files paired in sorted order (and ground truth files, if any).

    Raises:
        DatasetError: counts differ, a file is unreadable, or left/right/ground truth sizes differ.
    """
    left_files, right_files = _expand(left), _expand(right)
    gt_files = _expand(ground_truth) if ground_truth else []
    if len(left_files) != len(right_files) or not left_files:
        raise DatasetError(f"need as many left as right images (at least one); got {len(left_files)} left "
                           f"and {len(right_files)} right")
    if gt_files and len(gt_files) != len(left_files):
        raise DatasetError(f"got {len(gt_files)} ground-truth files for {len(left_files)} image pairs")
    count = len(left_files) if limit is None else min(limit, len(left_files))
    for index in range(count):
        left_image, right_image = _read_image(left_files[index]), _read_image(right_files[index])
        if left_image.shape != right_image.shape:
            raise DatasetError(f"{left_files[index]} is {left_image.shape} but {right_files[index]} is "
                               f"{right_image.shape}")
        truth = read_ground_truth(gt_files[index], png_scale=png_scale) if gt_files else None
        if truth is not None and truth.shape != left_image.shape[:2]:
            raise DatasetError(f"{gt_files[index]} is {truth.shape}, but the images are {left_image.shape[:2]}")
        yield DatasetFrame(left=left_image, right=right_image, ground_truth_px=truth, name=left_files[index].name)


def _encode(pixels: np.ndarray, encoding: str, header: Header) -> object:
    """RGB or grey uint8 pixels as an Image in ``encoding``."""
    if encoding == "mono8":
        grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        return numpy_to_image(np.ascontiguousarray(grey), "mono8", header=header)
    colour = pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if encoding == "bgr8":
        colour = cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)
    return numpy_to_image(np.ascontiguousarray(colour), encoding, header=header)


def ground_truth_message(ground_truth_px: np.ndarray, rig: StereoCameraModel, *, stamp_ns: int) -> object:
    """Ground truth as the node's DisparityImage (same f, t, cx-offset convention and invalid marking).

    The search range is [min(0, floor(min d)), ceil(max d) + 1] px over the known
    pixels; delta_d is 1/256 px (the precision of KITTI's 16-bit files).
    """
    known = ground_truth_px[np.isfinite(ground_truth_px)]
    low = min(0.0, math.floor(float(known.min()))) if known.size else 0.0
    high = (math.ceil(float(known.max())) + 1.0) if known.size else 1.0
    return disparity_image_message(ground_truth_px, rig, stamp=time_from_ns(stamp_ns), min_disparity_px=low,
                                   max_disparity_px=max(high, low + 1.0), delta_d_px=1.0 / 256.0)


def write_dataset_bag(path: str | Path, rig: StereoCameraModel, frames: Iterable[DatasetFrame], *,
                      rate_hz: float = 10.0, start_time_ns: int, storage: str = "sqlite3", encoding: str | None = None,
                      topics: StereoTopics = StereoTopics(), ground_truth_topic: str | None = GROUND_TRUTH_TOPIC,
                      overwrite: bool = False, custom_data: dict[str, str] | None = None) -> int:
    """Write ``frames`` as a stereo bag; returns the number of frames written.

    Per frame, in this order and all with stamp = log time = start_time_ns + i / rate_hz:
    left and right CameraInfo (from ``rig``), left and right Image (``encoding``; None =
    mono8 for grey frames, rgb8 for colour ones),
    and the ground truth (if the frame has one and ``ground_truth_topic`` is set).
    On an error (bad frame) the bag is closed with the frames written so far.

    Raises:
        DatasetError: a frame's size differs from the rig's.
        BagWriteError: the output exists (without ``overwrite``) or cannot be written.
    """
    if not rate_hz > 0.0:
        raise UsageError(f"rate must be > 0 Hz, got {rate_hz}")
    if encoding is not None and encoding not in IMAGE_ENCODINGS:
        raise UsageError(f"encoding must be one of {IMAGE_ENCODINGS}, got {encoding!r}")
    period_ns = round(1e9 / rate_hz)
    written = 0
    with BagWriter(path, storage=storage, overwrite=overwrite, custom_data=custom_data) as writer:
        for index, frame in enumerate(frames):
            if frame.left.shape[:2] != (rig.height, rig.width) or frame.left.shape != frame.right.shape:
                raise DatasetError(f"frame {frame.name}: images {frame.left.shape} / {frame.right.shape} do not "
                                   f"match the calibration's {rig.width}x{rig.height}")
            stamp_ns = start_time_ns + index * period_ns
            stamp = time_from_ns(stamp_ns)
            frame_encoding = encoding or ("mono8" if frame.left.ndim == 2 else "rgb8")
            writer.write(topics.left_info, camera_info_from_calibration(rig.left, stamp=stamp), stamp_ns)
            writer.write(topics.right_info, camera_info_from_calibration(rig.right, stamp=stamp), stamp_ns)
            writer.write(topics.left_image, _encode(frame.left, frame_encoding,
                                                    Header(stamp=stamp, frame_id=rig.left.frame_id)), stamp_ns)
            writer.write(topics.right_image, _encode(frame.right, frame_encoding,
                                                     Header(stamp=stamp, frame_id=rig.right.frame_id)), stamp_ns)
            if frame.ground_truth_px is not None and ground_truth_topic:
                writer.write(ground_truth_topic, ground_truth_message(frame.ground_truth_px, rig, stamp_ns=stamp_ns),
                             stamp_ns)
            written += 1
    return written


def _namespaced(namespace: str, name: str) -> str:
    return f"{namespace.strip('/')}/{name}" if namespace.strip("/") else name


def _seconds_to_ns(text: str) -> int:
    """Seconds since the epoch (decimal text) as exact integer nanoseconds."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 s, got {text}")
    return int(value * NS_PER_S)


def build_parser() -> argparse.ArgumentParser:
    """The command line of stereo_bag_from_dataset."""
    parser = argparse.ArgumentParser(
        prog="stereo_bag_from_dataset",
        description="Write stereo images (built-in or files) with calibration and optional ground truth to a "
                    "rosbag2 bag: left/image_raw, right/image_raw, left/camera_info, right/camera_info and "
                    "ground_truth/disparity (stereo_msgs/DisparityImage in the node's output convention).",
        epilog="Exit codes: 0 ok, 2 usage, 5 bad images or calibration, 7 output not writable.")
    parser.add_argument("output", help="bag directory to create")
    source = parser.add_argument_group("source (one of)")
    source.add_argument("--dataset", choices=("motorcycle", "synthetic"),
                        help="built-in data: Middlebury Motorcycle (741x500, from scikit-image) or rendered "
                             "synthetic scenes with exact ground truth")
    source.add_argument("--left", nargs="+", metavar="PATH", help="left images: files, a directory or a glob")
    source.add_argument("--right", nargs="+", metavar="PATH", help="right images, paired with --left in sorted order")
    source.add_argument("--ground-truth", nargs="+", metavar="PATH", default=(),
                        help="ground-truth disparity per pair: .pfm, .npy or 16-bit .png")
    source.add_argument("--gt-png-scale", type=float, default=256.0,
                        help="16-bit PNG ground truth holds d * this (default 256, KITTI); 0 = unknown")
    calibration = parser.add_argument_group("calibration of --left/--right images (one of)")
    calibration.add_argument("--camera-info", nargs=2, metavar=("LEFT_YAML", "RIGHT_YAML"),
                             help="ROS camera_info YAML files of the left and right camera")
    calibration.add_argument("--opencv-calibration", metavar="FILE",
                             help="OpenCV stereo calibration (YAML/XML): K1 D1 K2 D2 R T, or P1 P2 [R1 R2]")
    calibration.add_argument("--translation-scale-m", type=float, default=1.0,
                             help="metres per unit of T in --opencv-calibration (0.001 for millimetres)")
    calibration.add_argument("--focal-px", type=float, help="rectified images: focal length fx, px")
    calibration.add_argument("--fy-px", type=float, help="rectified images: fy, px (default --focal-px)")
    calibration.add_argument("--baseline-m", type=float, help="rectified images: baseline, m")
    calibration.add_argument("--cx-px", type=float, help="rectified images: left principal point x, px")
    calibration.add_argument("--cy-px", type=float, help="rectified images: principal point y, px")
    calibration.add_argument("--cx-right-px", type=float,
                             help="rectified images: right principal point x, px (default --cx-px; "
                                  "Middlebury: cx + doffs)")
    output = parser.add_argument_group("output")
    output.add_argument("--frames", type=int, default=None,
                        help="synthetic: number of scenes (default 10); motorcycle: repeats (default 1); "
                             "files: at most this many pairs")
    output.add_argument("--width", type=int, default=640, help="synthetic image width, px (default 640)")
    output.add_argument("--height", type=int, default=352, help="synthetic image height, px (default 352)")
    output.add_argument("--max-disparity-px", type=float, default=96.0,
                        help="synthetic: largest disparity in the scenes, px (default 96)")
    output.add_argument("--seed", type=int, default=7, help="synthetic: scene seed (default 7)")
    output.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps (default 10)")
    output.add_argument("--start-time", type=_seconds_to_ns, default=None,
                        help="stamp of the first frame, s since the epoch (default: now, whole seconds)")
    output.add_argument("--storage", choices=STORAGE_FORMATS, default="sqlite3", help="bag storage (default sqlite3)")
    output.add_argument("--encoding", choices=IMAGE_ENCODINGS, default=None,
                        help="image encoding (default mono8 for grey images, rgb8 for colour)")
    output.add_argument("--namespace", default="", help="prefix of every topic, e.g. stereo (default none)")
    output.add_argument("--frame-ids", nargs=2, metavar=("LEFT", "RIGHT"), default=DEFAULT_FRAME_IDS,
                        help=f"optical frame ids (default {' '.join(DEFAULT_FRAME_IDS)})")
    output.add_argument("--no-ground-truth", action="store_true", help="leave ground_truth/disparity out")
    output.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    return parser


def _file_rig(args: argparse.Namespace, width: int, height: int) -> StereoCameraModel:
    numbers = (args.focal_px, args.baseline_m, args.cx_px, args.cy_px)
    chosen = [name for name, given in (("--camera-info", args.camera_info),
                                       ("--opencv-calibration", args.opencv_calibration),
                                       ("--focal-px/--baseline-m/--cx-px/--cy-px", any(v is not None for v in numbers)))
              if given]
    if len(chosen) != 1:
        raise UsageError("image files need exactly one calibration: --camera-info, --opencv-calibration or "
                         f"--focal-px/--baseline-m/--cx-px/--cy-px (got {', '.join(chosen) or 'none'})")
    frame_ids = tuple(args.frame_ids)
    if args.camera_info:
        rig = read_camera_info_yaml_pair(*args.camera_info, frame_ids=frame_ids)
    elif args.opencv_calibration:
        rig = read_opencv_stereo(args.opencv_calibration, image_size=(width, height),
                                 translation_scale_m=args.translation_scale_m, frame_ids=frame_ids)
    else:
        if any(v is None for v in numbers):
            raise UsageError("explicit calibration needs all of --focal-px, --baseline-m, --cx-px and --cy-px")
        rig = rectified_stereo(width=width, height=height, focal_px=args.focal_px, baseline_m=args.baseline_m,
                               cx_px=args.cx_px, cy_px=args.cy_px, fy_px=args.fy_px, cx_right_px=args.cx_right_px,
                               frame_ids=frame_ids)
    if (rig.width, rig.height) != (width, height):
        raise DatasetError(f"the calibration is for {rig.width}x{rig.height} images, the images are {width}x{height}")
    return rig


def _with_frame_ids(rig: StereoCameraModel, frame_ids: Sequence[str]) -> StereoCameraModel:
    return StereoCameraModel.from_calibrations(replace(rig.left, frame_id=frame_ids[0]),
                                               replace(rig.right, frame_id=frame_ids[1]),
                                               rectified_input=rig.rectified_input)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.dataset and (args.left or args.right):
        raise UsageError("give either --dataset or --left/--right, not both")
    if not args.dataset and not (args.left and args.right):
        raise UsageError("give --dataset motorcycle|synthetic, or --left and --right image files")
    if args.frames is not None and args.frames < 1:
        raise UsageError(f"--frames must be >= 1, got {args.frames}")
    frames: Iterable[DatasetFrame]
    if args.dataset == "motorcycle":
        rig, frames = motorcycle_dataset(args.frames or 1)
        rig = _with_frame_ids(rig, args.frame_ids)
    elif args.dataset == "synthetic":
        rig, frames = synthetic_dataset(args.frames or 10, width=args.width, height=args.height,
                                        max_disparity_px=args.max_disparity_px, seed=args.seed)
        rig = _with_frame_ids(rig, args.frame_ids)
    else:
        first = next(load_image_files(args.left, args.right, limit=1))
        rig = _file_rig(args, first.left.shape[1], first.left.shape[0])
        frames = load_image_files(args.left, args.right, args.ground_truth, png_scale=args.gt_png_scale,
                                  limit=args.frames)
    start_ns = args.start_time if args.start_time is not None else int(time.time()) * 1_000_000_000
    topics = StereoTopics(*(_namespaced(args.namespace, name) for name in
                            (StereoTopics.left_image, StereoTopics.right_image, StereoTopics.left_info,
                             StereoTopics.right_info)))
    gt_topic = None if args.no_ground_truth else _namespaced(args.namespace, GROUND_TRUTH_TOPIC)
    source = args.dataset or "files"
    count = write_dataset_bag(args.output, rig, frames, rate_hz=args.rate, start_time_ns=start_ns,
                              storage=args.storage, encoding=args.encoding, topics=topics,
                              ground_truth_topic=gt_topic, overwrite=args.overwrite,
                              custom_data={"stereo_depth_ros.tool": "stereo_bag_from_dataset",
                                           "stereo_depth_ros.source": source})
    print(f"wrote {count} frame(s) of {rig.width}x{rig.height} {source} to {args.output} ({args.storage}): "
          f"fx {rig.fx:.3f} px, baseline {rig.baseline_m:.6f} m, cx_left - cx_right {rig.cx_offset_px:.3f} px")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_bag_from_dataset --help``."""
    return run_tool("stereo_bag_from_dataset", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
