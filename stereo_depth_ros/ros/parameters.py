"""The node's parameters, described once.

``PARAMETERS`` is the single schema (name, default, type, unit, range or
choices, description, read-only or dynamic). It drives:

* the node's ``ParameterDescriptor``s (``descriptor``: ranges, read-only flag,
  a description that states unit and range),
* the parameter file ``config/stereo_depth.yaml`` (``ros.parameter_file``),
* the tools' options of the same names (``tools.parameter_options``),
* validation of values at start-up and on run-time changes (``problems``),
* the typed, frozen ``NodeSettings`` and from it the core's ``PipelineConfig``
  (``pipeline_config``).

Names carry their unit (``min_depth_m``, ``lr_max_diff_px``). Dynamic
parameters (hints, post-processing and output toggles) may change while the node
runs; read-only ones (backend, topics, QoS, sync) are fixed at start-up.

No rclpy at import time: tools and tests read the schema without ROS;
``descriptor`` imports ``rcl_interfaces`` when called.
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Final, Literal, cast

from stereo_depth_ros.backends.contract import SIZE_MULTIPLE
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.pipeline.stereo_pipeline import HINT_SOURCES, PipelineConfig
from stereo_depth_ros.ros.errors import RosLayerError
from stereo_depth_ros.ros.model_files import BUNDLED_MODEL_NAME

if TYPE_CHECKING:
    from rcl_interfaces.msg import ParameterDescriptor

__all__ = [
    "BACKENDS",
    "NETWORK_BACKENDS",
    "DEPTH_ENCODINGS",
    "DEPTH_RANGES",
    "INPUT_QOS_PROFILES",
    "OUTPUT_QOS_RELIABILITIES",
    "PARAMETERS",
    "PARAMETERS_BY_NAME",
    "QUATERNION_NORM_TOLERANCE",
    "NodeSettings",
    "ParameterSpec",
    "ParameterType",
    "default_values",
    "descriptor",
    "pipeline_config",
    "problems",
    "settings_from_values",
]

ParameterType = Literal["bool", "integer", "double", "string", "string_array", "double_array"]
Value = bool | int | float | str | tuple[str, ...] | tuple[float, ...]

BACKENDS: Final = ("onnx", "tensorrt", "sgbm", "bm")
#: Backends that run the learned network from an ONNX file.
NETWORK_BACKENDS: Final = ("onnx", "tensorrt")
DEPTH_ENCODINGS: Final = ("32FC1", "16UC1")
INPUT_QOS_PROFILES: Final = ("sensor_data", "reliable", "system_default")
OUTPUT_QOS_RELIABILITIES: Final = ("reliable", "best_effort")

_PYTHON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "bool": (bool,), "integer": (int,), "double": (float, int), "string": (str,), "string_array": (tuple, list),
    "double_array": (tuple, list, array.array),
}
#: ``lidar_transform`` is x y z qx qy qz qw; the quaternion's norm may differ from 1 by this much.
QUATERNION_NORM_TOLERANCE: Final = 0.01
#: (minimum, maximum) parameter pairs checked together: the minimum must be less.
DEPTH_RANGES: Final = (("min_depth_m", "max_depth_m"), ("lidar_min_depth_m", "lidar_max_depth_m"))


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter.

    Attributes:
        name: ROS parameter name; carries the unit where there is one.
        default: value when the parameter file does not set it.
        type: ROS parameter type.
        description: one sentence on what it does (unit and range are appended by ``summary``).
        unit: unit of the value ("" when it has none), e.g. "px", "m", "s".
        minimum, maximum: inclusive range of an integer or double (None = unbounded on that side).
        choices: allowed strings (for string arrays: allowed items), or None.
        size: number of items of an array parameter (None = any non-zero number).
        dynamic: may change while the node runs; False = read-only after start-up.
    """

    name: str
    default: Value
    type: ParameterType
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    size: int | None = None
    dynamic: bool = False

    def __post_init__(self) -> None:
        problem = _value_problem(self, self.default)
        if problem:
            raise RosLayerError(f"schema default of {self.name!r} is invalid: {problem}")

    def summary(self) -> str:
        """The description with unit, range or choices and mutability, for descriptors and YAML comments."""
        parts = [self.description.rstrip(".") + "."]
        if self.unit:
            parts.append(f"Unit: {self.unit}.")
        if self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else _format_number(self.minimum, self.type)
            high = "inf" if self.maximum is None else _format_number(self.maximum, self.type)
            parts.append(f"Range: [{low}, {high}].")
        if self.choices is not None:
            parts.append(f"One of: {', '.join(self.choices)}.")
        if self.size is not None:
            parts.append(f"{self.size} values.")
        parts.append("Dynamic." if self.dynamic else "Read-only (set at start-up).")
        return " ".join(parts)


