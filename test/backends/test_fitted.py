"""FittedBackend: a classical matcher on the pair shrunk to an inference size, maps back at input size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from stereo_depth_ros.backends import FittedBackend, StereoBackend, scaled_num_disparities
from stereo_depth_ros.backends.errors import ConfigurationError
from stereo_depth_ros.backends.sgbm_backend import BmBackend, BmParams, SgbmBackend, SgbmParams

HEIGHT, WIDTH = 240, 360  # non-square
OFFSET, SLOPE = 20.0, 0.04  # right-view disparity d_R(x_r) = 20 + 0.04 x_r: 20 .. 34 px
MAX_DISPARITY_PX = 64


def _sgbm(num_disparities: int) -> SgbmBackend:
    return SgbmBackend(SgbmParams(num_disparities=num_disparities))


@pytest.fixture()
def pair(make_pair: Callable) -> tuple[np.ndarray, np.ndarray]:
    return make_pair(HEIGHT, WIDTH, disparity_right_px=lambda x: OFFSET + SLOPE * x, color=True)


@pytest.mark.parametrize("checked", [False, True])
def test_sgbm_at_half_size_agrees_with_full_size_within_two_px(pair: tuple[np.ndarray, np.ndarray],
                                                                checked: bool,
                                                                interior_region: Callable) -> None:
    full = _sgbm(MAX_DISPARITY_PX)
    half = FittedBackend(_sgbm, (HEIGHT // 2, WIDTH // 2), max_disparity_px=MAX_DISPARITY_PX)
    run = (lambda b: b.match_checked(*pair, max_diff_px=1.0).result) if checked else (lambda b: b.match(*pair))
    reference, fitted = run(full), run(half)
    assert fitted.disparity_px.shape == fitted.confidence.shape == (HEIGHT, WIDTH)
    assert fitted.disparity_px.dtype == np.float32
    inside = interior_region(HEIGHT, WIDTH, left_view=True, margin=12, search=48)
    both = inside & np.isfinite(reference.disparity_px) & np.isfinite(fitted.disparity_px)
    assert both.mean() > 0.5 * inside.mean()
    error = np.abs(fitted.disparity_px - reference.disparity_px)[both]
    assert np.median(error) < 1.0, np.median(error)
    assert np.percentile(error, 95) < 2.0, np.percentile(error, 95)
    # Values are in input px, not half-size px: 20 .. 34 px on this plane.
    assert 19.0 < np.median(fitted.disparity_px[both]) < 35.0


def test_invalid_is_nan_with_zero_confidence(pair: tuple[np.ndarray, np.ndarray]) -> None:
    left, right = (image.copy() for image in pair)
    right[:80] = np.random.default_rng(5).integers(0, 256, right[:80].shape, dtype=np.uint8)  # unmatched band
    result = FittedBackend(_sgbm, (HEIGHT // 2, WIDTH // 2), max_disparity_px=MAX_DISPARITY_PX).match(left, right)
    invalid = np.isnan(result.disparity_px)
    assert invalid[:80].mean() > 0.5 and invalid[120:200, 100:300].mean() < 0.05
    assert (result.confidence[invalid] == 0.0).all()
    assert ((result.confidence >= 0.0) & (result.confidence <= 1.0)).all()


def test_the_search_range_scales_with_the_image() -> None:
    built: list[int] = []

    def factory(num_disparities: int) -> StereoBackend:
        built.append(num_disparities)
        return _sgbm(num_disparities)

    backend = FittedBackend(factory, (HEIGHT // 2, WIDTH // 2), max_disparity_px=100)
    assert built == [112]  # at full scale, built at construction so bad options fail early
    assert backend.name == "sgbm" and backend.max_disparity_px == 100.0
    # 100 px at scale 1/2 is 50 px: 64 disparities at the shrunk size, 128 input px.
    assert backend.max_disparity_px_for((HEIGHT, WIDTH)) == pytest.approx(128.0)
    image = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    backend.match(image, image)
    assert built == [112, 64]
    assert backend.describe()["inference_size"] == f"{WIDTH // 2}x{HEIGHT // 2}"


def test_an_image_smaller_than_the_inference_size_is_matched_unchanged(pair: tuple[np.ndarray, np.ndarray]) -> None:
    left, right = pair
    fitted = FittedBackend(_sgbm, (HEIGHT + 32, WIDTH + 64), max_disparity_px=MAX_DISPARITY_PX).match(left, right)
    direct = _sgbm(MAX_DISPARITY_PX).match(left, right)
    np.testing.assert_array_equal(fitted.disparity_px, direct.disparity_px)


def test_bm_on_grey_images_is_wrapped_too(pair: tuple[np.ndarray, np.ndarray], interior_region: Callable) -> None:
    left, right = (image[..., 0].copy() for image in pair)
    backend = FittedBackend(lambda n: BmBackend(BmParams(num_disparities=n)), (HEIGHT // 2, WIDTH // 2),
                            max_disparity_px=MAX_DISPARITY_PX)
    result = backend.match(left, right)
    assert backend.name == "bm" and result.disparity_px.shape == (HEIGHT, WIDTH)
    valid = np.isfinite(result.disparity_px) & interior_region(HEIGHT, WIDTH, left_view=True, margin=12, search=48)
    assert valid.any() and 19.0 < np.median(result.disparity_px[valid]) < 35.0


def test_scaled_num_disparities_rounds_up_to_sixteen() -> None:
    assert scaled_num_disparities(128, 1.0) == 128
    assert scaled_num_disparities(128, 0.5) == 64
    assert scaled_num_disparities(100, 0.5) == 64
    assert scaled_num_disparities(128, 0.05) == 16
    with pytest.raises(ConfigurationError, match="scale"):
        scaled_num_disparities(128, 1.5)


def test_a_bad_fit_size_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"fit_hw must be \(H, W\) with both >= 1 px, got \(0, 320\)"):
        FittedBackend(_sgbm, (0, 320), max_disparity_px=MAX_DISPARITY_PX)
