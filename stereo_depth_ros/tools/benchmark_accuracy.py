"""Accuracy section of ``stereo_depth_benchmark`` (zero-shot: nothing here was trained on).

Every method runs through the shared ``StereoPipeline`` twice, without and
with the left-right check, and is scored by ``core.metrics.evaluate_disparity``
(bad-N counts pixels without a prediction as errors; EPE and "kept" variants
are over predicted pixels only). Methods:

=====================  ==========================================================================
key                    what runs
=====================  ==========================================================================
``default``            our network as the node runs it by default: the hints and classical hint
                       settings (scale, uniqueness, tolerance) of the node's parameter schema
                       (``ros.parameters``), whatever ``--classical-hint-scale`` says
``onnx``               our network, no hints
``onnx_classical``     our network with classical hints (confident SGBM pixels; hints="classical",
                       matched at ``--classical-hint-scale``, full size by default)
``onnx_lidar``         our network with simulated LiDAR hints (a share of the ground-truth pixels
                       with Gaussian noise, fixed seed; hints="lidar")
``sgbm_sip``           OpenCV StereoSGBM as ``stereo_image_proc``'s disparity node configures it by
                       default (block 15, P1 200, P2 400, uniqueness 15, speckle 100 / 4,
                       disp12MaxDiff 0, prefilter cap 31, full_dp false = MODE_SGBM, grey), with
                       the search range of the dataset and no left-border padding
``sgbm_padded``        our SGBM defaults (block 5, 3-way, left border padded)
``bm_sip``             OpenCV StereoBM with ``stereo_image_proc``'s defaults (block 15, prefilter 9,
                       texture 10, uniqueness 15, speckle 100 / 4), no padding
=====================  ==========================================================================

Datasets: Middlebury Motorcycle (scikit-image, 741x500; 128 disparities for the
classical matchers) and N held-out synthetic scenes (the classical search range
covers the scenes' largest disparity). On the synthetic scenes the depth error
is also reported per range of true depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from stereo_depth_ros.backends import BmParams, SgbmParams, StereoBackend, create_backend
from stereo_depth_ros.core.metrics import evaluate_disparity
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig, StereoPipeline
from stereo_depth_ros.ros.parameters import pipeline_config, settings_from_values
from stereo_depth_ros.tools.benchmark_metrics import (
    ModelFile,
    choose_model,
    depth_error_by_range,
    describe_configuration,
    simulated_lidar_hints,
)
from stereo_depth_ros.tools.benchmark_scenes import BenchmarkScene, ground_truth_depth_m

__all__ = [
    "METHOD_KEYS",
    "AccuracySettings",
    "MethodSpec",
    "accuracy_methods",
    "evaluate_dataset",
]

#: Bad-N thresholds, px.
THRESHOLDS_PX: Final = (1.0, 2.0, 3.0)
METHOD_KEYS: Final = ("default", "onnx", "onnx_classical", "onnx_lidar", "sgbm_sip", "sgbm_padded", "bm_sip")


@dataclass(frozen=True)
class MethodSpec:
    """One row of the accuracy tables.

    Attributes:
        key: one of ``METHOD_KEYS``.
        label: text for the tables.
        hints: the pipeline's hint source ("none", "classical" or "lidar").
        make_backend: builds the backend (called once per dataset).
        details: facts for the JSON report (model file, matcher parameters).
        classical_hints: the classical hint matcher of this method; None = the section's
            (``ClassicalHintConfig`` with ``AccuracySettings.classical_hint_scale``).
    """

    key: str
    label: str
    hints: str
    make_backend: Callable[[], StereoBackend]
    details: dict[str, str] = field(default_factory=dict)
    classical_hints: ClassicalHintConfig | None = None


@dataclass(frozen=True)
class AccuracySettings:
    """What the accuracy section runs.

    Attributes:
        methods: keys of ``METHOD_KEYS`` to run.
        onnx_threads: ONNX Runtime intra-op threads (0 = its default).
        lidar_fraction: share of ground-truth pixels given as LiDAR hints, [0, 1].
        lidar_noise_px: noise of the LiDAR hints, px.
        seed: seed of the LiDAR hint sampling (per scene: seed + index).
        depth_edges_m: ranges of true depth for the synthetic depth error, metres.
        depth_target_range_m: the range of true depth the depth targets (bias, relative error) pool, metres.
        classical_hint_scale: classical hints of the methods without their own (all but ``default``)
            are matched at this fraction of the image size, (0, 1].
    """

    methods: tuple[str, ...] = METHOD_KEYS
    onnx_threads: int = 0
    lidar_fraction: float = 0.02
    lidar_noise_px: float = 0.5
    seed: int = 0
    depth_edges_m: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, math.inf)
    depth_target_range_m: tuple[float, float] = (1.0, 8.0)
    classical_hint_scale: float = 1.0


def accuracy_methods(settings: AccuracySettings, *, num_disparities: int,
                     model: ModelFile | None) -> list[MethodSpec]:
    """The methods to run on one dataset; the network rows are left out when there is no model.

    Args:
        settings: the section's settings.
        num_disparities: search range of the classical matchers, px (multiple of 16).
        model: the network file for this dataset's image size, or None.
    """
    onnx_backend: list[StereoBackend] = []

    def network() -> StereoBackend:
        if not onnx_backend:  # one session shared by the network's hint variants
            assert model is not None
            onnx_backend.append(create_backend("onnx", model_path=model.path, providers=["cpu"],
                                               intra_op_threads=settings.onnx_threads))
        return onnx_backend[0]

    sgbm_sip, bm_sip = SgbmParams.stereo_image_proc(num_disparities), BmParams.stereo_image_proc(num_disparities)
    sgbm_ours = SgbmParams(num_disparities=num_disparities)
    specs = []
    if model is not None:
        facts = {"model": model.path.name}
        node_default = pipeline_config(settings_from_values({}))  # the schema's defaults: one home
        hint_words = describe_configuration(hints=node_default.hints,
                                            classical_hint_scale=node_default.classical_hints.scale)
        specs += [
            MethodSpec("default", f"network, node default ({hint_words})", node_default.hints, network, facts,
                       classical_hints=node_default.classical_hints),
            MethodSpec("onnx", "network", "none", network, facts),
            MethodSpec("onnx_classical", "network + classical hints" + (
                f" (matched at {settings.classical_hint_scale:g}x)" if settings.classical_hint_scale != 1.0 else ""),
                "classical", network, facts),
            MethodSpec("onnx_lidar", f"network + LiDAR hints ({100 * settings.lidar_fraction:g} %, "
                       f"{settings.lidar_noise_px:g} px noise)", "lidar", network, facts),
        ]
    specs += [
        MethodSpec("sgbm_sip", f"SGBM as stereo_image_proc ({num_disparities} disp)", "none",
                   lambda: create_backend("sgbm", params=sgbm_sip), _params(sgbm_sip)),
        MethodSpec("sgbm_padded", f"SGBM, ours (padded, {num_disparities} disp)", "none",
                   lambda: create_backend("sgbm", params=sgbm_ours), _params(sgbm_ours)),
        MethodSpec("bm_sip", f"StereoBM as stereo_image_proc ({num_disparities} disp)", "none",
                   lambda: create_backend("bm", params=bm_sip), _params(bm_sip)),
    ]
    return [spec for spec in specs if spec.key in settings.methods]


def _params(params: SgbmParams | BmParams) -> dict[str, str]:
    return {name: str(getattr(params, name)) for name in params.__dataclass_fields__}


def _stack(maps: Sequence[np.ndarray]) -> np.ndarray:
    """Scenes of one size stacked vertically, so pooled metrics weigh every pixel equally."""
    return np.concatenate([np.asarray(m) for m in maps], axis=0)


def evaluate_dataset(scenes: Sequence[BenchmarkScene], settings: AccuracySettings, *, num_disparities: int,
                     models: Sequence[ModelFile], with_depth: bool,
                     keep_maps: bool = False) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Run every method on the scenes and score it, pooled over all pixels of all scenes.

    Args:
        scenes: rectified pairs of one size with ground truth.
        settings: the section's settings.
        num_disparities: search range of the classical matchers, px.
        models: available network files (the one fitting the scene size is used); empty = no network rows.
        with_depth: also report the depth error per range of true depth.
        keep_maps: return the first scene's disparity maps (for plots).

    Returns:
        (JSON-ready results, {method key: {"lr_off"/"lr_on": (H, W) float32 px, NaN invalid}}).
    """
    height, width = scenes[0].left.shape[:2]
    model = choose_model((height, width), models) if models else None
    gt = _stack([s.disparity_px for s in scenes])
    gt_depth = _stack([ground_truth_depth_m(s.disparity_px, s.rig) for s in scenes]) if with_depth else None
    lidar = [simulated_lidar_hints(s.disparity_px, fraction=settings.lidar_fraction,
                                   noise_px=settings.lidar_noise_px, seed=settings.seed + i)
             for i, s in enumerate(scenes)]
    results: list[dict[str, Any]] = []
    maps: dict[str, dict[str, np.ndarray]] = {}
    for spec in accuracy_methods(settings, num_disparities=num_disparities, model=model):
        backend = spec.make_backend()
        hint_config = spec.classical_hints or ClassicalHintConfig(scale=settings.classical_hint_scale)
        row: dict[str, Any] = {"key": spec.key, "label": spec.label, "hints": spec.hints, "details": spec.details}
        if spec.hints in ("classical", "both"):
            row["classical_hint_scale"] = hint_config.scale
        for lr_check in (False, True):
            pipeline = StereoPipeline(backend, PipelineConfig(
                lr_check=lr_check, hints=spec.hints, compute_points=False, classical_hints=hint_config))
            outputs = [pipeline.process(s.left, s.right, s.rig,
                                        lidar_hints_px=lidar[i] if spec.hints == "lidar" else None)
                       for i, s in enumerate(scenes)]
            label = "lr_on" if lr_check else "lr_off"
            metrics = evaluate_disparity(_stack([o.disparity_px for o in outputs]), gt, thresholds_px=THRESHOLDS_PX)
            row[label] = metrics.as_dict()
            if gt_depth is not None:
                depth = _stack([o.depth_m for o in outputs])
                row[f"depth_{label}"] = [r.as_dict() for r in depth_error_by_range(depth, gt_depth,
                                                                                    settings.depth_edges_m)]
                row[f"depth_{label}_target_range"] = depth_error_by_range(
                    depth, gt_depth, settings.depth_target_range_m)[0].as_dict()
            if keep_maps:
                maps.setdefault(spec.key, {})[label] = outputs[0].disparity_px
        results.append(row)
    summary: dict[str, Any] = {
        "scenes": [s.name for s in scenes], "image_size": f"{width}x{height}",
        "classical_num_disparities": num_disparities,
        "model": str(model.path) if model else None,
        "gt_pixels": int(np.isfinite(gt).sum()),
        "methods": results,
    }
    if with_depth:
        rig = scenes[0].rig
        summary["rig"] = {"fx_px": rig.fx, "baseline_m": rig.baseline_m, "cx_offset_px": rig.cx_offset_px}
        summary["depth_edges_m"] = [e if math.isfinite(e) else "inf" for e in settings.depth_edges_m]
        summary["depth_target_range_m"] = list(settings.depth_target_range_m)
    if settings.lidar_fraction and "onnx_lidar" in settings.methods:
        summary["lidar_hints"] = {"fraction": settings.lidar_fraction, "noise_px": settings.lidar_noise_px,
                                  "seed": settings.seed}
    return summary, maps