def _format_number(value: float, kind: str) -> str:
    return str(int(value)) if kind == "integer" else repr(float(value))


def _value_problem(spec: ParameterSpec, value: object) -> str | None:
    """Why ``value`` is not acceptable for ``spec``, or None."""
    accepted = _PYTHON_TYPES[spec.type]
    if not isinstance(value, accepted) or (spec.type in ("integer", "double") and isinstance(value, bool)):
        return f"{spec.name} must be a {spec.type}, got {value!r} ({type(value).__name__})"
    if spec.type in ("integer", "double"):
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number):
            return f"{spec.name} must be finite, got {value!r}"
        if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
            unit = f" {spec.unit}" if spec.unit else ""
            return f"{spec.name}={value!r}{unit} is outside [{spec.minimum}, {spec.maximum}]"
    if spec.type == "string_array":
        items = list(value)  # type: ignore[call-overload]
        if not items or not all(isinstance(item, str) for item in items):
            return f"{spec.name} must be a non-empty list of strings, got {value!r}"
        if spec.choices is not None and any(item not in spec.choices for item in items):
            return f"{spec.name}={items!r}: items must be from {list(spec.choices)}"
        if "auto" in items and len(items) > 1:
            return f"{spec.name}={items!r}: 'auto' cannot be combined with explicit providers"
    elif spec.type == "double_array":
        items = list(value)  # type: ignore[call-overload]
        if not items or not all(isinstance(item, (float, int)) and not isinstance(item, bool) for item in items):
            return f"{spec.name} must be a non-empty list of numbers, got {value!r}"
        if not all(math.isfinite(item) for item in items):
            return f"{spec.name} must be finite, got {items!r}"
    elif spec.choices is not None and value not in spec.choices:
        return f"{spec.name}={value!r} is not one of {list(spec.choices)}"
    if spec.size is not None and spec.type.endswith("_array"):
        items = list(value)  # type: ignore[call-overload]
        if len(items) != spec.size:
            return f"{spec.name} must have {spec.size} values, got {len(items)}: {items!r}"
    return None


