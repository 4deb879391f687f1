"""The stereo network's ONNX contract, written once and checked at load time.

A model file (``models/stereo_net_<W>x<H>.onnx``) must have

* inputs ``left``, ``right``: (N, 3, H, W) float32 RGB in [0, 1];
  ``hint_disparity``: (N, 1, H, W) float32, px at model size, 0 = no hint;
  ``hint_mask``: (N, 1, H, W) float32, 1 where a hint exists else 0;
  ``right_view``: (R,) float32 (values unused), R = N to get the right view's
  disparity, R = 0 to skip its computation. R is dynamic; N is either fixed
  at 1 (what ``stereo_depth_export`` writes: with every shape static ONNX
  Runtime folds the shape arithmetic and keeps more of the graph in its
  blocked layout) or dynamic (files exported before; the backends run N = 1
  either way); H and W are fixed integers, multiples of 32.
* outputs ``disparity``: (N, 1, H, W) float32, px at model size,
  d = x_left - x_right >= 0, in the left image; ``confidence``: (N, 1, H, W)
  float32 in [0, 1]; ``disparity_right``: (R, 1, H, W) float32, px at model
  size, the right view's disparity (still d = x_left - x_right >= 0, indexed
  by right-image pixels) from the same pass, for the left-right check.
* ``metadata_props``: ``max_disparity`` (px at model size), ``input_height``,
  ``input_width`` (equal to H and W above) and ``model_version``.

Both the ONNX Runtime and the TensorRT backend validate against this module,
so a model that breaks the contract fails with a :class:`ModelError` naming
the offending tensor, dimension or key, before any frame is processed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stereo_depth_ros.backends.errors import BackendUnavailableError, ModelError

__all__ = [
    "INPUT_CHANNELS",
    "INPUT_HINT_DISPARITY",
    "INPUT_HINT_MASK",
    "INPUT_LEFT",
    "INPUT_RIGHT",
    "INPUT_RIGHT_VIEW",
    "OUTPUT_CHANNELS",
    "OUTPUT_CONFIDENCE",
    "OUTPUT_DISPARITY",
    "OUTPUT_DISPARITY_RIGHT",
    "OUTPUT_NAMES",
    "SIZE_MULTIPLE",
    "ModelMetadata",
    "TensorSpec",
    "onnx_model_is_fp16",
    "parse_model_metadata",
    "read_onnx_contract",
    "spec_from_onnxruntime",
    "validate_io_signature",
]

INPUT_LEFT = "left"
INPUT_RIGHT = "right"
INPUT_HINT_DISPARITY = "hint_disparity"
INPUT_HINT_MASK = "hint_mask"
INPUT_RIGHT_VIEW = "right_view"
OUTPUT_DISPARITY = "disparity"
OUTPUT_CONFIDENCE = "confidence"
OUTPUT_DISPARITY_RIGHT = "disparity_right"
#: The outputs a backend fetches, in this order.
OUTPUT_NAMES: tuple[str, ...] = (OUTPUT_DISPARITY, OUTPUT_CONFIDENCE, OUTPUT_DISPARITY_RIGHT)

#: Channel count of every (N, C, H, W) contract input, by name (``right_view`` is (R,) on its own).
INPUT_CHANNELS: Mapping[str, int] = {
    INPUT_LEFT: 3,
    INPUT_RIGHT: 3,
    INPUT_HINT_DISPARITY: 1,
    INPUT_HINT_MASK: 1,
}
#: Channel count of every contract output, by name.
OUTPUT_CHANNELS: Mapping[str, int] = {
    OUTPUT_DISPARITY: 1,
    OUTPUT_CONFIDENCE: 1,
    OUTPUT_DISPARITY_RIGHT: 1,
}
#: Model height and width must be multiples of this: the network's deepest level is at 1/32 of the
#: input (1/16 before stage 5g), so every level's size is a whole number of cells.
SIZE_MULTIPLE = 32

_REQUIRED_METADATA = ("max_disparity", "input_height", "input_width", "model_version")


@dataclass(frozen=True)
class ModelMetadata:
    """The ``metadata_props`` of a model that follows the contract.

    Attributes:
        max_disparity_px: largest disparity the network can output, px at the
            model input size (multiply by ``FitTransform.disparity_scale`` for
            input-image pixels).
        input_hw: (H, W) of the network input, px; multiples of 32.
        model_version: free-form version string of the trained model.
    """

    max_disparity_px: float
    input_hw: tuple[int, int]
    model_version: str


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and element type of one model input or output.

    Attributes:
        name: tensor name in the graph.
        shape: one entry per axis; an ``int`` for a fixed size, a ``str``
            (symbolic name) or ``None`` for a dynamic one.
        dtype: numpy-style element type name, e.g. ``"float32"``.
    """

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str


