"""The shared pipeline on a rendered scene with exact ground truth (SGBM backend)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stereo_depth_ros.backends import create_backend
from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.synthetic import SceneConfig, scene_for_index
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints
from stereo_depth_ros.pipeline.stereo_pipeline import PipelineConfig, StereoPipeline

FX, FY, CX_LEFT, CX_RIGHT, CY, BASELINE_M = 300.0, 310.0, 170.0, 164.0, 118.0, 0.09
MODELS = Path(__file__).resolve().parents[2] / "models"
WIDTH, HEIGHT = 352, 224


BUNDLED_640X480 = Path(__file__).resolve().parents[2] / "models" / "stereo_net_640x480.onnx"


@pytest.fixture(scope="module")
def scene():
    return scene_for_index(3, seed=77, config=SceneConfig(height=HEIGHT, width=WIDTH, max_disparity_px=48))


@pytest.fixture(scope="module")
def camera():
    K = np.array([[FX, 0, CX_LEFT], [0, FY, CY], [0, 0, 1.0]])
    left = CameraCalibration(WIDTH, HEIGHT, K, [], np.eye(3), np.hstack([K, np.zeros((3, 1))]))
    P_right = np.array([[FX, 0, CX_RIGHT, -FX * BASELINE_M], [0, FY, CY, 0], [0, 0, 1, 0]])
    right = CameraCalibration(WIDTH, HEIGHT, np.array([[FX, 0, CX_RIGHT], [0, FY, CY], [0, 0, 1.0]]), [],
                              np.eye(3), P_right)
    return StereoCameraModel.from_calibrations(left, right, rectified_input=True)


@pytest.fixture(scope="module")
def pipeline():
    return StereoPipeline(create_backend("sgbm", num_disparities=64), PipelineConfig())


def test_depth_matches_ground_truth_in_metres_where_disparity_is_right(scene, camera, pipeline):
    out = pipeline.process(scene.left, scene.right, camera)
    true_depth = FX * BASELINE_M / (scene.disparity_px - (CX_LEFT - CX_RIGHT))
    # well in front of the rig (near infinity a 0.5 px error is a huge depth error)
    in_front = scene.disparity_px > (CX_LEFT - CX_RIGHT) + 5.0
    beyond_infinity = out.disparity_px <= (CX_LEFT - CX_RIGHT)
    assert beyond_infinity.any() and np.all(np.isnan(out.depth_m[beyond_infinity]))
    good = in_front & (np.abs(out.disparity_px - scene.disparity_px) < 0.5)
    assert good.mean() > 0.5
    relative = np.abs(out.depth_m[good] - true_depth[good]) / true_depth[good]
    assert np.median(relative) < 0.01
    assert out.depth_m.dtype == np.float32 and out.depth_m.shape == (HEIGHT, WIDTH)


def test_left_right_check_removes_pixels_and_keeps_the_accurate_ones(scene, camera, pipeline):
    checked = pipeline.process(scene.left, scene.right, camera)
    unchecked = replace_config(pipeline, lr_check=False).process(scene.left, scene.right, camera)
    assert checked.lr_rejected_fraction > 0.0
    assert np.isfinite(checked.disparity_px).sum() < np.isfinite(unchecked.disparity_px).sum()
    error_checked = np.nanmean(np.abs(checked.disparity_px - scene.disparity_px) > 2)
    error_unchecked = np.nanmean(np.abs(unchecked.disparity_px - scene.disparity_px) > 2)
    assert error_checked < error_unchecked
    # invalid is NaN everywhere and confidence is 0 there
    invalid = ~np.isfinite(checked.disparity_px)
    assert np.all(checked.confidence[invalid] == 0.0)
    assert np.all(np.isnan(checked.depth_m[invalid]))


def test_points_are_decimated_coloured_and_in_the_left_optical_frame(scene, camera, pipeline):
    out = replace_config(pipeline, point_cloud_decimation=2).process(scene.left, scene.right, camera)
    assert out.points.xyz_m.shape == (HEIGHT // 2, WIDTH // 2, 3)
    np.testing.assert_array_equal(out.points.rgb, scene.left[::2, ::2])   # rectified input: the left image
    z = out.depth_m[::2, ::2]
    rows, columns = np.mgrid[0:HEIGHT:2, 0:WIDTH:2]
    expected = np.stack([(columns - CX_LEFT) * z / FX, (rows - CY) * z / FY, z], axis=-1)
    assert np.isfinite(z).mean() > 0.5
    np.testing.assert_allclose(out.points.xyz_m, expected, rtol=1e-5, atol=1e-6)   # NaN exactly where depth is


def test_depth_range_and_confidence_threshold_invalidate(scene, camera, pipeline):
    out = replace_config(pipeline, min_depth_m=0.8, max_depth_m=2.0).process(scene.left, scene.right, camera)
    finite = out.depth_m[np.isfinite(out.depth_m)]
    assert finite.size > 0 and finite.min() >= 0.8 and finite.max() <= 2.0

    # SGBM's confidence is 1 wherever it has a disparity; the network's is graded.
    network = StereoPipeline(create_backend("onnx", model_path=str(MODELS / "stereo_net_512x384.onnx"),
                                            intra_op_threads=1), PipelineConfig(lr_check=False, compute_points=False))
    base = network.process(scene.left, scene.right, camera)
    valid = np.isfinite(base.disparity_px)
    threshold = float(np.median(base.confidence[valid]))
    assert 0.0 < threshold < 1.0
    kept = replace_config(network, confidence_threshold=threshold).process(scene.left, scene.right, camera)
    below = valid & (base.confidence < threshold)
    assert below.sum() > 0.1 * valid.sum()
    assert np.all(np.isnan(kept.disparity_px[below])) and np.all(np.isnan(kept.depth_m[below]))
    above = valid & (base.confidence >= threshold)
    np.testing.assert_array_equal(kept.disparity_px[above], base.disparity_px[above])   # the rest untouched


def test_every_stage_is_timed(scene, camera, pipeline):
    out = pipeline.process(scene.left, scene.right, camera)
    assert set(out.timings_ms) == {"rectify", "hints", "match", "depth", "points"}


def test_classical_hint_settings_trade_hint_density_for_hint_accuracy(scene, camera):
    from stereo_depth_ros.backends import create_backend

    network = create_backend("onnx", model_path=BUNDLED_640X480, providers=["cpu"])   # a backend that uses hints
    search_px = int(np.ceil(network.max_disparity_px_for(scene.left.shape[:2])))
    pipeline = StereoPipeline(network, PipelineConfig(hints="none", lr_check=False, compute_points=False))

    def hint_density_and_error(uniqueness_ratio: int, lr_max_diff_px: int) -> tuple[float, float]:
        hint_config = ClassicalHintConfig(uniqueness_ratio=uniqueness_ratio, lr_max_diff_px=lr_max_diff_px)
        pipeline.config = PipelineConfig(hints="classical", lr_check=False, compute_points=False,
                                         classical_hints=hint_config)
        out = pipeline.process(scene.left, scene.right, camera)
        hints = classical_hints(scene.left, scene.right, replace(hint_config, max_disparity_px=search_px))
        assert out.hint_fraction == np.isfinite(hints).mean()  # the pipeline's hints, searched as its backend
        wrong = np.abs(hints - scene.disparity_px) > 1.0
        return out.hint_fraction, float(wrong[np.isfinite(hints)].mean())

    loose, default, strict = (hint_density_and_error(ratio, 1) for ratio in (0, 15, 50))
    tolerant = hint_density_and_error(15, 8)
    assert loose[0] > default[0] > strict[0] > 0.05  # fewer hints the stricter the uniqueness test
    assert strict[1] < default[1] < loose[1]          # ... and fewer of them wrong by more than 1 px
    assert tolerant[0] > default[0] and tolerant[1] > default[1]  # a looser left-right check: more, worse
    pipeline.config = PipelineConfig(hints="none", compute_points=False)
    assert pipeline.process(scene.left, scene.right, camera).hint_fraction == 0.0


def test_the_left_right_check_also_rejects_pixels_that_disagree_with_their_hint(scene, camera):
    network = create_backend("onnx", model_path=BUNDLED_640X480, providers=["cpu"])
    search_px = int(np.ceil(network.max_disparity_px_for(scene.left.shape[:2])))
    hints = classical_hints(scene.left, scene.right, ClassicalHintConfig(max_disparity_px=search_px))

    def run(**changes):
        config = replace(PipelineConfig(hints="classical", compute_points=False), **changes)
        return StereoPipeline(network, config).process(scene.left, scene.right, camera)

    left_right_only, with_hints = run(lr_hint_max_diff_px=0.0), run()
    assert PipelineConfig().lr_hint_max_diff_px == 2.0
    disagrees = np.abs(left_right_only.disparity_px - hints) > 2.0
    assert 0 < disagrees.sum() < 0.1 * disagrees.size
    np.testing.assert_array_equal(with_hints.disparity_px,
                                  np.where(disagrees, np.nan, left_right_only.disparity_px))
    assert np.all(with_hints.confidence[disagrees] == 0.0)
    assert with_hints.lr_rejected_fraction == pytest.approx(left_right_only.lr_rejected_fraction
                                                            + disagrees.mean())
    # the rejected pixels are mostly wrong ones
    assert (np.abs(left_right_only.disparity_px - scene.disparity_px)[disagrees] > 2.0).mean() > 0.5
    # without the left-right check the output stays dense
    assert np.isfinite(run(lr_check=False).disparity_px).all()


def test_pipeline_config_rejects_nonsense():
    with pytest.raises(ValueError, match="hints"):
        PipelineConfig(hints="radar")
    with pytest.raises(ValueError, match="decimation"):
        PipelineConfig(point_cloud_decimation=0)
    with pytest.raises(ValueError, match="lr_hint_max_diff_px"):
        PipelineConfig(lr_hint_max_diff_px=-1.0)


def replace_config(pipeline: StereoPipeline, **changes) -> StereoPipeline:
    return StereoPipeline(pipeline.backend, replace(pipeline.config, **changes))


def test_no_hints_are_computed_for_a_backend_that_ignores_them(scene, camera):
    """SGBM ignores hints: asking for classical hints must not run a second SGBM for nothing."""
    from stereo_depth_ros.backends import create_backend

    backend = create_backend("sgbm", num_disparities=64)
    assert backend.accepts_hints is False
    out = StereoPipeline(backend, PipelineConfig(hints="classical")).process(scene.left, scene.right, camera)
    assert out.hint_fraction == 0.0
    plain = StereoPipeline(backend, PipelineConfig(hints="none")).process(scene.left, scene.right, camera)
    np.testing.assert_array_equal(np.isnan(out.disparity_px), np.isnan(plain.disparity_px))