PARAMETERS: Final[tuple[ParameterSpec, ...]] = (
    # Matching backend.
    ParameterSpec("backend", "onnx", "string", "Stereo matcher: the learned network in ONNX Runtime (onnx) or "
                  "native TensorRT (tensorrt), or OpenCV's classical SGBM (sgbm) or block matcher (bm)",
                  choices=BACKENDS),
    ParameterSpec("model_path", "", "string", "ONNX model of the learned backends; empty = the bundled "
                  f"models/{BUNDLED_MODEL_NAME}, or models/stereo_net_<W>x<H>.onnx with an inference size (package "
                  "share directory, else next to the package); a non-empty path must have the inference size"),
    ParameterSpec("execution_providers", ("auto",), "string_array", "ONNX Runtime execution providers in "
                  "priority order (aliases tensorrt, cuda, cpu, or full names such as CUDAExecutionProvider); "
                  "[auto] = best available; an unavailable explicit provider stops the node"),
    ParameterSpec("intra_op_threads", 0, "integer", "ONNX Runtime threads inside one operator; 0 = its default "
                  "(one per physical core)", unit="threads", minimum=0, maximum=256),
    ParameterSpec("inference_width_px", 0, "integer", "Width of the image the matching runs on (the "
                  "speed/accuracy knob), set together with inference_height_px; the rectified pair is shrunk to "
                  "fit inside it keeping its aspect (never enlarged) and disparity is brought back to the input "
                  "size. onnx and tensorrt with an empty model_path run the bundled model of this size "
                  "(models/stereo_net_<W>x<H>.onnx; multiples of 32); sgbm and bm match the shrunk pair. "
                  "0 = the model file's size for the network, full resolution for sgbm and bm",
                  unit="px", minimum=0, maximum=8192),
    ParameterSpec("inference_height_px", 0, "integer", "Height of the image the matching runs on; see "
                  "inference_width_px (both 0 or both > 0)", unit="px", minimum=0, maximum=8192),
    ParameterSpec("max_disparity_px", 128, "integer", "Disparity search range of sgbm and bm, rounded up to a "
                  "multiple of 16; must stay below the image width. The learned backends use their model's own "
                  "limit (scaled to the input size) and ignore it", unit="px", minimum=16, maximum=1024),
    # Input.
    ParameterSpec("rectify", True, "bool", "Rectify the raw images with their CameraInfo; false = the inputs "
                  "are already rectified (remap left/image_raw and right/image_raw to image_rect)"),
    ParameterSpec("approximate_sync", False, "bool", "Pair left and right images whose stamps differ by up "
                  "to approximate_sync_tolerance_seconds; false = stamps must be equal"),
    ParameterSpec("approximate_sync_tolerance_seconds", 0.01, "double", "Largest stamp difference paired by "
                  "approximate sync; keep it below half the frame period", unit="s", minimum=0.0, maximum=1.0),
    ParameterSpec("queue_size", 5, "integer", "Images kept per side while waiting for the other side; older "
                  "unmatched images are dropped and counted", unit="messages", minimum=1, maximum=100),
    ParameterSpec("input_qos", "sensor_data", "string", "QoS of the image and camera_info subscriptions: "
                  "sensor_data (best effort), reliable or system_default; history keep last queue_size",
                  choices=INPUT_QOS_PROFILES),
    # Output.
    ParameterSpec("output_qos_reliability", "reliable", "string", "Reliability of every output publisher",
                  choices=OUTPUT_QOS_RELIABILITIES),
    ParameterSpec("output_qos_depth", 2, "integer", "History depth (keep last) of every output publisher",
                  unit="messages", minimum=1, maximum=100),
    ParameterSpec("depth_encoding", "32FC1", "string", "Encoding of the depth image: 32FC1 (metres, NaN "
                  "invalid) or 16UC1 (millimetres, 0 invalid; REP 118)", choices=DEPTH_ENCODINGS),
    ParameterSpec("diagnostics_period_seconds", 1.0, "double", "Period of the /diagnostics status and of the "
                  "rate and latency windows it reports", unit="s", minimum=0.1, maximum=60.0),
    # Hints and post-processing (dynamic).
    ParameterSpec("hints", "classical", "string", "Sparse disparity hints fed to the learned backends (sgbm and bm "
                  "ignore them): none, classical (confident SGBM pixels), lidar (the PointCloud2 on hints/points "
                  "nearest in time, projected into the left image; see the lidar_ parameters) or both (LiDAR "
                  "where it has a point, classical elsewhere); a pair without a usable cloud is matched without "
                  "LiDAR hints and a warning is logged", choices=HINT_SOURCES, dynamic=True),
    ParameterSpec("classical_hint_uniqueness_ratio", 15, "integer", "Hint density: the percent margin by which "
                  "SGBM's best cost must beat the second best for a pixel to become a classical hint (higher = "
                  "fewer, surer hints; /diagnostics shows hint_pixels_percent_last)", unit="%", minimum=0,
                  maximum=100, dynamic=True),
    ParameterSpec("classical_hint_lr_max_diff_px", 1, "integer", "Hint tolerance: largest disagreement between "
                  "SGBM's left and right disparities for a pixel to become a classical hint", unit="px", minimum=0,
                  maximum=16, dynamic=True),
    ParameterSpec("classical_hint_scale", 0.5, "double", "Hint speed: classical hints are matched on the "
                  "rectified pair shrunk by this factor (0.5: about a third of the time, less accurate hints; the "
                  "network still runs at full size)", minimum=0.25, maximum=1.0, dynamic=True),
    ParameterSpec("lidar_frame_id", "", "string", "Expected frame_id of the clouds on hints/points; clouds in "
                  "other frames are dropped with a warning, except clouds in the left camera's frame while "
                  "lidar_transform is the identity; empty = any frame_id that lidar_transform (when set) or "
                  "/tf_static (when it is the identity) maps to the left camera's frame", dynamic=True),
    ParameterSpec("lidar_transform", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0), "double_array", "Pose of the LiDAR "
                  "frame in the left camera's raw optical frame (camera_T_lidar, maps LiDAR points to camera "
                  "points): x y z in metres, then the rotation as a unit quaternion qx qy qz qw (write every value "
                  "with a decimal point); the identity (default) means: clouds in the left camera's optical frame "
                  "as they are, clouds in other frames through /tf_static (read where tf2_msgs is installed)",
                  unit="m (x y z), quaternion", size=7, dynamic=True),
    ParameterSpec("lidar_stamp_tolerance_s", 0.05, "double", "Largest difference between a cloud's stamp and "
                  "the stereo pair's for the cloud to guide that pair; the nearest cloud in time is used",
                  unit="s", minimum=0.0, maximum=10.0, dynamic=True),
    ParameterSpec("lidar_min_depth_m", 0.1, "double", "LiDAR points nearer than this (depth along the left "
                  "rectified optical axis) give no hint", unit="m", minimum=0.0, maximum=1000.0, dynamic=True),
    ParameterSpec("lidar_max_depth_m", 100.0, "double", "LiDAR points farther than this give no hint; must "
                  "exceed lidar_min_depth_m", unit="m", minimum=0.01, maximum=10000.0, dynamic=True),
    ParameterSpec("lr_check", False, "bool", "Invalidate pixels whose left- and right-view disparities "
                  "disagree: fewer but surer pixels (the network reads its right view from the same pass, "
                  "about 40 % more network time on a CPU)", dynamic=True),
    ParameterSpec("lr_max_diff_px", 1.0, "double", "Largest left-right disagreement kept by lr_check",
                  unit="px", minimum=0.1, maximum=64.0, dynamic=True),
    ParameterSpec("lr_hint_max_diff_px", 2.0, "double", "With lr_check and hints, pixels whose disparity "
                  "differs from their hint by more than this are invalidated too (two measurements that "
                  "disagree); 0 = the left-right test alone", unit="px", minimum=0.0, maximum=64.0,
                  dynamic=True),
    ParameterSpec("confidence_threshold", 0.0, "double", "Pixels whose confidence is below this become "
                  "invalid; 0 keeps all", minimum=0.0, maximum=1.0, dynamic=True),
    ParameterSpec("min_depth_m", 0.0, "double", "Depth and points nearer than this are invalid",
                  unit="m", minimum=0.0, maximum=1000.0, dynamic=True),
    ParameterSpec("max_depth_m", 100.0, "double", "Depth and points farther than this are invalid; must "
                  "exceed min_depth_m", unit="m", minimum=0.01, maximum=10000.0, dynamic=True),
    ParameterSpec("use_color", True, "bool", "Colour the point cloud with the rectified left image "
                  "(colour inputs only)", dynamic=True),
    ParameterSpec("avoid_point_cloud_padding", False, "bool", "Pack point fields tightly (12 or 16 bytes per "
                  "point) instead of PCL's aligned 16 or 32 bytes", dynamic=True),
    ParameterSpec("point_cloud_decimation", 1, "integer", "Keep every n-th row and column in points2",
                  minimum=1, maximum=16, dynamic=True),
    ParameterSpec("publish_points", True, "bool", "Publish points2 (skips building the cloud when false)",
                  dynamic=True),
    ParameterSpec("publish_confidence", True, "bool", "Publish confidence", dynamic=True),
    ParameterSpec("publish_depth", True, "bool", "Publish depth and depth/camera_info", dynamic=True),
    ParameterSpec("publish_rectified", True, "bool", "Publish left/image_rect", dynamic=True),
)