def parse_model_metadata(props: Mapping[str, str], *, source: str) -> ModelMetadata:
    """Parse and check the contract keys of a model's ``metadata_props``.

    Args:
        props: key -> string value, as ONNX stores them.
        source: the model path or name, quoted in error messages.

    Returns:
        The parsed :class:`ModelMetadata`.

    Raises:
        ModelError: a key is missing, not a number, or out of range.
    """
    missing = [key for key in _REQUIRED_METADATA if key not in props]
    if missing:
        raise ModelError(
            f"{source}: metadata_props lacks {missing}; the contract needs "
            f"{list(_REQUIRED_METADATA)} (present: {sorted(props)})")
    try:
        max_disparity_px = float(props["max_disparity"])
    except ValueError as err:
        raise ModelError(
            f"{source}: metadata max_disparity={props['max_disparity']!r} "
            "is not a number") from err
    if not math.isfinite(max_disparity_px) or max_disparity_px <= 0:
        raise ModelError(
            f"{source}: metadata max_disparity={max_disparity_px} must be a "
            "finite number > 0 (px at model input size)")
    size = []
    for key in ("input_height", "input_width"):
        try:
            value = int(props[key])
        except ValueError as err:
            raise ModelError(
                f"{source}: metadata {key}={props[key]!r} is not an integer") from err
        if value <= 0 or value % SIZE_MULTIPLE:
            raise ModelError(
                f"{source}: metadata {key}={value} must be a positive multiple "
                f"of {SIZE_MULTIPLE}")
        size.append(value)
    model_version = props["model_version"].strip()
    if not model_version:
        raise ModelError(f"{source}: metadata model_version is empty")
    return ModelMetadata(max_disparity_px=max_disparity_px,
                         input_hw=(size[0], size[1]),
                         model_version=model_version)


def _is_dynamic(dim: int | str | None) -> bool:
    return dim is None or isinstance(dim, str) or (isinstance(dim, int) and dim < 0)


def validate_io_signature(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                          metadata: ModelMetadata, *, source: str) -> None:
    """Check a model's inputs and outputs against the contract.

    Extra outputs are allowed (only ``OUTPUT_NAMES`` are fetched); extra
    inputs are not (nothing would feed them).

    Args:
        inputs: the model's input tensors.
        outputs: the model's output tensors.
        metadata: parsed metadata; its ``input_hw`` must equal the tensors' H, W.
        source: the model path or name, quoted in error messages.

    Raises:
        ModelError: naming the tensor and the offending name, rank, dimension
            or dtype.
    """
    input_names = [spec.name for spec in inputs]
    expected_inputs = {*INPUT_CHANNELS, INPUT_RIGHT_VIEW}
    missing = sorted(expected_inputs - set(input_names))
    extra = sorted(set(input_names) - expected_inputs)
    if missing or extra:
        raise ModelError(
            f"{source}: inputs {input_names} do not match the contract "
            f"{sorted(expected_inputs)} (missing {missing}, unexpected {extra}); a model exported before "
            "the one-pass left-right check lacks right_view: export it again with stereo_depth_export")
    output_names = [spec.name for spec in outputs]
    missing = sorted(set(OUTPUT_CHANNELS) - set(output_names))
    if missing:
        raise ModelError(
            f"{source}: outputs {output_names} lack {missing}; the contract "
            f"needs {sorted(OUTPUT_CHANNELS)} (a model exported before the one-pass "
            "left-right check lacks disparity_right: export it again with stereo_depth_export)")
    right_view = next(spec for spec in inputs if spec.name == INPUT_RIGHT_VIEW)
    if len(right_view.shape) != 1 or not _is_dynamic(right_view.shape[0]) or right_view.dtype != "float32":
        raise ModelError(f"{source}: input {INPUT_RIGHT_VIEW!r} is {right_view.shape} {right_view.dtype}; "
                         "the contract needs a dynamic (R,) float32")
    channels = {**INPUT_CHANNELS, **OUTPUT_CHANNELS}
    height, width = metadata.input_hw
    for spec in [*(s for s in inputs if s.name in INPUT_CHANNELS), *(s for s in outputs if s.name in OUTPUT_CHANNELS)]:
        expected = ("N", channels[spec.name], height, width)   # N: 1 or dynamic
        if len(spec.shape) != 4:
            raise ModelError(
                f"{source}: tensor {spec.name!r} has shape {spec.shape}; "
                f"the contract needs rank 4 {expected}")
        if spec.dtype != "float32":
            raise ModelError(
                f"{source}: tensor {spec.name!r} has dtype {spec.dtype}; "
                "the contract needs float32")
        if not (_is_dynamic(spec.shape[0]) or spec.shape[0] == 1):
            raise ModelError(
                f"{source}: tensor {spec.name!r} has a fixed batch size "
                f"{spec.shape[0]}; the contract needs N fixed at 1 or dynamic (export with "
                "stereo_depth_export)")
        if tuple(spec.shape[1:]) != expected[1:]:
            raise ModelError(
                f"{source}: tensor {spec.name!r} has shape {spec.shape}; the "
                f"contract with input_height={height}, input_width={width} "
                f"needs {expected}")


