"""Export a StereoNet checkpoint to ONNX files that follow the backend contract.

    stereo_depth_export runs/stereo_net/last.pt --sizes 640x480 768x512 --out-dir models

One file per input size (fixed H, W, multiples of 32; one pair per run: N
fixed at 1, so every shape is static and ONNX Runtime folds the shape
arithmetic; the right view's R stays dynamic), opset
recorded, checked with ``onnx.checker``, outputs compared with PyTorch on a
synthetic scene (a file that disagrees, see ``agrees_with_pytorch``, is
removed and the export fails). A JSON model card next to the files records the checkpoint,
its configuration, parameter count, MACs per size and the export checks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxscript.optimizer
import torch
from torch.utils.flop_counter import FlopCounterMode

from stereo_depth_ros.backends.contract import (
    INPUT_HINT_DISPARITY,
    INPUT_HINT_MASK,
    INPUT_LEFT,
    INPUT_RIGHT,
    INPUT_RIGHT_VIEW,
    OUTPUT_DISPARITY,
    OUTPUT_DISPARITY_RIGHT,
    OUTPUT_NAMES,
    SIZE_MULTIPLE,
)
from stereo_depth_ros.core.sizes import parse_wxh
from stereo_depth_ros.core.synthetic import HELD_OUT_SEED, SceneConfig, scene_for_index
from stereo_depth_ros.training.checkpoints import check_exportable, deployable_weights, load_checkpoint_state
from stereo_depth_ros.training.errors import ExportMismatchError
from stereo_depth_ros.training.model import ExportWrapper, StereoNet, StereoNetConfig

OPSET = 18   # ScatterElements with a max reduction (the right view's hints)
INPUT_NAMES = [INPUT_LEFT, INPUT_RIGHT, INPUT_HINT_DISPARITY, INPUT_HINT_MASK, INPUT_RIGHT_VIEW]
#: Symbolic size of the exported graph's right-view batch R (0 or 1; N is fixed at 1).
_RIGHT_BATCH = "right_batch"
#: ONNX Runtime agrees with PyTorch when more than this share of the pixels is within the tolerance: the
#: sub-pixel line fit divides by a cost rise, which lifts float rounding at the few pixels where the costs
#: are nearly flat (at most 0.07 px measured), so the maximum alone would be too strict.
AGREEMENT_TOLERANCE_PX = 1e-3
AGREEMENT_SHARE = 0.999


def agrees_with_pytorch(difference_px: np.ndarray) -> bool:
    """True when |ONNX - PyTorch| (px, any shape) is within ``AGREEMENT_TOLERANCE_PX`` at more than
    ``AGREEMENT_SHARE`` of its elements."""
    return float(np.mean(np.abs(difference_px) <= AGREEMENT_TOLERANCE_PX)) > AGREEMENT_SHARE


def load_checkpoint(path: Path) -> tuple[StereoNet, dict]:
    """The network (eval mode, its ``deployable_weights``) and the raw checkpoint dictionary (loaded with
    weights only).

    Raises:
        CheckpointError: unreadable, or holding a pickled object (``training.checkpoints``).
    """
    state = load_checkpoint_state(path)
    net = StereoNet(StereoNetConfig(**state["config"]["model"]))
    net.load_state_dict(deployable_weights(state))
    return net.eval(), state


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (width, height), both multiples of ``SIZE_MULTIPLE`` (32) px."""
    try:
        width, height = parse_wxh(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        raise argparse.ArgumentTypeError(f"size {text} must be a multiple of {SIZE_MULTIPLE} in both directions")
    return width, height


def count_macs(net: StereoNet, width: int, height: int) -> int:
    """Multiply-accumulates of one exported forward pass (batch 1, no hints, both views)."""
    inputs = _example_inputs(width, height)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ExportWrapper(net)(*inputs)
    return counter.get_total_flops() // 2


def _example_inputs(width: int, height: int) -> tuple[torch.Tensor, ...]:
    scene = scene_for_index(0, seed=HELD_OUT_SEED, config=SceneConfig(height=height, width=width))
    images = [torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
              for image in (scene.left, scene.right)]
    zeros = torch.zeros(1, 1, height, width)
    return images[0], images[1], zeros, zeros.clone(), torch.ones(1)   # with the right view


def export_onnx(net: StereoNet, width: int, height: int, path: Path, model_version: str) -> dict:
    """Write one ONNX file; returns the checks for the model card.

    Raises:
        ExportMismatchError: ONNX Runtime disagrees with PyTorch on the example scene (the file is removed).
    """
    wrapper = ExportWrapper(net).eval()
    inputs = _example_inputs(width, height)
    dynamic = {name: {0: _RIGHT_BATCH} for name in (INPUT_RIGHT_VIEW, OUTPUT_DISPARITY_RIGHT)}   # N = 1: static
    torch.onnx.export(wrapper, inputs, str(path), input_names=INPUT_NAMES, output_names=list(OUTPUT_NAMES),
                      opset_version=OPSET, dynamic_axes=dynamic, do_constant_folding=True, dynamo=False)
    # Fold the constant If nodes the exporter wraps around the scatter (ONNX Runtime would warn on every run).
    model = onnxscript.optimizer.optimize(onnx.load(str(path)))
    metadata = {"max_disparity": str(net.config.max_disparity), "input_height": str(height),
                "input_width": str(width), "model_version": model_version}
    onnx.helper.set_model_props(model, metadata)
    for output in model.graph.output:   # the right view's slice leaves its H, W symbolic
        dims = output.type.tensor_type.shape.dim
        if output.name == OUTPUT_DISPARITY_RIGHT:
            dims[0].dim_param = _RIGHT_BATCH
        else:
            dims[0].dim_value = 1
        for dim, value in zip(dims[1:], (1, height, width)):
            dim.dim_value = value
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_outputs = session.run(list(OUTPUT_NAMES), {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, inputs)})
    with torch.no_grad():
        torch_outputs = [output.numpy() for output in wrapper(*inputs)]
    onnx_by_name, torch_by_name = dict(zip(OUTPUT_NAMES, onnx_outputs)), dict(zip(OUTPUT_NAMES, torch_outputs))
    difference = np.concatenate([np.abs(onnx_by_name[name] - torch_by_name[name]).ravel()   # px, both views
                                 for name in (OUTPUT_DISPARITY, OUTPUT_DISPARITY_RIGHT)])
    if not agrees_with_pytorch(difference):
        path.unlink()
        raise ExportMismatchError(
            f"{path.name}: ONNX Runtime's disparities differ from PyTorch's by more than {AGREEMENT_TOLERANCE_PX:g} "
            f"px at {float(np.mean(difference > AGREEMENT_TOLERANCE_PX)):.2%} of the pixels (at most "
            f"{float(difference.max()):.3g} px; allowed: {1 - AGREEMENT_SHARE:.1%}); the file was removed")
    return {"file": path.name, "width": width, "height": height, "opset": OPSET,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "macs": count_macs(net, width, height),
            "max_abs_diff_vs_torch_px": float(difference.max()),
            "fraction_within_1e-3_px": float((difference <= 1e-3).mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(640, 480)],
                        help="WIDTHxHEIGHT, multiples of 32")
    parser.add_argument("--out-dir", type=Path, default=Path("models"))
    parser.add_argument("--name", default="stereo_net")
    parser.add_argument("--model-version", default=None,
                        help="version written into the files and the card (default NAME-stepSTEP)")
    parser.add_argument("--card-extra", type=Path, default=None,
                        help="JSON file merged into the model card (e.g. the training command)")
    parser.add_argument("--export-anyway", action="store_true",
                        help="export a checkpoint whose adaptation (stereo_depth_adapt) made the model worse; "
                             "without it such a checkpoint is refused (exit code 5)")
    args = parser.parse_args(argv)
    net, state = load_checkpoint(args.checkpoint)
    for warning in check_exportable(state, args.checkpoint, export_anyway=args.export_anyway):
        print(f"stereo_depth_export: warning: {warning}", file=sys.stderr)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    version = args.model_version or f"{args.name}-step{state['step']}"
    files = [export_onnx(net, width, height, args.out_dir / f"{args.name}_{width}x{height}.onnx", version)
             for width, height in args.sizes]
    for entry in files:
        print(f"{entry['file']}: {entry['macs'] / 1e9:.2f} GMACs, max |onnx - torch| "
              f"{entry['max_abs_diff_vs_torch_px']:.2e} px ({entry['fraction_within_1e-3_px']:.4%} within 1e-3)")
    card = {"name": args.name, "model_version": version, "step": state["step"],
            "parameters": sum(p.numel() for p in net.parameters()), "config": state["config"],
            "held_out_metrics_at_step": state.get("metrics", {}), "onnx_files": files}
    if args.card_extra is not None:
        card.update(json.loads(args.card_extra.read_text()))
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
