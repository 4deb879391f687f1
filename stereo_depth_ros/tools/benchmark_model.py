"""Model section of ``stereo_depth_benchmark``: which network files exist, their size,
parameters and compute (from the model card ``models/stereo_net.json`` that
``stereo_depth_export`` writes), and the FLOPs each benchmarked resolution costs.

FLOPs are counted as 2 x MACs (one multiply and one add). A resolution runs on
the model ``benchmark_metrics.choose_model`` picks (fit rule: shrink to fit, pad),
so its cost is that model's. The card's MACs are of one pass with the right
view (what the left-right check runs); without the check the right view is
skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stereo_depth_ros.backends.contract import ModelMetadata, parse_model_metadata
from stereo_depth_ros.backends.errors import BackendError, ModelError
from stereo_depth_ros.tools.benchmark_metrics import ModelFile, choose_model

__all__ = ["CARD_NAME", "find_models", "model_section"]

CARD_NAME = "stereo_net.json"


def _read_metadata(path: Path) -> ModelMetadata:
    """The contract metadata (input size, max disparity, version) of an ONNX file.

    Only ``metadata_props`` are read (``onnx`` without weights, else an ONNX
    Runtime session); the full I/O check is the backend's, when it loads the file.

    Raises:
        ModelError: unreadable file or missing contract keys.
    """
    try:
        import onnx
    except ImportError:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        failures = tuple(getattr(state, name) for name in ("Fail", "InvalidArgument", "InvalidGraph",
                                                           "InvalidProtobuf", "NoSuchFile", "NoModel")
                         if hasattr(state, name))
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except failures as err:
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({err})") from err
        props = dict(session.get_modelmeta().custom_metadata_map)
    else:
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load(str(path), load_external_data=False)
        except (DecodeError, OSError, ValueError) as err:
            raise ModelError(f"{path}: not a readable ONNX file ({err})") from err
        props = {prop.key: prop.value for prop in model.metadata_props}
    return parse_model_metadata(props, source=str(path))


def find_models(models_dir: Path, *, only: Path | None = None) -> tuple[list[ModelFile], dict[str, Any] | None]:
    """The network files of a model directory (or just ``only``), with MACs from the card.

    Args:
        models_dir: directory holding ``stereo_net.json`` and ``*.onnx``.
        only: use this one ``.onnx`` file instead of scanning ``models_dir``.

    Returns:
        (files readable under the model contract, the parsed card or None).
        Unreadable files are left out.
    """
    card_path = (only.parent if only else models_dir) / CARD_NAME
    card = json.loads(card_path.read_text()) if card_path.is_file() else None
    macs_by_file = {entry.get("file"): entry.get("macs") for entry in (card or {}).get("onnx_files", [])}
    paths = [only] if only else sorted(models_dir.glob("*.onnx"))
    models = []
    for path in paths:
        try:
            metadata = _read_metadata(path)
        except BackendError:
            continue
        macs = macs_by_file.get(path.name)
        models.append(ModelFile(path=path, input_hw=metadata.input_hw,
                                macs=int(macs) if isinstance(macs, (int, float)) else None))
    return models, card


def _initializer_count(path: Path) -> int | None:
    """Elements in the ONNX file's initializers (weights plus constant tensors), or None without ``onnx``."""
    try:
        import numpy as np
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    return int(sum(int(np.prod(t.dims)) if t.dims else 1 for t in model.graph.initializer))


def model_section(models: Sequence[ModelFile], card: dict[str, Any] | None,
                  sizes_hw: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Sizes, parameters, MACs and FLOPs.

    Args:
        models: the network files found.
        card: the model card, or None.
        sizes_hw: (H, W) of every benchmarked resolution, px.
    """
    if not models:
        return {"skipped": "skipped: no ONNX model file"}
    files = []
    for model in models:
        files.append({
            "file": model.path.name, "input": f"{model.input_hw[1]}x{model.input_hw[0]}",
            "size_mb": model.path.stat().st_size / 1e6,
            "onnx_initializer_elements": _initializer_count(model.path),
            "gmacs_per_pass": model.macs / 1e9 if model.macs else None,
            "gflops_per_pass": 2 * model.macs / 1e9 if model.macs else None,
        })
    per_resolution = []
    for height, width in sizes_hw:
        model = choose_model((height, width), models)
        gflops = 2 * model.macs / 1e9 if model.macs else None
        per_resolution.append({"size": f"{width}x{height}", "model": model.path.name, "gflops_per_pass": gflops})
    card = card or {}
    return {
        "model_version": card.get("model_version"), "training_step": card.get("step"),
        "parameters": card.get("parameters"),
        "max_disparity_px": card.get("config", {}).get("model", {}).get("max_disparity"),
        "held_out_metrics_at_export": card.get("held_out_metrics_at_step"),
        "files": files, "per_resolution": per_resolution,
    }
