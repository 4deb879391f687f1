"""The generator's ground truth is exact in both views, the held-out split is pinned, and the camera
effects keep the ground truth valid."""

import hashlib
from dataclasses import replace

import cv2
import numpy as np
import pytest

from stereo_depth_ros.core.synthetic import (
    HELD_OUT_KINDS,
    HELD_OUT_SEED,
    ROBOT_SCENE_MIX,
    SCENE_KINDS,
    CameraEffectsConfig,
    SceneConfig,
    SceneConfigError,
    apply_camera_effects,
    held_out_scenes,
    random_raw_rig,
    raw_view,
    scene_for_index,
)
from stereo_depth_ros.core.synthetic.raycast import Lighting, Material, Plane, RigGeometry, render
from stereo_depth_ros.core.synthetic.textures import MipTexture

CONFIG = SceneConfig(height=160, width=288, max_disparity_px=64)
NO_EFFECTS = CameraEffectsConfig(exposure_stops=0.0, gain_difference=0.0, white_balance_difference=0.0,
                                 gamma_range=(1.0, 1.0), vignetting_max=0.0, optical_blur_sigma_px=(0.0, 0.0),
                                 motion_blur_probability=0.0, shot_noise_max=0.0, read_noise_max=0.0,
                                 raw_rig_probability=0.0)


def _kind(kind: str, config: SceneConfig = CONFIG) -> SceneConfig:
    return replace(config, kind_mix=((kind, 1.0),))


def _warp_errors(left: np.ndarray, right: np.ndarray, disparity: np.ndarray,
                 offset_px: float = 0.0) -> np.ndarray:
    """|left - right warped by the disparity (+ offset)|, mean over channels, (H, W) grey levels."""
    height, width = disparity.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(right, xs - disparity - offset_px, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.abs(warped.astype(np.float32) - left.astype(np.float32)).mean(axis=2)


@pytest.mark.parametrize("kind", SCENE_KINDS)
@pytest.mark.parametrize("index", [0, 1])
def test_warping_the_right_view_with_the_ground_truth_reproduces_the_left_view(kind, index):
    scene = scene_for_index(index, seed=5, config=_kind(kind))
    assert scene.kind == kind
    visible = ~scene.occluded & ~scene.specular
    error = _warp_errors(scene.left, scene.right, scene.disparity_px)
    assert visible.mean() > 0.45
    assert np.median(error[visible]) < 1.0            # grey levels out of 255
    assert np.mean(error[visible] > 20) < 0.03        # only texture-edge and thin-structure sampling differences
    # a wrong disparity (off by 2 px) does not warp as well
    wrong = _warp_errors(scene.left, scene.right, scene.disparity_px, offset_px=2.0)
    assert np.mean(wrong[visible]) > 2 * np.mean(error[visible])


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_the_right_view_disparity_agrees_with_the_left_one_at_matched_pixels(kind):
    scene = scene_for_index(2, seed=5, config=_kind(kind))
    height, width = scene.disparity_px.shape
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    match = np.rint(xs - scene.disparity_px).astype(int)
    matched = ~scene.occluded & (match >= 0) & (match < width)
    right_at_match = scene.disparity_right_px[ys[matched], match[matched]]
    difference = np.abs(right_at_match - scene.disparity_px[matched])
    assert np.mean(np.isnan(right_at_match)) < 0.01   # a visible left pixel's match is visible in the left
    assert np.nanmedian(difference) < 0.05
    assert np.nanmean(difference > 1.0) < 0.02        # rounding to the nearest column at depth edges
    # right pixels matching beyond the left image's right edge are not visible in the left view
    right = scene.disparity_right_px
    beyond = np.isfinite(right) & (xs + np.nan_to_num(right) > width - 0.5)
    assert not beyond.any()
    assert np.isnan(right[:, -1]).all()   # the last column always sees past the left image
    assert scene.disparity_right_px.dtype == np.float32 and np.nanmin(right) >= 0.5 - 1e-3


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_every_disparity_is_valid_and_within_the_range(kind):
    for index in range(2):
        scene = scene_for_index(index, seed=6, config=_kind(kind))
        assert np.isfinite(scene.disparity_px).all() and scene.disparity_px.dtype == np.float32
        assert scene.disparity_px.min() >= 0.5 - 1e-3
        assert scene.disparity_px.max() <= CONFIG.max_disparity_px + 1e-3
        assert scene.left.shape == scene.right.shape == (CONFIG.height, CONFIG.width, 3)
        assert scene.left.dtype == np.uint8


def test_a_highlight_does_not_follow_the_surface_disparity():
    """A glossy wall at 2 m lit by a lamp next to the camera: the highlight is the lamp's mirror image, 4 m
    away, so it moves by half the wall's disparity between the views, and is marked specular."""
    flat = MipTexture(np.full((16, 16, 3), 0.3, np.float32))
    rig = RigGeometry(width=320, height=200, focal_px=250.0, baseline_m=0.2, cx_px=161.0, cy_px=97.0)
    wall = Plane(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]),
                 Material(flat, 10.0, specular=1.0, shininess=400.0))
    lamp = Lighting(np.full(3, 0.2), points=(np.array([0.3, -0.2, 0.0]),), point_colours=(np.full(3, 3.0),))
    scene = render([wall], lamp, rig, kind="glossy", max_disparity_px=64.0, backdrop=Material(flat, 1.0),
                   backdrop_disparity_px=1.0)
    np.testing.assert_allclose(scene.disparity_px, 25.0, rtol=1e-5)   # 250 px * 0.2 m / 2 m
    left, right = (image.astype(np.float32).mean(axis=2) for image in (scene.left, scene.right))
    shift = np.unravel_index(np.argmax(left), left.shape)[1] - np.unravel_index(np.argmax(right), right.shape)[1]
    assert abs(shift - 12.5) <= 2.0
    peak = np.unravel_index(np.argmax(left), left.shape)
    assert scene.specular[peak] and not scene.specular[0, 0] and not scene.occluded[peak]
    assert np.median(_warp_errors(scene.left, scene.right, scene.disparity_px)[scene.specular]) > 10.0


