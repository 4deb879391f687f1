"""Shared fixtures: tiny ONNX graphs that follow the stereo network contract.

The graphs are built with ``onnx.helper`` and run in real ONNX Runtime, so
backend behaviour (fit rule, the right view of the one pass, hints, metadata
checks) is tested without the trained model. Model size is 64x96 (HxW,
non-square).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

MODEL_HW = (64, 96)
_OPSET = 17


def _value_info(name: str, channels: int, model_hw: tuple[int, int],
                batch: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                         [batch, channels, *model_hw])


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name=name)


def _nodes_constant(value: float, right_value: float) -> tuple[list, list]:
    # disparity = 0 * red(left) + value; disparity_right = ... + right_value; confidence = ... + 0.5
    inits = [_const("zero", np.float32(0.0)), _const("value", np.float32(value)),
             _const("right_value", np.float32(right_value)),
             _const("half", np.float32(0.5)), _const("s0", np.array([0], np.int64)),
             _const("s1", np.array([1], np.int64)), _const("ax1", np.array([1], np.int64))]
    nodes = [
        helper.make_node("Slice", ["left", "s0", "s1", "ax1"], ["red"]),
        helper.make_node("Mul", ["red", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "value"], ["disparity"]),
        helper.make_node("Add", ["zeros", "right_value"], ["disparity_right"]),
        helper.make_node("Add", ["zeros", "half"], ["confidence"]),
    ]
    return nodes, inits


def _nodes_red() -> tuple[list, list]:
    # disparity = 255 * red(left); confidence = red(right); disparity_right = 255 * red(right)
    inits = [_const("k255", np.float32(255.0)), _const("s0", np.array([0], np.int64)),
             _const("s1", np.array([1], np.int64)), _const("ax1", np.array([1], np.int64))]
    nodes = [
        helper.make_node("Slice", ["left", "s0", "s1", "ax1"], ["red_left"]),
        helper.make_node("Slice", ["right", "s0", "s1", "ax1"], ["confidence"]),
        helper.make_node("Mul", ["red_left", "k255"], ["disparity"]),
        helper.make_node("Mul", ["confidence", "k255"], ["disparity_right"]),
    ]
    return nodes, inits


def _nodes_hint() -> tuple[list, list]:
    # disparity = disparity_right = hint_disparity; confidence = hint_mask
    nodes = [helper.make_node("Identity", ["hint_disparity"], ["disparity"]),
             helper.make_node("Identity", ["hint_disparity"], ["disparity_right"]),
             helper.make_node("Identity", ["hint_mask"], ["confidence"])]
    return nodes, []


def _matcher_view(view: str, num_disparities: int, width: int, window: int) -> tuple[list, list]:
    """SAD volume and winner-take-all disparity of one view.

    Left view: left(x) against right(x - d) (right padded on the left). Right view:
    right(x) against left(x + d) (left padded on the right). Output ``disparity`` or
    ``disparity_right``.
    """
    reference, other = ("left", "right") if view == "left" else ("right", "left")
    inits, nodes, costs = [], [], []
    for d in range(num_disparities):
        shifted = other
        if d:
            before, after = (d, 0) if view == "left" else (0, d)
            start = 0 if view == "left" else d
            inits += [_const(f"{view}_pads{d}", np.array([0, 0, 0, before, 0, 0, 0, after], np.int64)),
                      _const(f"{view}_start{d}", np.array([start], np.int64)),
                      _const(f"{view}_stop{d}", np.array([start + width], np.int64))]
            nodes += [helper.make_node("Pad", [other, f"{view}_pads{d}"], [f"{view}_padded{d}"], mode="edge"),
                      helper.make_node("Slice", [f"{view}_padded{d}", f"{view}_start{d}", f"{view}_stop{d}",
                                                 "ax3"], [f"{view}_shift{d}"])]
            shifted = f"{view}_shift{d}"
        nodes += [
            helper.make_node("Sub", [reference, shifted], [f"{view}_diff{d}"]),
            helper.make_node("Abs", [f"{view}_diff{d}"], [f"{view}_abs{d}"]),
            helper.make_node("ReduceSum", [f"{view}_abs{d}", "ax1_c"], [f"{view}_sad{d}"], keepdims=1),
            helper.make_node("AveragePool", [f"{view}_sad{d}"], [f"{view}_cost{d}"],
                             kernel_shape=[window, window], pads=[window // 2] * 4,
                             count_include_pad=0),
        ]
        costs.append(f"{view}_cost{d}")
    output = "disparity" if view == "left" else "disparity_right"
    nodes += [
        helper.make_node("Concat", costs, [f"{view}_volume"], axis=1),
        helper.make_node("ArgMin", [f"{view}_volume"], [f"{view}_best"], axis=1, keepdims=1),
        helper.make_node("Cast", [f"{view}_best"], [output], to=TensorProto.FLOAT),
    ]
    return nodes, inits


def _nodes_matcher(num_disparities: int, model_hw: tuple[int, int],
                   window: int = 7) -> tuple[list, list]:
    """Winner-take-all block matcher of both views: SAD over RGB, box-aggregated, argmin over d."""
    inits = [_const("ax3", np.array([3], np.int64)), _const("fzero", np.float32(0.0)),
             _const("fone", np.float32(1.0)), _const("ax1_c", np.array([1], np.int64))]
    nodes: list = []
    for view in ("left", "right"):
        view_nodes, view_inits = _matcher_view(view, num_disparities, model_hw[1], window)
        nodes += view_nodes
        inits += view_inits
    nodes += [
        helper.make_node("Mul", ["disparity", "fzero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "fone"], ["confidence"]),
    ]
    return nodes, inits


def build_stereo_model(path: Path, *, kind: str = "constant", value: float = 4.0,
                       right_value: float | None = None,
                       model_hw: tuple[int, int] = MODEL_HW,
                       num_disparities: int = 12,
                       metadata: Mapping[str, str] | None = None,
                       drop_metadata: Sequence[str] = (),
                       batch: int | str = "N",
                       omit_inputs: Sequence[str] = (),
                       omit_outputs: Sequence[str] = ()) -> Path:
    """Write a contract-following (unless told otherwise) model and return its path.

    ``right_value``: the constant model's right-view disparity (default: ``value``).
    """
    if kind == "constant":
        nodes, inits = _nodes_constant(value, value if right_value is None else right_value)
    elif kind == "red":
        nodes, inits = _nodes_red()
    elif kind == "hint":
        nodes, inits = _nodes_hint()
    elif kind == "matcher":
        nodes, inits = _nodes_matcher(num_disparities, model_hw)
    else:
        raise ValueError(kind)
    channels = {"left": 3, "right": 3, "hint_disparity": 1, "hint_mask": 1}
    inputs = [_value_info(name, c, model_hw, batch) for name, c in channels.items()
              if name not in omit_inputs]
    outputs = [_value_info(name, 1, model_hw, batch) for name in ("disparity", "confidence", "disparity_right")
               if name not in omit_outputs]
    graph = helper.make_graph(nodes, f"tiny_{kind}", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              producer_name="stereo_depth_ros-tests")
    model.ir_version = 8
    props = {"max_disparity": str(float(num_disparities if kind == "matcher" else 48)),
             "input_height": str(model_hw[0]), "input_width": str(model_hw[1]),
             "model_version": f"test-{kind}"}
    props.update(metadata or {})
    for key in drop_metadata:
        props.pop(key, None)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def stereo_model(tmp_path: Path) -> Callable[..., Path]:
    """Factory fixture: ``stereo_model(kind=..., **options) -> path``."""
    counter = iter(range(1_000_000))

    def factory(**options: object) -> Path:
        return build_stereo_model(tmp_path / f"model_{next(counter)}.onnx", **options)

    return factory


def textured_pair(height: int, width: int, *, disparity_right_px: Callable[[np.ndarray], np.ndarray],
                  seed: int = 3, color: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random-texture left image and a right image warped by a right-frame disparity.

    right(x_r) = left(x_r + d_R(x_r)), so d_R is the exact right-view
    disparity; bilinear sampling, rows unchanged.
    """
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3 if color else 1)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.2)
    texture = (texture - texture.min()) / (np.ptp(texture) + 1e-6) * 255.0
    left = texture.astype(np.uint8).reshape(height, width, -1)
    x_r = np.tile(np.arange(width, dtype=np.float32), (height, 1))
    map_x = x_r + disparity_right_px(x_r).astype(np.float32)
    map_y = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    right = cv2.remap(left, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    right = right.reshape(left.shape)
    if not color:
        return left[..., 0], right[..., 0]
    return left, right


@pytest.fixture()
def make_pair() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Factory fixture for :func:`textured_pair`."""
    return textured_pair


def interior(height: int, width: int, *, left_view: bool, margin: int, search: int) -> np.ndarray:
    """(H, W) bool: pixels ``margin`` px from the borders, without the ``search`` px band where the view
    has no match (the left border of a left view, the right border of a right view)."""
    region = np.zeros((height, width), dtype=bool)
    if left_view:
        region[margin:-margin, search:-margin] = True
    else:
        region[margin:-margin, margin:-search] = True
    return region


@pytest.fixture()
def interior_region() -> Callable[..., np.ndarray]:
    """Factory fixture for :func:`interior`."""
    return interior
