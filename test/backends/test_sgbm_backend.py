"""OpenCV SGBM/BM backends on a synthetic slanted-plane pair with known disparity."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from stereo_depth_ros.backends.base import StereoBackend
from stereo_depth_ros.backends.errors import ConfigurationError, InputError
from stereo_depth_ros.backends.sgbm_backend import BmBackend, BmParams, SgbmBackend, SgbmParams
from stereo_depth_ros.core.metrics import evaluate_disparity

HEIGHT, WIDTH = 120, 200  # non-square
OFFSET, SLOPE = 10.0, 0.04  # right-view disparity d_R(x_r) = 10 + 0.04 x_r: 10 .. 18 px


def _truth() -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(WIDTH, dtype=np.float32)
    left = OFFSET + SLOPE * (x - OFFSET) / (1 + SLOPE)
    right = OFFSET + SLOPE * x
    return np.tile(left, (HEIGHT, 1)), np.tile(right, (HEIGHT, 1))


@pytest.fixture()
def slanted_pair(make_pair: Callable) -> tuple[np.ndarray, np.ndarray]:
    return make_pair(HEIGHT, WIDTH, disparity_right_px=lambda x: OFFSET + SLOPE * x, color=True)


@pytest.mark.parametrize("backend", [
    SgbmBackend(SgbmParams(num_disparities=32)),
    SgbmBackend(SgbmParams(num_disparities=32, mode="sgbm", use_color=True)),
    BmBackend(BmParams(num_disparities=32, block_size=9)),
], ids=["sgbm-3way-grey", "sgbm-colour", "bm"])
def test_matchers_recover_a_slanted_plane_in_both_views(
        backend: SgbmBackend | BmBackend, slanted_pair: tuple[np.ndarray, np.ndarray],
        interior_region: Callable) -> None:
    assert isinstance(backend, StereoBackend)
    left, right = slanted_pair
    truth_left, truth_right = _truth()
    result_left = backend.match(left, right)
    result_right = backend.match_right(left, right)
    metrics_left = evaluate_disparity(result_left.disparity_px, truth_left,
                                      mask=interior_region(HEIGHT, WIDTH, left_view=True, margin=8, search=40))
    metrics_right = evaluate_disparity(result_right.disparity_px, truth_right,
                                       mask=interior_region(HEIGHT, WIDTH, left_view=False, margin=8, search=40))
    # measured: bad-1 <= 0.1 %, EPE 0.05 .. 0.13 px, density >= 99.9 %
    for metrics in (metrics_left, metrics_right):
        assert metrics.bad(1.0) < 1.0
        assert metrics.epe_px < 0.25
        assert metrics.density_percent > 99.0


def test_invalid_pixels_are_nan_with_zero_confidence(
        slanted_pair: tuple[np.ndarray, np.ndarray]) -> None:
    backend = SgbmBackend(SgbmParams(min_disparity=4, num_disparities=32,
                                     pad_left_border=False))
    result = backend.match(*slanted_pair)
    invalid = np.isnan(result.disparity_px)
    assert invalid[:, :36].all()  # OpenCV's unsearched band: min_disparity + num_disparities
    assert np.nanmin(result.disparity_px) >= 4.0  # OpenCV's (4 - 1) * 16 marker is gone
    np.testing.assert_array_equal(result.confidence, (~invalid).astype(np.float32))
    assert result.disparity_px.dtype == np.float32 and result.confidence.dtype == np.float32


def test_match_checked_keeps_the_consistent_plane_and_counts_what_it_rejects(
        slanted_pair: tuple[np.ndarray, np.ndarray]) -> None:
    backend = SgbmBackend(SgbmParams(num_disparities=32, pad_left_border=False))
    plain = backend.match(*slanted_pair)
    checked = backend.match_checked(*slanted_pair, max_diff_px=1.0)
    kept = np.isfinite(checked.result.disparity_px)
    np.testing.assert_array_equal(checked.result.disparity_px[kept], plain.disparity_px[kept])
    assert kept[8:-8, 40:-48].mean() > 0.99   # consistent (the right view has no estimate in its last 32 px)
    rejected = np.isfinite(plain.disparity_px) & ~kept
    assert checked.rejected_fraction == pytest.approx(rejected.mean())
    assert (checked.result.confidence[~kept] == 0).all()


def test_right_view_invalid_border_is_on_the_right(
        slanted_pair: tuple[np.ndarray, np.ndarray]) -> None:
    backend = SgbmBackend(SgbmParams(num_disparities=32, pad_left_border=False))
    invalid = np.isnan(backend.match_right(*slanted_pair).disparity_px)
    assert invalid[:, -32:].all() and invalid[:, :20].mean() < 0.05


@pytest.mark.parametrize("backend_class", [SgbmBackend, BmBackend])
def test_padded_left_border_gets_estimates_where_the_match_exists(
        backend_class: type[SgbmBackend | BmBackend],
        slanted_pair: tuple[np.ndarray, np.ndarray]) -> None:
    params_class = SgbmParams if backend_class is SgbmBackend else BmParams
    padded = backend_class(params_class(num_disparities=32, block_size=9))  # type: ignore[arg-type]
    unpadded = backend_class(params_class(num_disparities=32, block_size=9,  # type: ignore[arg-type]
                                          pad_left_border=False))
    band = np.zeros((HEIGHT, WIDTH), dtype=bool)
    band[8:-8, 16:32] = True  # x - d >= 5: the match is inside the right image
    truth_left, _ = _truth()
    metrics = evaluate_disparity(padded.match(*slanted_pair).disparity_px, truth_left, mask=band)
    assert metrics.density_percent > 95.0 and metrics.bad(1.0) < 3.0
    assert np.isnan(unpadded.match(*slanted_pair).disparity_px[band]).all()


def test_hints_are_accepted_and_ignored(slanted_pair: tuple[np.ndarray, np.ndarray]) -> None:
    from stereo_depth_ros.backends.base import SparseHints

    backend = SgbmBackend(SgbmParams(num_disparities=32))
    plain = backend.match(*slanted_pair)
    hinted = backend.match(*slanted_pair, hints=SparseHints(np.full((HEIGHT, WIDTH), 3.0,
                                                                    np.float32)))
    np.testing.assert_array_equal(plain.disparity_px, hinted.disparity_px)


def test_default_penalties_follow_channels_and_block_size() -> None:
    params = SgbmParams(block_size=5)
    assert params.penalties(1) == (8 * 25, 32 * 25)
    assert params.penalties(3) == (8 * 3 * 25, 32 * 3 * 25)
    assert SgbmParams(p1=10, p2=50).penalties(3) == (10, 50)


@pytest.mark.parametrize(("factory", "message"), [
    (lambda: SgbmParams(num_disparities=100), "num_disparities=100"),
    (lambda: SgbmParams(block_size=4), "block_size=4 must be odd"),
    (lambda: SgbmParams(p1=500, p2=400), "p2=400 must be greater than p1=500"),
    (lambda: SgbmParams(mode="fast"), "mode='fast'"),  # type: ignore[arg-type]
    (lambda: SgbmParams(uniqueness_ratio=150), "uniqueness_ratio=150"),
    (lambda: BmParams(block_size=3), "block_size=3 must be odd, 5..255"),
    (lambda: BmParams(pre_filter_cap=64), "pre_filter_cap=64"),
])
def test_out_of_range_parameters_are_rejected(factory: Callable[[], object],
                                              message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        factory()


def test_images_narrower_than_the_search_range_are_rejected() -> None:
    image = np.zeros((40, 100), np.uint8)
    with pytest.raises(InputError, match="width 100 px must exceed num_disparities=128"):
        SgbmBackend().match(image, image)


def test_describe_lists_the_parameters() -> None:
    facts = BmBackend(BmParams(num_disparities=48)).describe()
    assert facts["backend"] == "bm" and facts["num_disparities"] == "48"
    assert facts["max_disparity_px"] == "48"