def test_scenes_are_deterministic_and_the_mix_draws_every_kind():
    mixed = replace(CONFIG, kind_mix=ROBOT_SCENE_MIX)
    first, again = scene_for_index(4, seed=5, config=mixed), scene_for_index(4, seed=5, config=mixed)
    assert np.array_equal(first.left, again.left) and np.array_equal(first.disparity_px, again.disparity_px)
    assert np.array_equal(first.disparity_right_px, again.disparity_right_px, equal_nan=True)
    rng_kinds = {scene_for_index(i, seed=9, config=replace(mixed, height=32, width=64, max_disparity_px=16)).kind
                 for i in range(60)}
    assert rng_kinds == set(SCENE_KINDS)


def test_scenes_of_one_kind_span_the_disparity_range():
    maxima = [scene_for_index(i, seed=5, config=CONFIG).disparity_px.max() for i in range(6)]
    assert max(maxima) > 0.7 * CONFIG.max_disparity_px
    assert all(m <= CONFIG.max_disparity_px + 1e-3 for m in maxima)


def test_held_out_seed_gives_scenes_unlike_the_training_stream():
    held_out = scene_for_index(0, seed=HELD_OUT_SEED, config=CONFIG)
    for index in range(20):  # far from each of the first training scenes, in images and in geometry
        training = scene_for_index(index, seed=1, config=CONFIG)
        assert np.abs(held_out.left.astype(np.float32) - training.left).mean() > 20.0, index
        assert np.nanmean(np.abs(held_out.disparity_px - training.disparity_px)) > 3.0, index


def _digest(scene) -> str:
    digest = hashlib.sha256()
    for array in (scene.left, scene.right, scene.disparity_px, scene.occluded):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


#: sha256 (first 16 hex digits) of left, right, disparity and occlusion bytes, computed with the generator
#: as it was before the new kinds (commit c3856ab). The held-out split must never change.
HELD_OUT_DEFAULT = ("0ee8a3cb08434456", "b7775e3967faeb79", "540bd2ea8dbadd42", "1212717d073d9412",
                    "3e216f67322b948a", "98e7508bea7e0d83")
HELD_OUT_BENCHMARK = ("7d054eaedac32177", "782396088e8362e5", "00cfffa8eaf85f17")   # 640x480, 160 px
TEST_STREAM = ("a04eb0a94c072ee0", "4afbc8343f38ecab", "9d87800cdb678b7d")         # seed 5, CONFIG


def test_the_layered_held_out_split_renders_bit_identically_to_the_original_generator():
    assert tuple(_digest(s) for s in held_out_scenes("layered", count=6)) == HELD_OUT_DEFAULT
    assert tuple(_digest(scene_for_index(i, seed=HELD_OUT_SEED, config=SceneConfig())) for i in range(6)) == \
        HELD_OUT_DEFAULT
    benchmark = SceneConfig(height=480, width=640, max_disparity_px=160.0)
    assert tuple(_digest(scene_for_index(i, seed=HELD_OUT_SEED, config=benchmark)) for i in range(3)) == \
        HELD_OUT_BENCHMARK
    assert tuple(_digest(scene_for_index(i, seed=5, config=CONFIG)) for i in range(3)) == TEST_STREAM