PARAMETERS_BY_NAME: Final[dict[str, ParameterSpec]] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class NodeSettings:
    """Every parameter's value, typed; field names are the parameter names (see ``PARAMETERS``)."""

    backend: str
    model_path: str
    execution_providers: tuple[str, ...]
    intra_op_threads: int
    inference_width_px: int
    inference_height_px: int
    max_disparity_px: int
    rectify: bool
    approximate_sync: bool
    approximate_sync_tolerance_seconds: float
    queue_size: int
    input_qos: str
    output_qos_reliability: str
    output_qos_depth: int
    depth_encoding: str
    diagnostics_period_seconds: float
    hints: str
    classical_hint_uniqueness_ratio: int
    classical_hint_lr_max_diff_px: int
    classical_hint_scale: float
    lidar_frame_id: str
    lidar_transform: tuple[float, float, float, float, float, float, float]
    lidar_stamp_tolerance_s: float
    lidar_min_depth_m: float
    lidar_max_depth_m: float
    lr_check: bool
    lr_max_diff_px: float
    lr_hint_max_diff_px: float
    confidence_threshold: float
    min_depth_m: float
    max_depth_m: float
    use_color: bool
    avoid_point_cloud_padding: bool
    point_cloud_decimation: int
    publish_points: bool
    publish_confidence: bool
    publish_depth: bool
    publish_rectified: bool


