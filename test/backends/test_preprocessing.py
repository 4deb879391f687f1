"""Fit rule, its inverse, hint scattering and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from stereo_depth_ros.backends.base import SparseHints
from stereo_depth_ros.backends.errors import InputError, ModelError
from stereo_depth_ros.backends.preprocessing import (
    FitTransform,
    compute_fit,
    decode_checked_outputs,
    decode_network_outputs,
    fit_hints,
    pad_to_model,
    prepare_network_batch,
    resize_to_fit,
    to_nchw_float,
    to_rgb,
    unfit_confidence,
    unfit_disparity,
    validate_hints,
    validate_image_pair,
)

MODEL_HW = (64, 96)  # (Hm, Wm), non-square
INPUT_HW = (100, 130)  # height-limited: s = 0.64 -> resized (64, 83), 13 px pad right


def fit_image(image: np.ndarray, fit: FitTransform) -> np.ndarray:
    """The fit rule on an image: resize, then pad right and bottom."""
    return pad_to_model(resize_to_fit(image, fit), fit)


def _ramp_rgb(height: int, width: int) -> np.ndarray:
    """RGB uint8 with red = column ramp, green = row ramp, blue = 7 (all distinct)."""
    red = np.tile(np.linspace(0, 255, width), (height, 1))
    green = np.tile(np.linspace(0, 255, height)[:, None], (1, width))
    blue = np.full((height, width), 7.0)
    return np.dstack([red, green, blue]).round().astype(np.uint8)


def test_compute_fit_shrinks_by_the_limiting_side() -> None:
    fit = compute_fit((500, 741), (480, 640))
    assert fit.resized_hw == (432, 640)  # width-limited: s = 640 / 741
    assert fit.scale == pytest.approx(640 / 741)
    assert (fit.pad_bottom, fit.pad_right) == (48, 0)
    fit = compute_fit(INPUT_HW, MODEL_HW)
    assert fit.resized_hw == (64, 83)  # height-limited: s = 0.64
    assert (fit.pad_bottom, fit.pad_right) == (0, 13)
    assert fit.disparity_scale == pytest.approx(130 / 83)


def test_compute_fit_never_upscales_a_small_image() -> None:
    fit = compute_fit((40, 50), MODEL_HW)
    assert fit.scale == 1.0
    assert fit.resized_hw == (40, 50)
    assert fit.is_identity_resize
    assert fit.disparity_scale == 1.0
    assert (fit.pad_bottom, fit.pad_right) == (24, 46)


def test_fit_image_pads_right_and_bottom_with_edge_values() -> None:
    image = _ramp_rgb(40, 50)  # fits: only padded
    fitted = fit_image(image, compute_fit(image.shape[:2], MODEL_HW))
    assert fitted.shape == (*MODEL_HW, 3)
    np.testing.assert_array_equal(fitted[:40, :50], image)  # top-left untouched
    np.testing.assert_array_equal(fitted[:40, 50:], np.repeat(image[:, -1:], 46, axis=1))
    np.testing.assert_array_equal(fitted[40:, :50], np.repeat(image[-1:], 24, axis=0))


def test_fit_image_resizes_with_area_averaging_into_the_top_left() -> None:
    image = _ramp_rgb(*INPUT_HW)
    fit = compute_fit(INPUT_HW, MODEL_HW)
    fitted = fit_image(image, fit)
    assert fitted.shape == (*MODEL_HW, 3)
    # red is a column ramp: the resized row still spans 0..255 within the 83 valid columns
    red = fitted[10, :, 0].astype(int)
    assert red[0] <= 3 and red[82] >= 252
    assert np.all(red[83:] == red[82])  # padding repeats the last valid column


def test_unfit_disparity_multiplies_values_by_input_over_resized_width() -> None:
    fit = compute_fit(INPUT_HW, MODEL_HW)
    model_map = np.full(MODEL_HW, 5.0, dtype=np.float32)
    model_map[:, 83:] = 1000.0  # padding must not leak back
    disparity = unfit_disparity(model_map, fit)
    assert disparity.shape == INPUT_HW and disparity.dtype == np.float32
    np.testing.assert_allclose(disparity, 5.0 * 130 / 83, rtol=1e-6)


def test_fit_then_unfit_round_trips_a_disparity_ramp() -> None:
    """Disparity D(x) at input size, shrunk as the network would see it, comes back as D."""
    fit = compute_fit(INPUT_HW, MODEL_HW)
    x = np.arange(INPUT_HW[1], dtype=np.float32)
    disparity_input = np.tile(10.0 + 0.1 * x, (INPUT_HW[0], 1)).astype(np.float32)
    resized_w = fit.resized_hw[1]
    model_view = fit_image(disparity_input, fit) * np.float32(resized_w / INPUT_HW[1])
    back = unfit_disparity(model_view, fit)
    np.testing.assert_allclose(back[:, 2:-2], disparity_input[:, 2:-2], atol=0.05)


def test_unfit_confidence_clips_and_zeroes_nan() -> None:
    fit = compute_fit((40, 50), MODEL_HW)
    conf = np.full(MODEL_HW, 1.7, dtype=np.float32)
    conf[0, 0] = np.nan
    conf[1, 1] = -0.3
    out = unfit_confidence(conf, fit)
    assert out[0, 0] == 0.0 and out[1, 1] == 0.0 and out[5, 5] == 1.0


def test_to_rgb_replicates_grey_and_keeps_rgb() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_rgb(grey)
    assert rgb.shape == (3, 4, 3)
    np.testing.assert_array_equal(rgb[..., 2], grey)
    colour = _ramp_rgb(3, 4)
    assert to_rgb(colour) is colour


def test_to_nchw_float_scales_to_unit_range_and_keeps_channel_order() -> None:
    image = _ramp_rgb(5, 6)
    batch = to_nchw_float([image, image[::-1].copy()])
    assert batch.shape == (2, 3, 5, 6) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, 0], image[..., 0] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(batch[0, 2], 7 / 255.0, rtol=1e-6)  # blue stays channel 2
    np.testing.assert_allclose(batch[1, 1], image[::-1, :, 1] / 255.0, rtol=1e-6)


def test_fit_hints_keeps_hints_sparse_and_scales_values() -> None:
    fit = compute_fit(INPUT_HW, MODEL_HW)
    hints = np.full(INPUT_HW, np.nan, dtype=np.float32)
    points = [(3, 5, 20.0), (50, 64, 30.0), (99, 129, 40.0), (20, 100, 12.5)]
    for y, x, d in points:
        hints[y, x] = d
    disparity, mask = fit_hints(hints, fit)
    assert disparity.shape == MODEL_HW and mask.shape == MODEL_HW
    assert mask.sum() == len(points)  # one model pixel per hint, nothing blurred
    assert not mask[:, 83:].any()  # never in the padding
    scale = 83 / 130
    for y, x, d in points:
        ty, tx = int((y + 0.5) * 64 / 100), int((x + 0.5) * 83 / 130)
        assert mask[ty, tx] == 1.0
        assert disparity[ty, tx] == pytest.approx(d * scale)
    assert np.all(disparity[mask == 0] == 0.0)


def test_fit_hints_collision_keeps_the_hint_nearest_the_pixel_centre_not_the_mean() -> None:
    fit = compute_fit((100, 288), MODEL_HW)  # width-limited: s = 1/3, resized (33, 96)
    assert fit.resized_hw == (33, 96)
    hints = np.full((100, 288), np.nan, dtype=np.float32)
    hints[31, 30] = 8.0  # model pixel (10, 10), 1/3 px left of its centre
    hints[31, 31] = 30.0  # model pixel (10, 10), exactly at its centre
    hints[31, 32] = 90.0  # model pixel (10, 10), 1/3 px right of its centre
    disparity, mask = fit_hints(hints, fit)
    assert mask.sum() == 1.0 and mask[10, 10] == 1.0
    assert disparity[10, 10] == pytest.approx(30.0 / 3)  # the central hint, not the mean 14.2


def test_fit_hints_is_the_identity_without_resize() -> None:
    fit = compute_fit((40, 50), MODEL_HW)
    rng = np.random.default_rng(1)
    hints = np.where(rng.random((40, 50)) < 0.1, rng.random((40, 50)) * 30, np.nan)
    disparity, mask = fit_hints(hints.astype(np.float32), fit)
    np.testing.assert_array_equal(mask[:40, :50] == 1, np.isfinite(hints))
    np.testing.assert_allclose(disparity[:40, :50][np.isfinite(hints)],
                               hints[np.isfinite(hints)], rtol=1e-6)
    assert not disparity[:40, :50][~np.isfinite(hints)].any()  # 0 where no hint, and in the padding
    assert not disparity[40:].any() and not disparity[:, 50:].any() and not mask[40:].any() and not mask[:, 50:].any()


def test_validate_hints_rejects_infinite_negative_and_misshaped_maps() -> None:
    good = np.full((10, 12), np.nan, dtype=np.float32)
    assert validate_hints(good, (10, 12)).dtype == np.float32
    with pytest.raises(InputError, match="infinite"):
        validate_hints(np.where(np.eye(10, 12) > 0, np.inf, np.nan), (10, 12))
    with pytest.raises(InputError, match="negative"):
        validate_hints(np.full((10, 12), -1.0), (10, 12))
    with pytest.raises(InputError, match=r"\(12, 10\)"):
        validate_hints(np.zeros((12, 10), np.float32), (10, 12))
    with pytest.raises(InputError, match="floating"):
        validate_hints(np.zeros((10, 12), np.int32), (10, 12))


@pytest.mark.parametrize(("left", "right", "message"), [
    (np.zeros((40, 50), np.uint16), np.zeros((40, 50), np.uint16), "uint8"),
    (np.zeros((40, 50, 4), np.uint8), np.zeros((40, 50, 4), np.uint8), r"\(40, 50, 4\)"),
    (np.zeros((40, 50), np.uint8), np.zeros((40, 51), np.uint8), r"\(40, 50\) and \(40, 51\)"),
    (np.zeros((40, 50, 3), np.uint8), np.zeros((40, 50), np.uint8), "same shape"),
    (np.zeros((20, 50), np.uint8), np.zeros((20, 50), np.uint8), "minimum is 32x32"),
])
def test_validate_image_pair_names_the_problem(left: np.ndarray, right: np.ndarray,
                                               message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_image_pair(left, right)


def test_prepare_network_batch_feeds_the_resized_pair_padded_right_and_the_scattered_hints() -> None:
    image_left = _ramp_rgb(*INPUT_HW)
    image_right = image_left[:, :, ::-1].copy()  # a different image
    hints = np.full(INPUT_HW, np.nan, np.float32)
    hints[50, 64] = 10.0
    batch = prepare_network_batch(image_left, image_right, model_hw=MODEL_HW, hints=SparseHints(hints))
    assert batch.feeds["left"].shape == batch.feeds["right"].shape == (1, 3, *MODEL_HW)
    np.testing.assert_allclose(batch.feeds["right"][0, :, :, :83],
                               fit_image(image_right, batch.fit)[:, :83].transpose(2, 0, 1) / 255.0, atol=1e-6)
    np.testing.assert_array_equal(batch.feeds["left"][0, :, :, 83:],  # padded on the right
                                  np.repeat(batch.feeds["left"][0, :, :, 82:83], 13, axis=2))
    assert batch.feeds["hint_mask"].shape == (1, 1, *MODEL_HW) and batch.feeds["hint_mask"].sum() == 1.0
    y, x = np.argwhere(batch.feeds["hint_mask"][0, 0])[0]
    assert (y, x) == (int((50 + 0.5) * 0.64), int((64 + 0.5) * 83 / 130))
    assert batch.feeds["hint_disparity"][0, 0, y, x] == pytest.approx(10.0 * 83 / 130)


def test_decode_marks_negative_and_non_finite_disparity_invalid() -> None:
    batch = prepare_network_batch(np.zeros((40, 50), np.uint8), np.zeros((40, 50), np.uint8),
                                  model_hw=MODEL_HW)
    disparity = np.full((1, 1, *MODEL_HW), 3.0, np.float32)
    disparity[0, 0, 1, 1] = -0.5
    disparity[0, 0, 2, 2] = np.inf
    disparity[0, 0, 3, 3] = np.nan
    confidence = np.full((1, 1, *MODEL_HW), 0.8, np.float32)
    result = decode_network_outputs(disparity, confidence, batch)
    for y, x in ((1, 1), (2, 2), (3, 3)):
        assert np.isnan(result.disparity_px[y, x]) and result.confidence[y, x] == 0.0
    assert result.disparity_px[10, 10] == 3.0
    assert result.confidence[10, 10] == pytest.approx(0.8)


def test_decode_rejects_outputs_of_the_wrong_shape() -> None:
    batch = prepare_network_batch(np.zeros((40, 50), np.uint8), np.zeros((40, 50), np.uint8),
                                  model_hw=MODEL_HW)
    half = np.zeros((1, 1, 32, 48), np.float32)
    with pytest.raises(ModelError, match=r"\(1, 1, 32, 48\)"):
        decode_network_outputs(half, half, batch)


def test_decode_checked_rejects_where_the_right_view_disagrees_by_more_than_the_tolerance_in_input_px() -> None:
    """Input 130 px wide, resized to 83: 1 input px is 0.64 model px."""
    batch = prepare_network_batch(_ramp_rgb(*INPUT_HW), _ramp_rgb(*INPUT_HW), model_hw=MODEL_HW)
    left = np.full((1, 1, *MODEL_HW), 4.0, np.float32)
    right = np.full((1, 1, *MODEL_HW), 4.0, np.float32)
    right[0, 0, :, 20:30] = 4.5      # 0.5 model px = 0.78 input px off: kept at 1 input px
    right[0, 0, :, 40:50] = 4.8      # 0.8 model px = 1.25 input px off: rejected
    confidence = np.full((1, 1, *MODEL_HW), 0.9, np.float32)
    result, rejected = decode_checked_outputs(left, confidence, right, batch, max_diff_px=1.0)
    kept_model = np.ones(83, bool)
    kept_model[:4] = False                        # x - 4 < 0: no right pixel
    kept_model[44:54] = False                     # x_r = x - 4 in 40..49
    assert rejected == pytest.approx(1.0 - kept_model.mean())
    column_scale = 130 / 83
    for x_model in (10, 25, 60, 47):
        x_input = int((x_model + 0.5) * column_scale)
        assert np.isfinite(result.disparity_px[50, x_input]) == kept_model[x_model], x_model
    assert np.nanmax(np.abs(result.disparity_px - 4.0 * column_scale)) < 1e-4
    assert np.all(result.confidence[np.isnan(result.disparity_px)] == 0.0)
    loose, _ = decode_checked_outputs(left, confidence, right, batch, max_diff_px=2.0)
    assert np.isfinite(loose.disparity_px[50, int((47 + 0.5) * column_scale)])
