"""Training samples: the cache keys and stores the scene recipe, samples are seeded and keep both views'
ground truth consistent through the camera effects and the geometric augmentation."""

from dataclasses import replace

import numpy as np
import pytest

from stereo_depth_ros.core.synthetic import ROBOT_SCENE_MIX, CameraEffectsConfig, SceneConfig, scene_for_index
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.training import dataset
from stereo_depth_ros.training.dataset import (
    AugmentConfig,
    DataConfig,
    SceneCache,
    SyntheticStereoDataset,
    render_scenes,
)

SCENE = SceneConfig(height=96, width=192, max_disparity_px=24, max_layers=6, kind_mix=ROBOT_SCENE_MIX)
HINTS = ClassicalHintConfig(max_disparity_px=32)
AUGMENT = AugmentConfig(crop_height=64, crop_width=128, scale_range=(0.9, 1.0))


def test_the_cache_key_changes_with_the_scene_recipe_and_the_cache_version(tmp_path, monkeypatch):
    mixed = SceneCache(tmp_path, seed=1, scene=SCENE, hints=HINTS)
    layered = SceneCache(tmp_path, seed=1, scene=replace(SCENE, kind_mix=(("layered", 1.0),)), hints=HINTS)
    assert mixed.directory != layered.directory
    assert SceneCache(tmp_path, seed=1, scene=SCENE, hints=HINTS).directory == mixed.directory
    monkeypatch.setattr(dataset, "CACHE_VERSION", dataset.CACHE_VERSION + 1)
    assert SceneCache(tmp_path, seed=1, scene=SCENE, hints=HINTS).directory != mixed.directory


def test_the_cache_stores_both_views_ground_truth_and_the_kind(tmp_path):
    cache = SceneCache(tmp_path, seed=3, scene=SCENE, hints=HINTS)
    stored = cache.load(2)
    scene = scene_for_index(2, seed=3, config=SCENE)
    assert set(stored) == {"left", "right", "disparity", "occluded", "disparity_right", "specular", "kind",
                           "classical_hints"}
    np.testing.assert_array_equal(stored["disparity_right"], scene.disparity_right_px)
    np.testing.assert_array_equal(stored["specular"], scene.specular)
    assert str(stored["kind"]) == scene.kind
    assert stored["classical_hints"].dtype == np.float16
    again = cache.load(2)  # read back from the file
    np.testing.assert_array_equal(again["left"], scene.left)


def test_scenes_rendered_ahead_in_two_processes_are_the_ones_the_samples_read(tmp_path):
    config = DataConfig(seed=5, num_scenes=3, scene=SCENE, augment=AUGMENT, hints=HINTS)
    assert render_scenes(config, processes=2, cache_root=tmp_path) == 3
    cache = SceneCache(tmp_path, seed=5, scene=SCENE, hints=HINTS)
    written_ns = [cache.path(index).stat().st_mtime_ns for index in range(3)]
    np.testing.assert_array_equal(cache.load(1)["left"], scene_for_index(1, seed=5, config=SCENE).left)
    assert render_scenes(config, processes=2, cache_root=tmp_path) == 0  # nothing missing: nothing rendered
    SyntheticStereoDataset(config, max_disparity=32.0, cache_root=tmp_path)[0]
    assert [cache.path(index).stat().st_mtime_ns for index in range(3)] == written_ns
    assert sorted(path.name for path in cache.directory.iterdir()) == ["000000.npz", "000001.npz", "000002.npz"]


def _sample(index: int, augment: AugmentConfig, cache_root) -> dict[str, np.ndarray]:
    data = SyntheticStereoDataset(DataConfig(seed=4, num_scenes=3, scene=SCENE, augment=augment, hints=HINTS),
                                  max_disparity=32.0, cache_root=cache_root)
    return data[index]


def test_samples_depend_only_on_seed_and_index_and_carry_the_right_view_disparity(tmp_path):
    first = _sample(5, AUGMENT, tmp_path)
    again = _sample(5, AUGMENT, tmp_path)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert set(first) == {"left", "right", "disparity", "disparity_right", "hint_disparity", "hint_mask"}
    for key in ("left", "right"):
        assert first[key].shape == (3, 64, 128) and first[key].dtype == np.float32
        assert 0.0 <= first[key].min() and first[key].max() <= 1.0
    assert first["disparity_right"].shape == (1, 64, 128) and first["disparity_right"].dtype == np.float32


@pytest.mark.parametrize("index", range(4))
def test_a_sample_keeps_the_two_disparity_maps_consistent(tmp_path, index):
    sample = _sample(index, AUGMENT, tmp_path)
    left, right = sample["disparity"][0], sample["disparity_right"][0]
    rows, columns = np.nonzero(np.isfinite(left))
    match = np.rint(columns - left[rows, columns]).astype(int)
    inside = (match >= 0) & (match < left.shape[1])
    at_match = right[rows[inside], match[inside]]
    difference = np.abs(at_match - left[rows[inside], columns[inside]])
    assert np.isfinite(at_match).mean() > 0.3    # the rest: occluded, or under the right-only occluder (big in
    #                                              such a small crop)
    assert np.nanmedian(difference) < 0.3        # nearest-neighbour resizing of both maps


def test_the_camera_effects_reach_the_samples(tmp_path):
    off = CameraEffectsConfig(exposure_stops=0.0, gain_difference=0.0, white_balance_difference=0.0,
                              gamma_range=(1.0, 1.0), vignetting_max=0.0, optical_blur_sigma_px=(0.0, 0.0),
                              motion_blur_probability=0.0, shot_noise_max=0.0, read_noise_max=0.0,
                              raw_rig_probability=0.0)
    plain = _sample(1, replace(AUGMENT, camera=off), tmp_path)
    effects = _sample(1, AUGMENT, tmp_path)
    assert not np.allclose(plain["left"], effects["left"], atol=2 / 255)
    np.testing.assert_array_equal(plain["disparity"], effects["disparity"])  # geometry draws come after
