"""The generator's ground truth is exact: warping the right view with it gives the left view."""

import cv2
import numpy as np
import pytest

from stereo_depth_ros.core.synthetic import HELD_OUT_SEED, SceneConfig, scene_for_index

CONFIG = SceneConfig(height=160, width=288, max_disparity_px=64)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_warping_the_right_view_with_the_ground_truth_reproduces_the_left_view(index):
    scene = scene_for_index(index, seed=5, config=CONFIG)
    height, width = scene.disparity_px.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(scene.right, xs - scene.disparity_px, ys, cv2.INTER_LINEAR)
    visible = ~scene.occluded
    error = np.abs(warped.astype(np.float32) - scene.left.astype(np.float32)).mean(axis=2)
    assert visible.mean() > 0.6
    assert np.median(error[visible]) < 1.0            # grey levels out of 255
    assert np.mean(error[visible] > 20) < 0.03        # only texture-edge sampling differences
    # a wrong disparity (off by 2 px) does not warp as well
    shifted = cv2.remap(scene.right, xs - scene.disparity_px - 2.0, ys, cv2.INTER_LINEAR)
    wrong = np.abs(shifted.astype(np.float32) - scene.left.astype(np.float32)).mean(axis=2)
    assert np.mean(wrong[visible]) > 2 * np.mean(error[visible])


def test_scenes_are_deterministic_and_span_the_disparity_range():
    first = scene_for_index(4, seed=5, config=CONFIG)
    again = scene_for_index(4, seed=5, config=CONFIG)
    assert np.array_equal(first.left, again.left) and np.array_equal(first.disparity_px, again.disparity_px)
    maxima = [scene_for_index(i, seed=5, config=CONFIG).disparity_px.max() for i in range(6)]
    assert max(maxima) > 0.7 * CONFIG.max_disparity_px
    assert all(m <= CONFIG.max_disparity_px + 1e-3 for m in maxima)
    assert np.all(first.disparity_px >= 0.5 - 1e-3)


def test_held_out_seed_gives_scenes_unlike_the_training_stream():
    held_out = scene_for_index(0, seed=HELD_OUT_SEED, config=CONFIG)
    for index in range(20):  # far from each of the first training scenes, in images and in geometry
        training = scene_for_index(index, seed=1, config=CONFIG)
        assert np.abs(held_out.left.astype(np.float32) - training.left).mean() > 20.0, index
        assert np.nanmean(np.abs(held_out.disparity_px - training.disparity_px)) > 3.0, index
