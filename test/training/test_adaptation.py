"""training.adaptation: seeded samples of in-memory frames, hold-out split, before/after report."""

from __future__ import annotations

import numpy as np
import pytest

from stereo_depth_ros.training.adaptation import (
    AdaptConfig,
    AdaptFrame,
    crop_size,
    make_adapt_sample,
    split_frames,
)
from stereo_depth_ros.training.model import StereoNetConfig

HEIGHT, WIDTH = 150, 290     # not multiples of 32, not square


def _frame(stamp_ns: int = 0, seed: int = 0) -> AdaptFrame:
    rng = np.random.default_rng(seed)
    hints = np.full((HEIGHT, WIDTH), np.nan, np.float16)
    rows, columns = rng.integers(0, HEIGHT, 2000), rng.integers(0, WIDTH, 2000)
    hints[rows, columns] = rng.uniform(1.0, 40.0, 2000).astype(np.float16)
    return AdaptFrame(stamp_ns=stamp_ns, left=rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8),
                      right=rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), hints_px=hints)


CONFIG = AdaptConfig(crop_height=128, crop_width=256, hint_input_probability=1.0,
                     model=StereoNetConfig(max_disparity=48))


def test_samples_depend_only_on_seed_and_index():
    frame = _frame()
    first = make_adapt_sample(frame, np.random.default_rng([1, 11, 5]), CONFIG)
    again = make_adapt_sample(frame, np.random.default_rng([1, 11, 5]), CONFIG)
    other = make_adapt_sample(frame, np.random.default_rng([1, 11, 6]), CONFIG)
    assert all(np.array_equal(first[key], again[key], equal_nan=True) for key in first)
    assert not np.array_equal(first["left_input"], other["left_input"])
    assert first["left"].shape == (3, 128, 256) and first["hints"].shape == (1, 128, 256)
    hinted = first["hint_mask"] > 0
    assert hinted.any()                                                               # probability 1: hints given
    assert np.array_equal(first["hint_disparity"][hinted], first["hints"][hinted])   # inputs are real hints
    assert np.all(first["hint_disparity"][~hinted] == 0)
    assert np.all(np.isfinite(first["hints"][hinted]))


def test_a_sample_is_a_crop_of_the_frame_and_its_hints():
    frame = _frame()
    sample = make_adapt_sample(frame, np.random.default_rng([1, 11, 0]), CONFIG)
    left = (sample["left"].transpose(1, 2, 0) * 255.0).round().astype(np.uint8)
    hints = sample["hints"][0]
    matches = [(top, start, flipped) for top in range(HEIGHT - 128 + 1) for start in range(WIDTH - 256 + 1)
               for flipped in (False, True)
               if np.array_equal((frame.left[top:top + 128, start:start + 256])[::-1 if flipped else 1], left)]
    assert len(matches) == 1
    top, start, flipped = matches[0]
    expected = frame.hints_px[top:top + 128, start:start + 256].astype(np.float32)[::-1 if flipped else 1]
    np.testing.assert_array_equal(hints, expected)


def test_crops_shrink_to_multiples_of_32_that_fit():
    assert crop_size(CONFIG, HEIGHT, WIDTH) == (128, 256)
    assert crop_size(CONFIG, 100, 200) == (96, 192)


def test_every_nth_frame_is_held_out():
    frames = [_frame(stamp_ns=index) for index in range(7)]
    train, held = split_frames(frames, 3)
    assert [f.stamp_ns for f in held] == [2, 5]
    assert [f.stamp_ns for f in train] == [0, 1, 3, 4, 6]
    assert split_frames(frames, 0) == (frames, [])


@pytest.mark.parametrize("changes, message", [({"holdout_every": 1}, "holdout_every"),
                                               ({"crop_width": 100}, "multiples of 32"),
                                               ({"hint_input_probability": 1.5}, "hint_input_probability"),
                                               ({"steps": 0}, "steps")])
def test_a_bad_configuration_is_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        AdaptConfig(**changes)
