"""Left-right consistency check on hand-made and z-buffered disparity maps; the hint check."""

from __future__ import annotations

import numpy as np
import pytest

from stereo_depth_ros.core.consistency import hint_check, left_right_check
from stereo_depth_ros.core.errors import ImageShapeError, StereoDepthError

HEIGHT, WIDTH = 30, 47  # non-square


def _forward_warp(disparity_left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-view disparity by z-buffered forward warping, and the left occlusion mask.

    Left pixel x lands at x_r = x - d; when two land on the same x_r the larger
    disparity (nearer surface) wins and the other left pixel is occluded.
    """
    height, width = disparity_left.shape
    right = np.full((height, width), np.nan, dtype=np.float32)
    winner = np.full((height, width), -1, dtype=np.int64)
    for y in range(height):
        for x in range(width):
            x_r = x - int(disparity_left[y, x])
            if x_r >= 0 and not disparity_left[y, x] <= right[y, x_r]:
                right[y, x_r] = disparity_left[y, x]
                winner[y, x_r] = x
    visible = np.zeros((height, width), dtype=bool)
    for y in range(height):
        visible[y, winner[y][winner[y] >= 0]] = True
    return right, visible


def test_a_plane_is_kept_except_where_x_minus_d_leaves_the_image() -> None:
    left = np.full((HEIGHT, WIDTH), 5.0, dtype=np.float32)
    right = np.full((HEIGHT, WIDTH), 5.0, dtype=np.float32)
    result = left_right_check(left, right)
    assert not result.keep_mask[:, :5].any()  # x - 5 < 0: no match in the right image
    assert result.keep_mask[:, 5:].all()
    assert np.isnan(result.disparity_px[:, :5]).all()
    np.testing.assert_array_equal(result.disparity_px[:, 5:], 5.0)
    assert result.disparity_px.dtype == np.float32 and result.confidence is None


def test_occluded_background_next_to_a_foreground_box_is_rejected() -> None:
    left = np.full((HEIGHT, WIDTH), 4.0, dtype=np.float32)
    left[8:20, 20:31] = 12.0  # foreground box, 8 px more disparity
    right, visible = _forward_warp(left)
    result = left_right_check(left, right)
    x = np.arange(WIDTH)
    expected = visible & (x - left >= 0)
    np.testing.assert_array_equal(result.keep_mask, expected)
    # the 8 background columns left of the box are hidden behind it in the right view
    assert not result.keep_mask[10, 12:20].any() and result.keep_mask[10, 4:12].all()


def test_max_diff_px_is_inclusive() -> None:
    left = np.full((HEIGHT, WIDTH), 5.0, dtype=np.float32)
    right = np.full((HEIGHT, WIDTH), 6.0, dtype=np.float32)
    assert left_right_check(left, right, max_diff_px=1.0).keep_mask[:, 5:].all()
    assert not left_right_check(left, right, max_diff_px=0.99).keep_mask.any()


def test_nearest_rounds_half_up_and_linear_interpolates() -> None:
    left = np.full((HEIGHT, WIDTH), np.nan, dtype=np.float32)
    right = np.full((HEIGHT, WIDTH), np.nan, dtype=np.float32)
    left[3, 10] = 2.5  # x_r = 7.5
    right[3, 7], right[3, 8] = 2.0, 3.0
    nearest = left_right_check(left, right, max_diff_px=0.25, sampling="nearest")
    linear = left_right_check(left, right, max_diff_px=0.25, sampling="linear")
    assert not nearest.keep_mask[3, 10]  # samples x_r = 8: |2.5 - 3.0| = 0.5
    assert linear.keep_mask[3, 10]  # samples 2.5 exactly
    assert nearest.keep_mask.sum() == 0 and linear.keep_mask.sum() == 1
    right[3, 7] = np.nan
    assert not left_right_check(left, right, sampling="linear").keep_mask[3, 10]
    assert left_right_check(left, right, sampling="nearest").keep_mask[3, 10]


def test_nan_right_view_and_out_of_image_matches_are_rejected() -> None:
    left = np.full((HEIGHT, WIDTH), 2.3, dtype=np.float32)
    left[:, 40] = -8.0  # x_r = 48 > W - 1
    right = np.full((HEIGHT, WIDTH), 2.3, dtype=np.float32)
    right[:, 20] = np.nan
    result = left_right_check(left, right)
    assert not result.keep_mask[:, 2].any()  # x_r = -0.3 < 0, even though it rounds to 0
    assert result.keep_mask[:, 3].all()
    assert not result.keep_mask[:, 40].any()
    assert not result.keep_mask[:, 22].any()  # x_r = 19.7 -> 20 is NaN: no evidence
    assert result.keep_mask[:, 23].all()


def test_nan_left_stays_invalid_and_confidence_is_zeroed_where_rejected() -> None:
    left = np.full((HEIGHT, WIDTH), 3.0, dtype=np.float32)
    left[5, 30] = np.nan
    right = np.full((HEIGHT, WIDTH), 3.0, dtype=np.float32)
    right[7, 27] = 9.0  # contradicts left (7, 30)
    confidence = np.full((HEIGHT, WIDTH), 0.7, dtype=np.float32)
    result = left_right_check(left, right, confidence=confidence)
    assert np.isnan(result.disparity_px[5, 30]) and not result.keep_mask[5, 30]
    assert np.isnan(result.disparity_px[7, 30])
    assert result.confidence is not None
    assert result.confidence[7, 30] == 0.0 and result.confidence[5, 30] == 0.0
    assert result.confidence[:, :3].max() == 0.0
    assert result.confidence[10, 10] == pytest.approx(0.7)


def test_float64_maps_are_accepted_and_float32_returned() -> None:
    left = np.full((HEIGHT, WIDTH), 5.0)
    result = left_right_check(left, left.copy(), sampling="linear")
    assert result.disparity_px.dtype == np.float32 and result.keep_mask[:, 5:].all()


def test_bad_arguments_name_the_problem() -> None:
    good = np.zeros((HEIGHT, WIDTH), np.float32)
    with pytest.raises(ImageShapeError, match=r"\(30, 47\).*\(47, 30\)"):
        left_right_check(good, np.zeros((WIDTH, HEIGHT), np.float32))
    with pytest.raises(ImageShapeError, match="floating"):
        left_right_check(good.astype(np.int16), good)
    with pytest.raises(StereoDepthError, match="max_diff_px=-1"):
        left_right_check(good, good, max_diff_px=-1)
    with pytest.raises(StereoDepthError, match="sampling='cubic'"):
        left_right_check(good, good, sampling="cubic")  # type: ignore[arg-type]
    with pytest.raises(ImageShapeError, match="confidence"):
        left_right_check(good, good, confidence=np.zeros((3, 3), np.float32))


def test_the_hint_check_rejects_only_where_a_hint_disagrees_beyond_the_tolerance() -> None:
    disparity = np.full((HEIGHT, WIDTH), 20.0, np.float32)
    disparity[0, 0] = np.nan
    hints = np.full((HEIGHT, WIDTH), np.nan, np.float32)
    hints[1, :4] = [22.0, 17.9, 22.5, 20.0]      # at the tolerance (kept), beyond it both ways, equal
    hints[0, 0] = 20.0                           # a hint does not make an invalid pixel valid
    result = hint_check(disparity, hints, max_diff_px=2.0)
    assert result.keep_mask[1, :4].tolist() == [True, False, False, True]
    assert not result.keep_mask[0, 0] and result.keep_mask.sum() == HEIGHT * WIDTH - 3
    assert np.isnan(result.disparity_px[~result.keep_mask]).all()
    assert (result.disparity_px[result.keep_mask] == 20.0).all() and result.disparity_px.dtype == np.float32
    assert result.confidence is None


def test_the_hint_check_names_bad_arguments() -> None:
    good = np.zeros((HEIGHT, WIDTH), np.float32)
    with pytest.raises(ImageShapeError, match="hints"):
        hint_check(good, np.zeros((3, 3), np.float32), max_diff_px=2.0)
    with pytest.raises(StereoDepthError, match="max_diff_px=0"):
        hint_check(good, good, max_diff_px=0)
