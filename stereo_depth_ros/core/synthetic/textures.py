"""Textures of synthetic surfaces: photographs, procedural patterns, mip-mapped sampling.

Textures are (h, w, 3) float32 RGB in [0, 1]. Photographs are scikit-image's
bundled images; procedural ones are noise, stripes, checkers or blobs. A
:class:`MipTexture` samples a texture at arbitrary texel coordinates with a
per-point level of detail (trilinear over a Gaussian pyramid), so a surface
seen at a distance or at a grazing angle is low-passed the way a camera pixel
integrates it instead of aliasing differently in the two views; coordinates
outside the texture tile it mirror-wise.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

_PHOTO_NAMES = ("astronaut", "brick", "camera", "cat", "coffee", "coins", "grass",
                "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page",
                "retina", "rocket", "text", "clock", "horse", "colorwheel")
_REMAP_ROW = 1024


@lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as float32 RGB in [0, 1]."""
    import skimage.data

    photos = []
    for name in _PHOTO_NAMES:
        image = np.asarray(getattr(skimage.data, name)())
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        photos.append(image[..., :3].astype(np.float32) / 255.0)
    return tuple(photos)


def procedural_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Noise, stripes, checkers or blobs, (size, size, 3) float32 in [0, 1]."""
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 0:  # multi-scale noise
        texture = np.zeros((size, size), np.float32)
        for octave in range(1, 6):
            noise = rng.random((size // 2 ** (5 - octave) + 2,) * 2).astype(np.float32)
            texture += cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC) / octave
    elif kind == 1:  # repeated stripes
        period = rng.uniform(3, 24)
        angle = rng.uniform(0, np.pi)
        texture = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period)
    elif kind == 2:  # checkerboard
        period = int(rng.integers(3, 20))
        texture = (((xx // period) + (yy // period)) % 2).astype(np.float32)
    else:  # blobs
        texture = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0),
                                   rng.uniform(1, 6))
    texture = (texture - texture.min()) / max(float(np.ptp(texture)), 1e-6)
    colour_a, colour_b = rng.random(3), rng.random(3)
    return (colour_a + texture[..., None] * (colour_b - colour_a)).astype(np.float32)


def random_texture(rng: np.random.Generator, *, textureless: bool) -> np.ndarray:
    """A flat colour (16x16) when ``textureless``, else a photograph (60 %) or a procedural texture."""
    if textureless:
        flat = np.ones((16, 16, 3), np.float32) * rng.random(3).astype(np.float32)
        return flat
    if rng.random() < 0.6:
        photos = photographs()
        return photos[int(rng.integers(len(photos)))]
    return procedural_texture(rng)


def low_texture(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Painted-wall look: one colour with faint smooth mottling (contrast ~1-3 %), (size, size, 3) float32."""
    colour = rng.uniform(0.25, 0.9, 3).astype(np.float32)
    mottle = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), rng.uniform(2, 6))
    mottle *= rng.uniform(0.01, 0.03) / max(float(mottle.std()), 1e-6)
    return np.clip(colour * (1.0 + mottle[..., None]), 0.0, 1.0).astype(np.float32)


def _pyramid(texture: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gaussian pyramid down to about 8 texels."""
    levels = [texture]
    while min(levels[-1].shape[:2]) >= 8:
        levels.append(cv2.pyrDown(levels[-1]))
    return tuple(levels)


@lru_cache(maxsize=len(_PHOTO_NAMES))
def _photograph_pyramid(index: int) -> tuple[np.ndarray, ...]:
    return _pyramid(photographs()[index])


class MipTexture:
    """A texture with its Gaussian pyramid, sampled trilinearly with mirror tiling.

    Args:
        texture: (h, w, 3) float32 in [0, 1]; kept by reference (the bundled
            photographs' pyramids are cached across scenes).
    """

    def __init__(self, texture: np.ndarray) -> None:
        if texture.ndim != 3 or texture.shape[2] != 3 or texture.dtype != np.float32:
            raise ValueError(f"texture must be (h, w, 3) float32, got {texture.shape} {texture.dtype}")
        photo = next((i for i, p in enumerate(photographs()) if texture is p), None)
        self.levels = _pyramid(texture) if photo is None else _photograph_pyramid(photo)

    def sample(self, u: np.ndarray, v: np.ndarray, level: np.ndarray) -> np.ndarray:
        """Colours at texel coordinates.

        Args:
            u, v: (N,) texel coordinates of level 0 (pixel centres at integers), any real value.
            level: (N,) level of detail, >= 0 (0 = full resolution, 1 = half, ...).

        Returns:
            (N, 3) float32 in [0, 1].
        """
        out = np.empty((u.size, 3), np.float32)
        level = np.clip(level, 0.0, len(self.levels) - 1.0)
        base = np.minimum(np.floor(level).astype(np.int32), len(self.levels) - 2) if len(self.levels) > 1 \
            else np.zeros(u.size, np.int32)
        for index in np.unique(base):
            chosen = np.nonzero(base == index)[0]
            colour = self._level(int(index), u[chosen], v[chosen])
            if len(self.levels) > 1:
                weight = (level[chosen] - index)[:, None].astype(np.float32)
                colour = colour * (1.0 - weight) + self._level(int(index) + 1, u[chosen], v[chosen]) * weight
            out[chosen] = colour
        return out

    def _level(self, index: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        image = self.levels[index]
        scale = 0.5 ** index
        columns = _mirror((u + 0.5) * scale, image.shape[1])
        rows = _mirror((v + 0.5) * scale, image.shape[0])
        count = columns.size
        padded = -count % _REMAP_ROW  # cv2.remap takes maps below 32767 rows: fold the points into rows
        columns, rows = (np.pad(a, (0, padded)).reshape(-1, _REMAP_ROW) for a in (columns, rows))
        sampled = cv2.remap(image, columns, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return sampled.reshape(-1, 3)[:count]


def _mirror(position: np.ndarray, size: int) -> np.ndarray:
    """Edge coordinates (0 = left edge of the first texel) folded into one mirror-tiled period,
    returned as pixel-centre coordinates in [-0.5, size - 0.5] (float32)."""
    period = 2.0 * size
    folded = np.mod(position, period)
    folded = np.where(folded >= size, period - folded, folded)
    return (folded - 0.5).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float image to uint8 (rounded, clipped)."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
