"""core.sizes: the one WIDTHxHEIGHT parser."""

from __future__ import annotations

import pytest

from stereo_depth_ros.core.sizes import parse_wxh


@pytest.mark.parametrize(("text", "size"), [("640x480", (640, 480)), (" 1280X720 ", (1280, 720)),
                                             ("32 x 96", (32, 96))])
def test_sizes_read_width_then_height(text, size):
    assert parse_wxh(text) == size


@pytest.mark.parametrize("text", ["640", "640x480x3", "ax480", "0x480", "-640x480", "640.5x480", ""])
def test_a_malformed_size_names_the_text(text):
    with pytest.raises(ValueError, match="size"):
        parse_wxh(text)
