"""Ray-cast stereo rendering of analytic surfaces, with exact ground truth in both views.

Frame: the left rectified camera's optical frame (x right, y down, z forward,
metres); the right camera sits at ``(baseline_m, 0, 0)``; both project with the
same focal length and principal point, so ``d = focal_px * baseline_m / Z``.
Every ray, from a camera or between a surface point and the other camera,
starts on the baseline at ``(origin_x, 0, 0)`` and has direction
``(dx, dy, 1)``, so its parameter ``t`` is the depth ``Z`` of what it hits.

Each view is cast per pixel centre against every surface in closed form
(planes, cylinders, spheres; numpy-vectorised inside each surface's image
bounding box) and composited with a z-buffer on depth. Visibility in the other
view is a second closed-form test: the segment from the surface point to the
other camera centre must not hit a nearer surface. Shading: albedo from a
mip-mapped texture times Lambertian light (view-independent, identical in both
views) plus a Blinn-Phong highlight computed from each camera's own position,
so highlights move differently from the surface between the views (marked in
``StereoScene.specular``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stereo_depth_ros.core.synthetic.config import StereoScene
from stereo_depth_ros.core.synthetic.errors import SceneConfigError
from stereo_depth_ros.core.synthetic.textures import MipTexture, to_uint8

_NEAR_M = 0.02            # hits nearer than this to a camera are ignored
_SELF_HIT = 1e-4          # relative depth margin: a surface does not occlude its own point
_MIN_COSINE = 0.05        # grazing-angle limit of the texture footprint
_HIGHLIGHT_THRESHOLD = 0.01  # specular difference between the views that marks a pixel ``specular``


@dataclass(frozen=True)
class Material:
    """Appearance of a surface.

    Attributes:
        texture: albedo texture.
        texels_per_m: texture scale on the surface, texels per metre.
        offset: (u, v) texel offset.
        angle: rotation of the texture on the surface, radians.
        specular: peak Blinn-Phong reflectance of highlights (0 = matte).
        shininess: Blinn-Phong exponent (larger = smaller, sharper highlights).
        emissive: constant added to the lighting (lamps, screens), view-independent.
    """

    texture: MipTexture
    texels_per_m: float
    offset: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    specular: float = 0.0
    shininess: float = 50.0
    emissive: float = 0.0

    def albedo(self, u_m: np.ndarray, v_m: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
        """(N, 3) float32 albedo at surface coordinates (metres) for pixel footprints (metres)."""
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        u = ((cos * u_m - sin * v_m) * self.texels_per_m + self.offset[0]).astype(np.float32)
        v = ((sin * u_m + cos * v_m) * self.texels_per_m + self.offset[1]).astype(np.float32)
        level = np.log2(np.maximum(footprint_m * self.texels_per_m, 1.0))
        return self.texture.sample(u, v, level)


@dataclass(frozen=True)
class Lighting:
    """Lights of a scene, in the left camera frame.

    Attributes:
        ambient: (3,) RGB ambient light.
        directions: unit vectors towards directional lights (sun, sky), each (3,).
        direction_colours: (3,) RGB of each directional light.
        points: positions of point lights, metres, each (3,).
        point_colours: (3,) RGB of each point light at 1 m (falls off as 1 / (1 + r^2)).
    """

    ambient: np.ndarray
    directions: tuple[np.ndarray, ...] = ()
    direction_colours: tuple[np.ndarray, ...] = ()
    points: tuple[np.ndarray, ...] = ()
    point_colours: tuple[np.ndarray, ...] = ()

    def shade(self, points: np.ndarray, normals: np.ndarray, view_origins: Sequence[np.ndarray],
              material: Material) -> tuple[np.ndarray, list[np.ndarray]]:
        """Diffuse irradiance (N, 3) and, per view origin, the specular highlight (N, 3) at ``points`` (N, 3)
        with unit ``normals`` (N, 3), float32; highlights only when ``material.specular`` > 0.

        Blinn-Phong with n.h = (n.l + n.v) / |l + v| and |l + v|^2 = 2 + 2 l.v.
        """
        p = [np.ascontiguousarray(points[:, k], np.float32) for k in range(3)]
        n = [np.ascontiguousarray(normals[:, k], np.float32) for k in range(3)]
        diffuse = np.empty(points.shape, np.float32)
        diffuse[:] = self.ambient
        views = []
        if material.specular > 0.0:
            for origin in view_origins:
                v = [np.float32(origin[k]) - p[k] for k in range(3)]
                norm = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
                v = [component / norm for component in v]
                views.append((v, n[0] * v[0] + n[1] * v[1] + n[2] * v[2]))
        highlights = [np.zeros(points.shape, np.float32) for _ in views]
        # beyond this cosine a highlight is below 1e-4 of its peak
        cutoff = np.float32(1e-4 ** (1.0 / max(material.shininess, 1.0)))
        lights = [([np.float32(d[k]) for k in range(3)], np.asarray(c, np.float32), None)
                  for d, c in zip(self.directions, self.direction_colours)]
        for position, colour in zip(self.points, self.point_colours):
            to_light = [np.float32(position[k]) - p[k] for k in range(3)]
            distance2 = to_light[0] * to_light[0] + to_light[1] * to_light[1] + to_light[2] * to_light[2]
            distance = np.sqrt(distance2)
            lights.append(([component / distance for component in to_light], np.asarray(colour, np.float32),
                           1.0 / (1.0 + distance2)))
        for light, colour, falloff in lights:
            cosine = n[0] * light[0] + n[1] * light[1] + n[2] * light[2]
            strength = np.maximum(cosine, 0.0) if falloff is None else np.maximum(cosine, 0.0) * falloff
            diffuse += strength[:, None] * colour
            for highlight, (view, n_dot_v) in zip(highlights, views):
                l_dot_v = light[0] * view[0] + light[1] * view[1] + light[2] * view[2]
                facing = (cosine + n_dot_v) / np.sqrt(np.maximum(2.0 + 2.0 * l_dot_v, 1e-12))
                lit = np.nonzero((facing > cutoff) & (cosine > 0.0))[0]
                weight = material.specular * facing[lit] ** np.float32(material.shininess)
                if falloff is not None:
                    weight *= falloff[lit]
                highlight[lit] += weight[:, None] * colour
        return diffuse, highlights


class Surface(ABC):
    """A surface in the left camera frame: ray intersection, coordinates, normal, extent."""

    material: Material

    @abstractmethod
    def hit(self, origin_x: float, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Depth of the first hit of rays from (origin_x, 0, 0) along (dx, dy, 1); inf where missed.

        Args:
            origin_x: ray origin on the baseline, metres.
            dx, dy: ray directions, any shape (same), float32 or float64.
        Returns:
            Same shape, float32 depth Z in metres (> _NEAR_M), inf = no hit.
        """

    @abstractmethod
    def geometry(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v) surface coordinates in metres and unit normals (N, 3) facing the cameras at ``points`` (N, 3)."""

    @abstractmethod
    def corners(self) -> np.ndarray | None:
        """(K, 3) points whose convex hull holds the surface (image bounding boxes), None = unbounded."""


def _orthonormal(axis_u: np.ndarray, axis_v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = axis_u / np.linalg.norm(axis_u)
    v = axis_v - (axis_v @ u) * u
    v /= np.linalg.norm(v)
    return u, v, np.cross(u, v)


class Plane(Surface):
    """A plane through ``origin`` spanned by ``axis_u``, ``axis_v``; optionally bounded.

    ``extent`` = (u0, u1, v0, v1) metres along the (orthonormalised) axes from the
    origin, a rectangle, or an ellipse inscribed in it when ``ellipse``; None = unbounded.
    The normal is turned towards the left camera.
    """

    def __init__(self, origin: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray, material: Material, *,
                 extent: tuple[float, float, float, float] | None = None, ellipse: bool = False) -> None:
        self.origin = np.asarray(origin, np.float64)
        self.axis_u, self.axis_v, normal = _orthonormal(np.asarray(axis_u, np.float64),
                                                        np.asarray(axis_v, np.float64))
        self.normal = normal if normal @ self.origin < 0.0 else -normal
        self.offset = float(self.normal @ self.origin)
        self.material, self.extent, self.ellipse = material, extent, ellipse

    def hit(self, origin_x: float, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        n = self.normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.offset - n[0] * origin_x) / (n[0] * dx + n[1] * dy + n[2])
        t = np.where(t > _NEAR_M, t, np.inf).astype(np.float32)
        if self.extent is not None:
            u, v = self._local(origin_x + t * dx, t * dy, t)
            u0, u1, v0, v1 = self.extent
            if self.ellipse:
                inside = ((2 * u - u0 - u1) / (u1 - u0)) ** 2 + ((2 * v - v0 - v1) / (v1 - v0)) ** 2 <= 1.0
            else:
                inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
            t = np.where(inside, t, np.float32(np.inf))
        return t

    def _local(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        px, py, pz = x - self.origin[0], y - self.origin[1], z - self.origin[2]
        with np.errstate(invalid="ignore"):
            return (self.axis_u[0] * px + self.axis_u[1] * py + self.axis_u[2] * pz,
                    self.axis_v[0] * px + self.axis_v[1] * py + self.axis_v[2] * pz)

    def geometry(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u, v = self._local(points[:, 0], points[:, 1], points[:, 2])
        return u, v, np.broadcast_to(self.normal, points.shape)

    def corners(self) -> np.ndarray | None:
        if self.extent is None:
            return None
        u0, u1, v0, v1 = self.extent
        return np.array([self.origin + a * self.axis_u + b * self.axis_v for a in (u0, u1) for b in (v0, v1)])


class Cylinder(Surface):
    """The side of a cylinder of ``radius`` around the segment ``start`` + s * ``direction``, s in [0, length].

    Seen from outside (poles, wires, pipes, columns), or from inside when ``inside`` (tunnels).
    Caps are separate (elliptic) planes. u = arc length around the axis, v = s, metres.
    """

    def __init__(self, start: np.ndarray, direction: np.ndarray, length: float, radius: float,
                 material: Material, *, inside: bool = False) -> None:
        self.start = np.asarray(start, np.float64)
        self.direction = np.asarray(direction, np.float64) / np.linalg.norm(direction)
        self.length, self.radius, self.material, self.inside = float(length), float(radius), material, inside
        towards_camera = -self.start - (-self.start @ self.direction) * self.direction
        if np.linalg.norm(towards_camera) < 1e-9:  # the axis passes through the camera
            towards_camera = np.cross(self.direction, [1.0, 0.0, 0.0] if abs(self.direction[0]) < 0.9
                                      else [0.0, 1.0, 0.0])
        self._front = towards_camera / np.linalg.norm(towards_camera)
        self._side = np.cross(self.direction, self._front)

    def hit(self, origin_x: float, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        w = self.direction
        m = np.array([origin_x, 0.0, 0.0]) - self.start
        m_axial = m @ w
        m_perp = m - m_axial * w
        t = np.full(np.shape(dx), np.inf, np.float32)
        if self.inside:
            candidates = np.nonzero(np.ones(t.shape, bool))
        else:  # cheap float32 pre-test: distance between the ray's line and the axis, |m . (d x w)| / |d x w|
            cross = (dy * np.float32(w[2]) - np.float32(w[1]), np.float32(w[0]) - dx * np.float32(w[2]),
                     dx * np.float32(w[1]) - dy * np.float32(w[0]))
            along = sum(np.float32(m[k]) * cross[k] for k in range(3))
            size = cross[0] ** 2 + cross[1] ** 2 + cross[2] ** 2
            candidates = np.nonzero(along ** 2 <= np.float32((1.5 * self.radius + 1e-5) ** 2) * size)
        if candidates[0].size == 0:
            return t
        dx, dy = np.asarray(dx)[candidates].astype(np.float64), np.asarray(dy)[candidates].astype(np.float64)
        c = m_perp @ m_perp - self.radius ** 2
        d_axial = w[0] * dx + w[1] * dy + w[2]
        a = dx * dx + dy * dy + 1.0 - d_axial ** 2
        b = dx * m_perp[0] + dy * m_perp[1] + m_perp[2]
        discriminant = b * b - a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.sqrt(discriminant)
            first = (-b + root) / a if self.inside else (-b - root) / a
            s = m_axial + first * d_axial
        good = (discriminant >= 0.0) & (first > _NEAR_M) & (s >= 0.0) & (s <= self.length)
        t[candidates] = np.where(good, first, np.inf)
        return t

    def geometry(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        relative = points - self.start
        s = relative @ self.direction
        radial = relative - s[:, None] * self.direction
        normal = radial / np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
        angle = np.arctan2(radial @ self._side, radial @ self._front)
        return angle * self.radius, s, -normal if self.inside else normal

    def corners(self) -> np.ndarray | None:
        end = self.start + self.length * self.direction
        low = np.minimum(self.start, end) - self.radius
        high = np.maximum(self.start, end) + self.radius
        return np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])


class Sphere(Surface):
    """A sphere seen from outside; u, v = arc lengths of longitude and latitude, metres."""

    def __init__(self, centre: np.ndarray, radius: float, material: Material) -> None:
        self.centre, self.radius, self.material = np.asarray(centre, np.float64), float(radius), material

    def hit(self, origin_x: float, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        m = np.array([origin_x, 0.0, 0.0]) - self.centre
        c = m @ m - self.radius ** 2
        dx, dy = np.asarray(dx, np.float64), np.asarray(dy, np.float64)
        a = dx * dx + dy * dy + 1.0
        b = dx * m[0] + dy * m[1] + m[2]
        discriminant = b * b - a * c
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(discriminant)) / a
        return np.where((discriminant >= 0.0) & (t > _NEAR_M), t, np.inf).astype(np.float32)

    def geometry(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        normal = (points - self.centre) / self.radius
        longitude = np.arctan2(normal[:, 0], -normal[:, 2])
        latitude = np.arcsin(np.clip(normal[:, 1], -1.0, 1.0))
        return longitude * self.radius, latitude * self.radius, normal

    def corners(self) -> np.ndarray | None:
        r = self.radius
        return np.array([self.centre + [x, y, z] for x in (-r, r) for y in (-r, r) for z in (-r, r)])


@dataclass(frozen=True)
class RigGeometry:
    """The rectified pair a scene is rendered for (equal focal lengths and principal points).

    Attributes:
        width, height: image size, px.
        focal_px: focal length, px (fx = fy).
        baseline_m: distance between the camera centres, metres (> 0).
        cx_px, cy_px: principal point, px (shared by both views); None = the image centre.
    """

    width: int
    height: int
    focal_px: float
    baseline_m: float
    cx_px: float | None = None
    cy_px: float | None = None

    def __post_init__(self) -> None:
        if self.cx_px is None:
            object.__setattr__(self, "cx_px", (self.width - 1) / 2.0)
        if self.cy_px is None:
            object.__setattr__(self, "cy_px", (self.height - 1) / 2.0)


def _bounding_box(surface: Surface, origin_x: float, rig: RigGeometry) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) image rectangle of the view at origin_x that can see ``surface``.

    The hull of the surface's corners is clipped at the near plane (every segment between
    two corners on either side of it adds its crossing point), then projected.
    """
    corners = surface.corners()
    if corners is None:
        return 0, rig.height, 0, rig.width
    corners = corners - np.array([origin_x, 0.0, 0.0])
    front = corners[:, 2] > _NEAR_M
    if not front.any():
        return 0, 0, 0, 0
    points = [corners[front]]
    if not front.all():
        near, far = corners[~front], corners[front]
        for a in near:
            fraction = (_NEAR_M - a[2]) / (far[:, 2] - a[2])
            points.append(a + fraction[:, None] * (far - a))
    points = np.concatenate(points)
    depth = np.maximum(points[:, 2], _NEAR_M)
    x = rig.focal_px * points[:, 0] / depth + rig.cx_px
    y = rig.focal_px * points[:, 1] / depth + rig.cy_px
    col0, col1 = int(np.clip(np.floor(x.min()) - 1, 0, rig.width)), int(np.clip(np.ceil(x.max()) + 2, 0, rig.width))
    row0, row1 = int(np.clip(np.floor(y.min()) - 1, 0, rig.height)), int(np.clip(np.ceil(y.max()) + 2, 0, rig.height))
    return row0, row1, col0, col1


