"""Image sizes written as text: ``WIDTHxHEIGHT`` in pixels (``640x480``), the one parser of the package."""

from __future__ import annotations

__all__ = ["parse_wxh"]


def parse_wxh(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480): (width, height), px, both > 0; ``X`` and spaces around numbers accepted.

    Raises:
        ValueError: not two positive integers joined by ``x``; the message quotes ``text``.
    """
    parts = text.strip().lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"size {text!r} must be WIDTHxHEIGHT in px, e.g. 640x480")
    width, height = (int(part) for part in parts)
    if width < 1 or height < 1:
        raise ValueError(f"size {text!r} must be positive")
    return width, height
