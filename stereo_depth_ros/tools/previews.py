"""PNG previews: colourised disparity and depth maps with a labelled colour bar.

Invalid pixels (NaN) are black, so holes are visible and never mistaken for a
value. Colours are OpenCV's TURBO map: for disparity red = large (near), for
depth red = near too (the map is reversed), so the two previews read alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import cv2
import numpy as np

__all__ = [
    "colorize",
    "comparison_preview",
    "depth_preview",
    "disparity_preview",
    "robust_range",
    "with_color_bar",
    "write_png",
]

_BAR_WIDTH_PX: Final = 18
_STRIP_HEIGHT_PX: Final = 28
_LABEL_WIDTH_PX: Final = 64
_TICKS: Final = 5


def robust_range(values: np.ndarray, *, low_percent: float = 1.0, high_percent: float = 99.0) -> tuple[float, float]:
    """(low, high) percentiles of the finite values, high > low; (0, 1) when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, [low_percent, high_percent]))
    return (low, high) if high > low else (low, low + 1.0)


def colorize(values: np.ndarray, *, vmin: float, vmax: float, reverse: bool = False) -> np.ndarray:
    """Colour (H, W) float values with TURBO.

    Args:
        values: (H, W) float; NaN/inf = invalid.
        vmin, vmax: values mapped to the ends of the colour map (vmax > vmin); values
            outside are clipped.
        reverse: map vmin to red and vmax to blue.

    Returns:
        (H, W, 3) uint8 RGB; invalid pixels black.
    """
    if values.ndim != 2:
        raise ValueError(f"values must be (H, W), got {values.shape}")
    if not vmax > vmin:
        raise ValueError(f"need vmax > vmin, got {vmin}, {vmax}")
    valid = np.isfinite(values)
    scaled = np.zeros(values.shape, np.float32)
    scaled[valid] = np.clip((values[valid] - vmin) / (vmax - vmin), 0.0, 1.0)
    if reverse:
        scaled = 1.0 - scaled
    rgb = cv2.cvtColor(cv2.applyColorMap((scaled * 255.0 + 0.5).astype(np.uint8), cv2.COLORMAP_TURBO),
                       cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb


def with_color_bar(image: np.ndarray, *, vmin: float, vmax: float, label: str, reverse: bool = False) -> np.ndarray:
    """``image`` (H, W, 3) uint8 RGB with a vertical colour bar, tick values and ``label`` on its right."""
    height = image.shape[0]
    ramp = np.linspace(vmax, vmin, height, dtype=np.float32)[:, None].repeat(_BAR_WIDTH_PX, axis=1)
    bar = colorize(ramp, vmin=vmin, vmax=vmax, reverse=reverse)
    labels = np.full((height, _LABEL_WIDTH_PX, 3), 255, np.uint8)
    scale = max(0.3, min(0.45, height / 600.0))
    for tick in range(_TICKS):
        fraction = tick / (_TICKS - 1)
        row = int(round(fraction * (height - 1)))
        value = vmax - fraction * (vmax - vmin)
        baseline = min(max(row + 4, 10), height - 3)
        cv2.putText(labels, _format_tick(value), (3, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    title = np.full((16, image.shape[1] + _BAR_WIDTH_PX + _LABEL_WIDTH_PX, 3), 255, np.uint8)
    cv2.putText(title, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([title, np.hstack([image, bar, labels])])


def _format_tick(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100 or math.isclose(value, round(value)):
        return f"{value:.0f}"
    return f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"


def disparity_preview(disparity_px: np.ndarray, *, max_disparity_px: float | None = None) -> np.ndarray:
    """(H, W) float32 disparity, px, NaN invalid -> RGB preview from 0 to ``max_disparity_px``
    (default: the 99th percentile) with a colour bar in px."""
    high = max_disparity_px if max_disparity_px is not None else robust_range(disparity_px)[1]
    high = max(float(high), 1.0)
    return with_color_bar(colorize(disparity_px, vmin=0.0, vmax=high), vmin=0.0, vmax=high,
                          label="disparity [px], black = invalid")


def depth_preview(depth_m: np.ndarray, *, depth_range_m: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) float32 depth, m, NaN invalid -> RGB preview (near = red) with a colour bar in m;
    the range defaults to the 1st-99th percentile."""
    low, high = depth_range_m if depth_range_m is not None else robust_range(depth_m)
    return with_color_bar(colorize(depth_m, vmin=low, vmax=high, reverse=True), vmin=low, vmax=high,
                          label="depth [m], black = invalid", reverse=True)


def comparison_preview(image: np.ndarray, disparities: Sequence[tuple[str, np.ndarray]], *,
                       max_disparity_px: float) -> np.ndarray:
    """The image and labelled disparity maps side by side, on one colour scale, with its colour bar.

    Args:
        image: (H, W) or (H, W, 3) uint8 left rectified image.
        disparities: (label, (H, W) float32 px, NaN invalid) per panel, left to right.
        max_disparity_px: top of the shared scale (0 .. max), px.
    Returns:
        (H + label strip, width, 3) uint8 RGB.
    """
    height, width = image.shape[:2]
    panels = [("left image", image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2))]
    high = max(float(max_disparity_px), 1.0)
    panels += [(label, colorize(disparity, vmin=0.0, vmax=high)) for label, disparity in disparities]
    labelled = []
    for label, panel in panels:
        if panel.shape[:2] != (height, width):
            raise ValueError(f"panel {label!r} is {panel.shape[:2]}, the image {(height, width)}")
        strip = np.full((_STRIP_HEIGHT_PX, width, 3), 255, np.uint8)
        cv2.putText(strip, label, (6, _STRIP_HEIGHT_PX - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
        labelled.append(np.vstack([strip, panel]))
    row = np.hstack(labelled)
    return with_color_bar(row, vmin=0.0, vmax=high, label="disparity [px], black = invalid")


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 RGB as a PNG (creating its folder); returns the path.

    Raises:
        OSError: the file cannot be written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {target}")
    return target