def _zbuffer(surfaces: Sequence[Surface], origin_x: float, dx: np.ndarray, dy: np.ndarray,
             rig: RigGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) float32 (inf = nothing) and surface index (H, W) int32 (-1 = nothing) of one view."""
    depth = np.full(dx.shape, np.inf, np.float32)
    index = np.full(dx.shape, -1, np.int32)
    for number, surface in enumerate(surfaces):
        row0, row1, col0, col1 = _bounding_box(surface, origin_x, rig)
        if row0 >= row1 or col0 >= col1:
            continue
        window = np.s_[row0:row1, col0:col1]
        t = surface.hit(origin_x, dx[window], dy[window])
        nearer = t < depth[window]
        depth[window][nearer] = t[nearer]
        index[window][nearer] = number
    return depth, index


def _hidden_from(surfaces: Sequence[Surface], depth: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                 origin_x: float, other_x: float, rig: RigGeometry, max_disparity_px: float) -> np.ndarray:
    """True where the point a view sees is not visible from the camera at ``other_x`` (nearer surface or
    outside its image); ``depth``, ``dx``, ``dy`` (H, W) are that view's depth and ray directions, and no
    disparity exceeds ``max_disparity_px``."""
    with np.errstate(divide="ignore"):
        other_dx = (dx + np.float32(origin_x - other_x) / depth).astype(np.float32)
    column = rig.focal_px * other_dx + rig.cx_px
    hidden = ~((column > -0.5) & (column < rig.width - 0.5) & np.isfinite(depth))
    reach = int(np.ceil(max_disparity_px)) + 1
    for surface in surfaces:
        if isinstance(surface, Plane) and surface.extent is None and \
                (surface.normal[0] * origin_x - surface.offset) * (surface.normal[0] * other_x - surface.offset) > 0:
            continue  # an unbounded plane with both cameras on one side hides nothing either camera sees
        row0, row1, col0, col1 = _bounding_box(surface, other_x, rig)
        if row0 >= row1 or col0 >= col1:
            continue
        # this view's pixels whose ray to the other camera can cross that rectangle (|d| <= reach)
        own0, own1 = (col0, col1 + reach) if other_x > origin_x else (col0 - reach, col1)
        window = np.s_[row0:row1, max(own0, 0):min(own1, rig.width)]
        seen = column[window]
        candidates = np.nonzero(~hidden[window] & (seen >= col0 - 0.5) & (seen < col1 + 0.5))
        if candidates[0].size == 0:
            continue
        t = surface.hit(other_x, other_dx[window][candidates], dy[window][candidates])
        hidden[window][candidates] |= t < depth[window][candidates] * np.float32(1.0 - _SELF_HIT)
    return hidden


def _shade_view(surfaces: Sequence[Surface], lighting: Lighting, depth: np.ndarray, index: np.ndarray,
                dx: np.ndarray, dy: np.ndarray, origin_x: float, other_x: float,
                rig: RigGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Colour (H, W, 3) float32 (may exceed 1 in highlights) and the mask of pixels whose highlight seen
    from ``other_x`` differs from their own (H, W) bool."""
    colour = np.zeros((depth.size, 3), np.float32)
    specular = np.zeros(depth.size, bool)
    own, other = np.array([origin_x, 0.0, 0.0]), np.array([other_x, 0.0, 0.0])
    flat = index.ravel()
    order = np.argsort(flat, kind="stable")
    numbers, starts = np.unique(flat[order], return_index=True)
    ends = np.append(starts[1:], flat.size)
    for number, start, end in zip(numbers, starts, ends):
        if number < 0:
            continue
        surface = surfaces[number]
        pixels = order[start:end]
        t = depth.ravel()[pixels].astype(np.float64)
        ray = np.stack([dx.ravel()[pixels], dy.ravel()[pixels], np.ones(pixels.size, np.float32)],
                       axis=1).astype(np.float64)
        points = own + t[:, None] * ray
        u, v, normals = surface.geometry(points)
        ray_length = np.sqrt(np.einsum("ij,ij->i", ray, ray))
        cosine = np.abs(np.einsum("ij,ij->i", normals, ray)) / ray_length
        footprint = t * ray_length / (rig.focal_px * np.maximum(cosine, _MIN_COSINE))
        material = surface.material
        views = (own, other) if material.specular > 0.0 else ()
        diffuse, highlights = lighting.shade(points, normals, views, material)
        albedo = material.albedo(u, v, footprint)
        shaded = albedo * (diffuse + material.emissive).astype(np.float32)
        if highlights:
            shaded += highlights[0].astype(np.float32)
            specular[pixels] = np.abs(highlights[0] - highlights[1]).max(axis=1) > _HIGHLIGHT_THRESHOLD
        colour[pixels] = shaded
    return colour.reshape(depth.shape + (3,)), specular.reshape(depth.shape)