_ONNX_ELEM_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def read_onnx_contract(model_path: str | os.PathLike[str],
                       ) -> tuple[ModelMetadata, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Read and check the contract of an ONNX file without running it.

    Uses the ``onnx`` package (imported lazily; weights stay unloaded), or
    a CPU ONNX Runtime session without graph optimisation if ``onnx`` is not
    installed.

    Args:
        model_path: path of the ``.onnx`` file.

    Returns:
        (metadata, inputs, outputs), already validated.

    Raises:
        ModelError: the file is missing, unreadable or breaks the contract.
        BackendUnavailableError: neither ``onnx`` nor ``onnxruntime`` is installed.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        import onnx
    except ImportError:
        return _read_contract_with_onnxruntime(path)
    from google.protobuf.message import DecodeError  # a dependency of onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as err:
        raise ModelError(f"{path}: not a readable ONNX file ({err})") from err

    def spec(value_info: object) -> TensorSpec:
        tensor_type = value_info.type.tensor_type  # type: ignore[attr-defined]
        dims: list[int | str | None] = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(str(dim.dim_param))
            else:
                dims.append(None)
        dtype = _ONNX_ELEM_TYPES.get(tensor_type.elem_type, f"onnx:{tensor_type.elem_type}")
        return TensorSpec(value_info.name, tuple(dims), dtype)  # type: ignore[attr-defined]

    initializer_names = {init.name for init in model.graph.initializer}
    inputs = tuple(spec(v) for v in model.graph.input if v.name not in initializer_names)
    outputs = tuple(spec(v) for v in model.graph.output)
    metadata = parse_model_metadata({p.key: p.value for p in model.metadata_props},
                                    source=str(path))
    validate_io_signature(inputs, outputs, metadata, source=str(path))
    return metadata, inputs, outputs


_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
              "tensor(double)": "float64"}


def spec_from_onnxruntime(node_arg: object) -> TensorSpec:
    """:class:`TensorSpec` of an ONNX Runtime ``NodeArg`` (``session.get_inputs()`` item)."""
    type_name = str(node_arg.type)  # type: ignore[attr-defined]  # e.g. "tensor(float)"
    return TensorSpec(node_arg.name, tuple(node_arg.shape),  # type: ignore[attr-defined]
                      _ORT_TYPES.get(type_name, type_name))


def _read_contract_with_onnxruntime(
        path: Path) -> tuple[ModelMetadata, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    try:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
    except ImportError as err:
        raise BackendUnavailableError(
            "reading the model contract needs the 'onnx' or 'onnxruntime' package "
            "(pip install onnx)") from err
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except (ort_state.InvalidProtobuf, ort_state.InvalidGraph, ort_state.Fail) as err:
        raise ModelError(f"{path}: not a readable ONNX file ({err})") from err
    inputs = tuple(spec_from_onnxruntime(a) for a in session.get_inputs())
    outputs = tuple(spec_from_onnxruntime(a) for a in session.get_outputs())
    metadata = parse_model_metadata(session.get_modelmeta().custom_metadata_map,
                                    source=str(path))
    validate_io_signature(inputs, outputs, metadata, source=str(path))
    return metadata, inputs, outputs


def onnx_model_is_fp16(model_path: str | os.PathLike[str]) -> bool | None:
    """Whether most floating-point weights of an ONNX file are float16.

    Decides the engine precision on strongly typed TensorRT (>= 11).

    Returns:
        True or False, or ``None`` when the ``onnx`` package is missing.
    """
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(model_path), load_external_data=False)
    counts = {"float16": 0, "float32": 0}
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT16:
            counts["float16"] += 1
        elif init.data_type == onnx.TensorProto.FLOAT:
            counts["float32"] += 1
    return counts["float16"] > counts["float32"]
