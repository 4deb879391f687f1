"""Classical hints on a known shift: accurate where given, at any matching scale."""

import numpy as np
import pytest

from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints


def test_classical_hints_are_accurate_where_given_on_a_shifted_texture():
    rng = np.random.default_rng(3)
    texture = (rng.random((120, 260)) * 255).astype(np.uint8)
    texture = np.repeat(np.repeat(texture, 2, axis=0), 2, axis=1)[:200, :480]
    shift = 23
    left, right = texture[:, :400], texture[:, shift:shift + 400]   # x_right = x_left - shift
    hints = classical_hints(left, right, ClassicalHintConfig(max_disparity_px=64))
    sure = np.isfinite(hints)
    assert sure.mean() > 0.5
    assert np.median(np.abs(hints[sure] - shift)) < 0.25
    assert (np.abs(hints[sure] - shift) > 1).mean() < 0.02


@pytest.mark.parametrize("scale", [0.5, 0.37])
def test_classical_hints_at_a_reduced_scale_come_back_at_full_size_in_full_size_pixels(scale):
    rng = np.random.default_rng(4)
    texture = (rng.random((60, 130)) * 255).astype(np.uint8)
    texture = np.repeat(np.repeat(texture, 4, axis=0), 4, axis=1)[:200, :480]   # coarse enough to match shrunk
    shift = 24
    left, right = texture[:, :400], texture[:, shift:shift + 400]
    hints = classical_hints(left, right, ClassicalHintConfig(max_disparity_px=64, scale=scale))
    assert hints.shape == (200, 400) and hints.dtype == np.float32
    sure = np.isfinite(hints)
    assert sure.mean() > 0.5
    assert np.median(np.abs(hints[sure] - shift)) < 1.0  # in full-size pixels, though matched shrunk
    with pytest.raises(ValueError, match="scale"):
        ClassicalHintConfig(scale=0.0)
    with pytest.raises(ValueError, match="scale"):
        ClassicalHintConfig(scale=1.5)
