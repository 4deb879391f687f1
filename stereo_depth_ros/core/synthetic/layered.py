"""The layered recipe (kind "layered"): textured planar layers composited with a z-buffer.

Each layer is a plane, so its disparity is affine in the left image,
``d(x, y) = a + b*x + c*y`` (pixels, d = x_left - x_right), and its right view
is found by inverting ``x_right = x_left - d(x_left, y)`` in closed form. Both
views are composited per pixel with a z-buffer on disparity (larger = nearer),
so occlusions are exact. A surface point carries the same colour in both views
(Lambertian, unlit); photometric differences come from the camera effects.

Layers: a slanted background, slanted shapes (ellipses, polygons, rectangles),
thin bars, textureless patches and repeated textures. Textures are cut from
scikit-image's bundled photographs or drawn procedurally.

This is the original generator of the project, kept bit-identical: the
held-out split's layered scenes must not change (a test pins their checksums).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stereo_depth_ros.core.synthetic.config import SceneConfig, StereoScene
from stereo_depth_ros.core.synthetic.textures import random_texture, to_uint8


@dataclass(frozen=True)
class _Layer:
    plane: tuple[float, float, float]       # d = a + b*x + c*y, pixels
    mask: np.ndarray                        # (H, W + margin) bool in left-image coordinates
    texture: np.ndarray                     # (h, w, 3) float32 in [0, 1]
    texture_from_image: np.ndarray          # (2, 3) affine: (u, v) = A @ (x, y, 1)


def _texture_mapping(rng: np.random.Generator, texture_shape: tuple[int, ...],
                     width: int, height: int) -> np.ndarray:
    """Random affine map from image pixels to texture pixels (scale, rotation, shift)."""
    scale = np.exp(rng.uniform(np.log(0.4), np.log(2.5))) * max(texture_shape[:2]) / max(width, height)
    angle = rng.uniform(-np.pi, np.pi)
    shear = rng.uniform(-0.2, 0.2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = scale * rotation @ np.array([[1.0, shear], [0.0, 1.0]])
    offset = rng.uniform(0, texture_shape[1]), rng.uniform(0, texture_shape[0])
    return np.hstack([linear, np.array(offset)[:, None]]).astype(np.float32)


def _shape_mask(rng: np.random.Generator, height: int, width: int, canvas_width: int, *,
                thin: bool) -> np.ndarray:
    """A random filled shape in left-image pixels, (H, canvas_width) bool.

    The canvas reaches past the left image's right edge so that the right view,
    which sees up to ``max_disparity`` pixels further, is covered too.
    """
    mask = np.zeros((height, canvas_width), np.uint8)
    centre = (int(rng.uniform(-0.1, 1.1) * width), int(rng.uniform(-0.1, 1.1) * height))
    size = rng.uniform(0.05, 0.45) * min(width, height)
    if thin:
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.3, 1.2) * max(width, height)
        delta = np.array([np.cos(angle), np.sin(angle)]) * length / 2
        start = tuple(int(v) for v in np.array(centre) - delta)
        end = tuple(int(v) for v in np.array(centre) + delta)
        cv2.line(mask, start, end, 1, thickness=int(rng.integers(1, 6)))
        return mask.astype(bool)
    kind = rng.integers(3)
    if kind == 0:
        axes = (int(size), int(size * rng.uniform(0.3, 1.0)))
        cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1, thickness=-1)
    elif kind == 1:
        corners = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = size * rng.uniform(0.4, 1.0, corners)
        points = np.stack([centre[0] + radii * np.cos(angles),
                           centre[1] + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    else:
        half = np.array([size, size * rng.uniform(0.2, 1.0)])
        cv2.rectangle(mask, tuple(int(v) for v in np.array(centre) - half),
                      tuple(int(v) for v in np.array(centre) + half), 1, thickness=-1)
    return mask.astype(bool)


def _random_plane(rng: np.random.Generator, width: int, height: int,
                  low_px: float, high_px: float, max_slant: float) -> tuple[float, float, float]:
    """Plane d = a + b*x + c*y whose disparity at the image centre lies in [low, high]."""
    slope_x = rng.uniform(-max_slant, max_slant)
    slope_y = rng.uniform(-max_slant, max_slant)
    centre_disparity = rng.uniform(low_px, high_px)
    offset = centre_disparity - slope_x * width / 2 - slope_y * height / 2
    return float(offset), float(slope_x), float(slope_y)


def _render_view(layers: list[_Layer], source_x: list[np.ndarray], y: np.ndarray,
                 height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer composite: colour (H, W, 3) float32, disparity (H, W), layer index (H, W)."""
    colour = np.zeros((height, width, 3), np.float32)
    zbuffer = np.full((height, width), -np.inf, np.float32)
    index = np.full((height, width), -1, np.int32)
    for layer_index, (layer, x_left) in enumerate(zip(layers, source_x)):
        a, b, c = layer.plane
        disparity = (a + b * x_left + c * y).astype(np.float32)
        column = np.rint(x_left).astype(np.int32)
        inside = (column >= 0) & (column < layer.mask.shape[1])
        covered = np.zeros((height, width), bool)
        rows = np.broadcast_to(np.arange(height)[:, None], (height, width))
        covered[inside] = layer.mask[rows[inside], column[inside]]
        nearer = covered & (disparity > zbuffer)
        if not nearer.any():
            continue
        affine = layer.texture_from_image
        u = affine[0, 0] * x_left + affine[0, 1] * y + affine[0, 2]
        v = affine[1, 0] * x_left + affine[1, 1] * y + affine[1, 2]
        sampled = cv2.remap(layer.texture, u.astype(np.float32), v.astype(np.float32),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        colour[nearer] = sampled[nearer]
        zbuffer[nearer] = disparity[nearer]
        index[nearer] = layer_index
    return colour, zbuffer, index


def layered_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """Render one random layered scene with exact disparities (both views) and occlusion mask."""
    height, width = config.height, config.width
    max_d = config.max_disparity_px
    canvas_width = width + int(np.ceil(max_d)) + 2
    background_texture = random_texture(rng, textureless=False)
    background_plane = _random_plane(rng, width, height, 0.5, 0.25 * max_d, 0.06)
    layers = [_Layer(plane=background_plane,
                     mask=np.ones((height, canvas_width), bool),
                     texture=background_texture,
                     texture_from_image=_texture_mapping(rng, background_texture.shape, width, height))]
    background_centre = background_plane[0] + background_plane[1] * width / 2 + background_plane[2] * height / 2
    for _ in range(int(rng.integers(config.min_layers, config.max_layers + 1))):
        thin = rng.random() < config.thin_structure_probability
        textureless = rng.random() < config.textureless_probability
        # In front of the background; favour small and mid disparities, a few come close.
        low = background_centre + 1.0
        high = low + (max_d - low) * rng.uniform(0.05, 1.0) ** 1.5
        texture = random_texture(rng, textureless=textureless)
        layers.append(_Layer(plane=_random_plane(rng, width, height, low, max(high, low + 1.0), 0.25),
                             mask=_shape_mask(rng, height, width, canvas_width, thin=thin),
                             texture=texture,
                             texture_from_image=_texture_mapping(rng, texture.shape, width, height)))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    layers = [_clip_plane(layer, max_d) for layer in layers]
    left_x = [xx] * len(layers)
    # Invert x_r = x_l - (a + b*x_l + c*y) for each plane: x_l = (x_r + a + c*y) / (1 - b).
    right_x = [(xx + layer.plane[0] + layer.plane[2] * yy) / (1.0 - layer.plane[1]) for layer in layers]
    left, left_disparity, left_index = _render_view(layers, left_x, yy, height, width)
    right, right_disparity, right_index = _render_view(layers, right_x, yy, height, width)
    occluded = _occlusion_mask(left_disparity, left_index, right_index, toward_right=True)
    hidden_in_left = _occlusion_mask(right_disparity, right_index, left_index, toward_right=False)
    left_column = np.arange(width)[None, :] + right_disparity
    with np.errstate(invalid="ignore"):
        outside = ~((left_column > -0.5) & (left_column < width - 0.5))  # the pixel footprint convention
    right_disparity = np.where(hidden_in_left | outside, np.nan, right_disparity)
    return StereoScene(left=to_uint8(left), right=to_uint8(right),
                       disparity_px=left_disparity.astype(np.float32), occluded=occluded,
                       disparity_right_px=right_disparity.astype(np.float32),
                       specular=np.zeros((height, width), bool), kind="layered")


def _clip_plane(layer: _Layer, max_d: float) -> _Layer:
    """Shift a plane so that its disparity over its mask stays within [0.5, max_d]."""
    a, b, c = layer.plane
    rows, columns = np.nonzero(layer.mask)
    values = a + b * columns + c * rows
    if values.size == 0:
        return layer
    shift = 0.0
    if values.max() > max_d:
        shift = max_d - values.max()
    if values.min() + shift < 0.5:
        shift = 0.5 - values.min()
    return _Layer((a + shift, b, c), layer.mask, layer.texture, layer.texture_from_image)


def _occlusion_mask(disparity: np.ndarray, own_index: np.ndarray, other_index: np.ndarray, *,
                    toward_right: bool) -> np.ndarray:
    """Pixels of one view whose surface is not the visible one at the matching column of the other view.

    ``toward_right``: the view is the left one and its match is at x - d; else the right one, match at x + d.
    """
    height, width = disparity.shape
    with np.errstate(invalid="ignore"):
        x_other = (np.arange(width)[None, :] - disparity if toward_right
                   else np.arange(width)[None, :] + disparity)
    x_other = np.where(np.isfinite(x_other), x_other, -1.0)
    occluded = np.ones((height, width), bool)
    rows = np.broadcast_to(np.arange(height)[:, None], (height, width))
    for column in (np.floor(x_other), np.ceil(x_other)):
        column = column.astype(np.int32)
        inside = (column >= 0) & (column < width)
        same = np.zeros((height, width), bool)
        same[inside] = other_index[rows[inside], column[inside]] == own_index[inside]
        occluded &= ~same
    return occluded