if {f.name for f in fields(NodeSettings)} != set(PARAMETERS_BY_NAME):  # pragma: no cover  (a coding error)
    raise RuntimeError("NodeSettings fields and PARAMETERS names differ")


def default_values() -> dict[str, Value]:
    """{name: default} of every parameter, in schema order."""
    return {spec.name: spec.default for spec in PARAMETERS}


def problems(values: Mapping[str, object]) -> list[str]:
    """Everything wrong with a (partial or full) set of parameter values, as sentences.

    Checks names, types, ranges and choices of each value; that each pair in
    ``DEPTH_RANGES`` has minimum < maximum when either is given (the other is
    taken from the defaults when missing); and that lidar_transform's quaternion
    has unit norm (within ``QUATERNION_NORM_TOLERANCE``). An empty list means the
    values are acceptable. ``inference_width_px`` and ``inference_height_px`` must
    be both 0 or both > 0, and multiples of ``backends.contract.SIZE_MULTIPLE`` for the
    network backends (a missing one of the three is taken from the defaults).
    """
    found = []
    for name, value in values.items():
        spec = PARAMETERS_BY_NAME.get(name)
        if spec is None:
            found.append(f"unknown parameter {name!r}")
            continue
        problem = _value_problem(spec, value)
        if problem:
            found.append(problem)
    if found:
        return found
    for low_name, high_name in DEPTH_RANGES:
        if low_name in values or high_name in values:
            low = values.get(low_name, PARAMETERS_BY_NAME[low_name].default)
            high = values.get(high_name, PARAMETERS_BY_NAME[high_name].default)
            if not low < high:  # type: ignore[operator]
                found.append(f"{low_name}={low} m must be less than {high_name}={high} m")
    found.extend(_inference_size_problems(values))
    if "lidar_transform" in values:
        quaternion = list(values["lidar_transform"])[3:]  # type: ignore[call-overload]
        norm = math.sqrt(sum(q * q for q in quaternion))
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
            found.append(f"lidar_transform's quaternion (qx qy qz qw) {quaternion} has norm {norm:.4g}; it must "
                         f"be a unit quaternion (norm 1 +- {QUATERNION_NORM_TOLERANCE})")
    return found