def test_held_out_scenes_of_the_new_kinds_are_fixed_and_their_own():
    assert set(HELD_OUT_KINDS) == set(SCENE_KINDS) - {"layered"}
    small = SceneConfig(height=48, width=96, max_disparity_px=24)
    for kind in HELD_OUT_KINDS:
        scenes = held_out_scenes(kind, count=2, config=small)
        assert [s.kind for s in scenes] == [kind, kind]
        again = held_out_scenes(kind, count=2, config=small)
        assert all(np.array_equal(a.disparity_px, b.disparity_px) for a, b in zip(scenes, again))
        assert not np.array_equal(scenes[0].disparity_px, scenes[1].disparity_px)
    with pytest.raises(SceneConfigError, match="unknown kind 'forest'"):
        held_out_scenes("forest")


def test_bad_scene_configurations_name_the_offending_value():
    with pytest.raises(SceneConfigError, match="unknown kind 'tunnel'"):
        SceneConfig(kind_mix=(("tunnel", 1.0),))
    with pytest.raises(SceneConfigError, match="'ground' must be >= 0, got -1.0"):
        SceneConfig(kind_mix=(("ground", -1.0), ("layered", 1.0)))
    with pytest.raises(SceneConfigError, match="positive weight"):
        SceneConfig(kind_mix=(("ground", 0.0),))
    with pytest.raises(SceneConfigError, match="raw_rig_probability"):
        CameraEffectsConfig(raw_rig_probability=1.5)
    with pytest.raises(SceneConfigError, match="gamma_range"):
        CameraEffectsConfig(gamma_range=(1.2, 0.8))


# ---------------------------------------------------------------------------------------- camera effects

def test_a_raw_rig_is_distorted_rotated_and_rectifies_its_raw_view_back():
    rng = np.random.default_rng(3)
    rig = random_raw_rig(rng, 288, 160)
    assert np.abs(rig.left.D).max() > 1e-3 and not np.allclose(rig.left.R, np.eye(3))
    assert not np.allclose(rig.left.K, rig.right.K)
    scene = scene_for_index(0, seed=5, config=_kind("ground"))
    raw = raw_view(scene.left, rig.left)
    assert np.abs(raw.astype(np.float32) - scene.left).mean() > 5.0  # the raw view really differs
    back, _ = rig.rectify(raw, raw_view(scene.right, rig.right))
    interior = np.s_[8:-8, 8:-8]
    error = np.abs(back.astype(np.float32) - scene.left)[interior].mean(axis=2)
    assert np.median(error) < 2.0   # two bilinear resamplings


def test_through_a_raw_rig_and_every_effect_the_ground_truth_still_warps_right_onto_left():
    scene = scene_for_index(1, seed=5, config=_kind("corridor"))
    visible = ~scene.occluded & ~scene.specular
    visible[:, :4] = visible[:, -4:] = False
    visible[:4], visible[-4:] = False, False
    clean = np.median(_warp_errors(scene.left, scene.right, scene.disparity_px)[visible])
    rig_only = replace(NO_EFFECTS, raw_rig_probability=1.0)
    left, right = apply_camera_effects(scene.left, scene.right, np.random.default_rng(0), rig_only)
    assert not np.array_equal(left, scene.left)
    assert np.median(_warp_errors(left, right, scene.disparity_px)[visible]) < clean + 1.5
    wrong = np.median(_warp_errors(left, right, scene.disparity_px, offset_px=2.0)[visible])
    assert wrong > np.median(_warp_errors(left, right, scene.disparity_px)[visible])


def test_camera_effects_differ_per_camera_and_are_seeded():
    grey = np.full((120, 200, 3), 128, np.uint8)
    config = replace(NO_EFFECTS, gain_difference=0.12, white_balance_difference=0.06)
    left, right = apply_camera_effects(grey, grey, np.random.default_rng(1), config)
    assert np.abs(left.astype(int) - right.astype(int)).max() >= 2    # exposure / white balance differ
    again = apply_camera_effects(grey, grey, np.random.default_rng(1), config)
    assert np.array_equal(left, again[0]) and np.array_equal(right, again[1])
    # vignetting darkens the corners, not the centre
    left, _ = apply_camera_effects(grey, grey, np.random.default_rng(2), replace(NO_EFFECTS, vignetting_max=0.45))
    assert left[:10, :10].mean() <= left[55:65, 95:105].mean()
    # shot noise grows with the signal, read noise is there in the dark
    ramp = np.repeat(np.linspace(10, 240, 200).astype(np.uint8)[None, :, None], 120, axis=0).repeat(3, axis=2)
    noisy, _ = apply_camera_effects(ramp, ramp, np.random.default_rng(3),
                                    replace(NO_EFFECTS, shot_noise_max=0.004, read_noise_max=0.006))
    residual = noisy.astype(np.float32) - ramp
    assert residual[:, :40].std() > 0.5 and residual[:, 160:].std() > 0.5
    clean, _ = apply_camera_effects(ramp, ramp, np.random.default_rng(3), NO_EFFECTS)
    assert np.array_equal(clean, ramp)   # everything off: the images pass through unchanged
