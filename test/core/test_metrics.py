"""bad-N, EPE and density on hand-made maps with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stereo_depth_ros.core.errors import ImageShapeError, StereoDepthError
from stereo_depth_ros.core.metrics import combine, evaluate_disparity

INF, NAN = np.inf, np.nan
# 2x3, non-square. Ground truth known at 1, 2, 4, 10 (inf and NaN = unknown).
GT = np.array([[1.0, 2.0, INF],
               [4.0, NAN, 10.0]])
# errors where both exist: 0.5, 2.5, 0.9; gt 4 has no prediction; predictions
# where the ground truth is unknown (3.0, 7.0) are ignored.
PRED = np.array([[1.5, 4.5, 3.0],
                 [NAN, 7.0, 10.9]], dtype=np.float32)


def test_hand_made_maps_give_the_known_numbers() -> None:
    metrics = evaluate_disparity(PRED, GT)
    assert metrics.num_gt_px == 4 and metrics.num_kept_px == 3
    assert metrics.density_percent == pytest.approx(75.0)
    # bad-N counts the missing prediction as an error
    assert metrics.bad(1.0) == pytest.approx(50.0)  # 2.5 and the missing one
    assert metrics.bad(2.0) == pytest.approx(50.0)
    assert metrics.bad(3.0) == pytest.approx(25.0)  # only the missing one
    assert metrics.bad(1.0, kept=True) == pytest.approx(100 / 3)
    assert metrics.bad(3.0, kept=True) == 0.0
    assert metrics.epe_px == pytest.approx((0.5 + 2.5 + 0.9) / 3, rel=1e-6)


def test_an_error_of_exactly_n_is_not_bad_and_zero_ground_truth_is_valid() -> None:
    gt = np.array([[0.0, 5.0, 6.0]])
    pred = np.array([[1.0, 7.0, 6.0]])
    metrics = evaluate_disparity(pred, gt, thresholds_px=(1.0, 2.0))
    assert metrics.num_gt_px == 3
    assert metrics.bad(1.0) == pytest.approx(100 / 3)  # only the error of 2
    assert metrics.bad(2.0) == 0.0
    kitti = evaluate_disparity(pred, gt, thresholds_px=(1.0,), gt_zero_is_invalid=True)
    assert kitti.num_gt_px == 2 and kitti.bad(1.0) == pytest.approx(50.0)


def test_mask_restricts_the_evaluation_region() -> None:
    mask = np.array([[True, False, True],
                     [False, True, True]])
    metrics = evaluate_disparity(PRED, GT, mask=mask)
    assert metrics.num_gt_px == 2 and metrics.num_kept_px == 2  # gt 1 and gt 10
    assert metrics.bad(1.0) == 0.0
    assert metrics.epe_px == pytest.approx(0.7, rel=1e-6)


def test_empty_sets_give_nan_not_zero() -> None:
    nothing = evaluate_disparity(np.full((2, 3), NAN), GT)
    assert nothing.bad(1.0) == 100.0 and nothing.density_percent == 0.0
    assert math.isnan(nothing.epe_px) and math.isnan(nothing.bad(1.0, kept=True))
    no_gt = evaluate_disparity(PRED, np.full((2, 3), INF))
    assert no_gt.num_gt_px == 0
    assert math.isnan(no_gt.bad(2.0)) and math.isnan(no_gt.density_percent)


def test_as_dict_and_lookup_of_thresholds() -> None:
    metrics = evaluate_disparity(PRED, GT, thresholds_px=(0.5, 2.0))
    table = metrics.as_dict()
    assert table["bad0_5"] == pytest.approx(75.0)
    assert table["bad2_kept"] == pytest.approx(100 / 3)
    assert set(table) >= {"epe_px", "density_percent", "num_gt_px", "num_kept_px"}
    with pytest.raises(StereoDepthError, match="threshold 3"):
        metrics.bad(3)


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ImageShapeError, match=r"\(2, 3\).*\(3, 2\)"):
        evaluate_disparity(PRED, GT.T.copy())
    with pytest.raises(ImageShapeError, match="floating"):
        evaluate_disparity(np.zeros((2, 3), np.int32), GT)
    with pytest.raises(ImageShapeError, match="mask"):
        evaluate_disparity(PRED, GT, mask=np.ones((2, 3), np.uint8))
    with pytest.raises(StereoDepthError, match="thresholds_px"):
        evaluate_disparity(PRED, GT, thresholds_px=(0.0,))


def test_combine_pools_the_frames_pixels_not_their_means() -> None:
    # frame a: 4 pixels with ground truth, 1 bad (error 3), EPE (0 + 0 + 0 + 3) / 4; all kept.
    a = evaluate_disparity(np.array([[1.0, 2.0], [3.0, 7.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]),
                           thresholds_px=(2.0,))
    # frame b: 2 pixels with ground truth, one without a prediction (bad, not kept), one exact.
    b = evaluate_disparity(np.array([[NAN, 5.0]]), np.array([[1.0, 5.0]]), thresholds_px=(2.0,))
    pooled = combine([a, b])
    assert (pooled.num_gt_px, pooled.num_kept_px) == (6, 5)
    assert pooled.bad(2.0) == pytest.approx(100.0 * 2 / 6)          # 1 + 1 bad of 6, not mean(25, 50)
    assert pooled.bad(2.0, kept=True) == pytest.approx(100.0 * 1 / 5)
    assert pooled.epe_px == pytest.approx(3.0 / 5)
    assert pooled.density_percent == pytest.approx(100.0 * 5 / 6)


def test_combine_refuses_mixed_thresholds_and_nothing() -> None:
    a = evaluate_disparity(np.ones((2, 2)), np.ones((2, 2)), thresholds_px=(1.0,))
    b = evaluate_disparity(np.ones((2, 2)), np.ones((2, 2)), thresholds_px=(2.0,))
    with pytest.raises(ValueError, match="same thresholds"):
        combine([a, b])
    with pytest.raises(ValueError, match="nothing to combine"):
        combine([])