def _inference_size_problems(values: Mapping[str, object]) -> list[str]:
    if not {"inference_width_px", "inference_height_px", "backend"} & set(values):
        return []
    merged = {**default_values(), **values}
    width, height = int(merged["inference_width_px"]), int(merged["inference_height_px"])  # type: ignore[call-overload]
    if (width == 0) != (height == 0):
        return [f"inference_width_px={width} px and inference_height_px={height} px must be both 0 (full "
                "size) or both > 0"]
    multiple = SIZE_MULTIPLE
    if merged["backend"] in NETWORK_BACKENDS and (width % multiple or height % multiple):
        return [f"inference size {width}x{height} px (inference_width_px x inference_height_px) must be "
                f"multiples of {multiple} px for backend {merged['backend']!r} (the network's input contract)"]
    return []


def settings_from_values(values: Mapping[str, object]) -> NodeSettings:
    """Typed settings from {name: value}; missing names take their defaults.

    Raises:
        RosLayerError: naming every unknown, mistyped or out-of-range value.
    """
    found = problems(values)
    if found:
        raise RosLayerError("invalid parameters: " + "; ".join(found))
    merged: dict[str, object] = {**default_values(), **values}
    for spec in PARAMETERS:
        if spec.type == "double":
            merged[spec.name] = float(merged[spec.name])  # type: ignore[arg-type]
        elif spec.type == "string_array":
            merged[spec.name] = tuple(cast(Iterable[str], merged[spec.name]))
        elif spec.type == "double_array":
            merged[spec.name] = tuple(float(item) for item in cast(Iterable[float], merged[spec.name]))
    return NodeSettings(**merged)  # type: ignore[arg-type]


def pipeline_config(settings: NodeSettings) -> PipelineConfig:
    """The core's post-processing settings; points are built only when published."""
    return PipelineConfig(lr_check=settings.lr_check, lr_max_diff_px=settings.lr_max_diff_px,
                          lr_hint_max_diff_px=settings.lr_hint_max_diff_px,
                          confidence_threshold=settings.confidence_threshold, min_depth_m=settings.min_depth_m,
                          max_depth_m=settings.max_depth_m, hints=settings.hints,
                          classical_hints=ClassicalHintConfig(
                              uniqueness_ratio=settings.classical_hint_uniqueness_ratio,
                              lr_max_diff_px=settings.classical_hint_lr_max_diff_px,
                              scale=settings.classical_hint_scale),
                          compute_points=settings.publish_points,
                          point_cloud_decimation=settings.point_cloud_decimation, use_color=settings.use_color)


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """The ROS ParameterDescriptor of ``spec``: type, summary, range, read-only flag."""
    from rcl_interfaces.msg import (
        FloatingPointRange,
        IntegerRange,
        ParameterDescriptor,
        ParameterType,
    )

    ros_type = {"bool": ParameterType.PARAMETER_BOOL, "integer": ParameterType.PARAMETER_INTEGER,
                "double": ParameterType.PARAMETER_DOUBLE, "string": ParameterType.PARAMETER_STRING,
                "string_array": ParameterType.PARAMETER_STRING_ARRAY,
                "double_array": ParameterType.PARAMETER_DOUBLE_ARRAY}[spec.type]
    result = ParameterDescriptor(name=spec.name, type=ros_type, description=spec.summary(),
                                 read_only=not spec.dynamic)
    if spec.choices is not None:
        result.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.type == "integer" and (spec.minimum is not None or spec.maximum is not None):
        result.integer_range = [IntegerRange(
            from_value=int(spec.minimum) if spec.minimum is not None else -(2 ** 63),
            to_value=int(spec.maximum) if spec.maximum is not None else 2 ** 63 - 1, step=1)]
    elif spec.type == "double" and (spec.minimum is not None or spec.maximum is not None):
        result.floating_point_range = [FloatingPointRange(
            from_value=float(spec.minimum) if spec.minimum is not None else -sys.float_info.max,
            to_value=float(spec.maximum) if spec.maximum is not None else sys.float_info.max, step=0.0)]
    return result