def render(surfaces: Sequence[Surface], lighting: Lighting, rig: RigGeometry, *, kind: str,
           max_disparity_px: float, backdrop: Material, backdrop_disparity_px: float) -> StereoScene:
    """Render a stereo pair of ``surfaces`` in front of a fronto-parallel backdrop.

    The baseline is shrunk, if needed, so that the nearest surface the left camera
    sees has a disparity of at most ``max_disparity_px``; the backdrop is then put
    at the depth of ``backdrop_disparity_px`` (>= 0.5), so every pixel has a
    disparity in [backdrop_disparity_px, max_disparity_px].

    Args:
        surfaces: the scene, in the left camera frame (metres).
        lighting: its lights.
        rig: image size, focal length and the largest baseline to use.
        kind: recorded in the scene.
        max_disparity_px: largest disparity, px.
        backdrop: material of the far plane (u, v = its X, Y in metres).
        backdrop_disparity_px: disparity of the far plane, px (>= 0.5).

    Raises:
        SceneConfigError: ``backdrop_disparity_px`` is outside [0.5, max_disparity_px).
    """
    if not 0.5 <= backdrop_disparity_px < max_disparity_px:
        raise SceneConfigError(
            f"backdrop_disparity_px must be in [0.5, {max_disparity_px}), got {backdrop_disparity_px}")
    ys, xs = np.mgrid[0:rig.height, 0:rig.width].astype(np.float32)
    dx, dy = (xs - rig.cx_px) / rig.focal_px, (ys - rig.cy_px) / rig.focal_px
    left_depth, _ = _zbuffer(surfaces, 0.0, dx, dy, rig)
    nearest = float(left_depth.min())
    baseline = rig.baseline_m
    if np.isfinite(nearest):
        baseline = min(baseline, 0.999 * max_disparity_px * nearest / rig.focal_px)
    rig = RigGeometry(rig.width, rig.height, rig.focal_px, baseline, rig.cx_px, rig.cy_px)
    far = rig.focal_px * baseline / backdrop_disparity_px
    scene = [*surfaces, Plane(np.array([0.0, 0.0, far]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]),
                              backdrop)]
    views = {}
    for name, origin_x, other_x in (("left", 0.0, baseline), ("right", baseline, 0.0)):
        depth, index = _zbuffer(scene, origin_x, dx, dy, rig)
        hidden = _hidden_from(surfaces, depth, dx, dy, origin_x, other_x, rig, max_disparity_px)
        colour, specular = _shade_view(scene, lighting, depth, index, dx, dy, origin_x, other_x, rig)
        views[name] = (depth, hidden, colour, specular)
    left_depth, occluded, left, specular = views["left"]
    right_depth, hidden_in_left, right, _ = views["right"]
    scale = np.float32(rig.focal_px * baseline)
    right_disparity = np.where(hidden_in_left, np.float32(np.nan), scale / right_depth)
    return StereoScene(left=to_uint8(left), right=to_uint8(right), disparity_px=(scale / left_depth),
                       occluded=occluded, disparity_right_px=right_disparity.astype(np.float32),
                       specular=specular, kind=kind)
