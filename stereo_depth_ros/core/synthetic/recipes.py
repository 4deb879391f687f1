"""Robot-like scene recipes, ray-cast by :mod:`.raycast` (kinds other than "layered").

Each recipe builds surfaces in a level world frame (x right, y down, z
forward, metres; the camera at the origin, the floor at y = camera height) and
turns them into the camera frame by the camera's pitch and roll. Sizes are
metric (corridors 1.2-4 m wide, poles 2-15 cm thick, wires 1-3 px wide at
their distance); the focal length (0.5-0.95 x width) and the baseline
(0.06-0.25 m, shrunk when the nearest surface would exceed the largest
disparity) turn them into disparities. Everything is drawn from the scene's
generator, so a scene depends only on it and the configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stereo_depth_ros.core.synthetic.config import SceneConfig, StereoScene
from stereo_depth_ros.core.synthetic.raycast import (
    Cylinder,
    Lighting,
    Material,
    Plane,
    RigGeometry,
    Sphere,
    Surface,
    render,
)
from stereo_depth_ros.core.synthetic.textures import MipTexture, low_texture, random_texture

_UP = np.array([0.0, -1.0, 0.0])
_CLEARANCE_M = 0.05  # closest a solid may come to the baseline
_X, _Y, _Z = np.eye(3)


def _rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _horizontal(yaw: float) -> np.ndarray:
    """Unit vector in the floor plane, ``yaw`` radians from forward towards the right."""
    return np.array([np.sin(yaw), 0.0, np.cos(yaw)])


class _Builder:
    """Surfaces and lights of one scene, given in the world frame, stored in the camera frame."""

    def __init__(self, rng: np.random.Generator, config: SceneConfig, *,
                 pitch_deg: tuple[float, float] = (-4.0, 20.0), roll_deg: float = 5.0) -> None:
        self.rng, self.config = rng, config
        self.focal = config.width * rng.uniform(0.5, 0.95)
        self.baseline = rng.uniform(0.06, 0.25)
        pitch = np.radians(rng.uniform(*pitch_deg))
        roll = np.radians(rng.uniform(-roll_deg, roll_deg))
        # camera axes in the world: looking down by ``pitch``, rolled by ``roll``; world -> camera is the transpose
        self.rotation = (_rotation_x(-pitch) @ _rotation_z(roll)).T
        self.surfaces: list[Surface] = []
        self.ambient = np.zeros(3)
        self.directions: list[np.ndarray] = []
        self.direction_colours: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.point_colours: list[np.ndarray] = []

    # ---------------------------------------------------------------- placement
    def disparity_depth(self, low_px: float = 2.0, power: float = 1.7) -> float:
        """A depth, metres, whose disparity is drawn between ``low_px`` and 0.9 x the largest (favouring far)."""
        high = 0.9 * self.config.max_disparity_px
        disparity = low_px + (high - low_px) * self.rng.uniform(0.0, 1.0) ** power
        return self.focal * self.baseline / disparity

    def view_width(self, depth: float) -> float:
        """Width of the field of view at ``depth``, metres."""
        return depth * self.config.width / self.focal

    def lateral(self, depth: float, spread: float = 1.1) -> float:
        """A lateral position, metres, inside the horizontal field of view at ``depth`` (x ``spread``)."""
        return self.rng.uniform(-spread, spread) * depth * 0.5 * self.config.width / self.focal

    # ---------------------------------------------------------------- materials
    def material(self, *, low: bool = False, tile_m: tuple[float, float] = (0.5, 3.0), specular: float = 0.0,
                 shininess: float = 50.0, emissive: float = 0.0, textureless: bool | None = None) -> Material:
        """A material; ``low``: painted-wall texture; else a photograph, pattern or (sometimes) a flat colour."""
        rng = self.rng
        if textureless is None:
            textureless = rng.random() < self.config.textureless_probability
        if emissive > 0.0:  # lamps: near-white
            texture = np.ones((16, 16, 3), np.float32) * rng.uniform(0.85, 1.0, 3).astype(np.float32)
        else:
            texture = low_texture(rng) if low else random_texture(rng, textureless=textureless)
        return Material(MipTexture(texture), max(texture.shape[:2]) / rng.uniform(*tile_m),
                        offset=tuple(rng.uniform(0.0, 1000.0, 2)), angle=rng.uniform(-np.pi, np.pi),
                        specular=specular, shininess=shininess, emissive=emissive)

    def glossy(self, *, low: bool = False, strength: tuple[float, float] = (0.3, 1.2)) -> Material:
        """A glossy material: highlights of strength and size drawn at random."""
        return self.material(low=low, specular=self.rng.uniform(*strength),
                             shininess=float(np.exp(self.rng.uniform(np.log(20.0), np.log(600.0)))))

    # ---------------------------------------------------------------- surfaces (world frame)
    def plane(self, origin: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray, material: Material, *,
              extent: tuple[float, float, float, float] | None = None, ellipse: bool = False) -> None:
        r = self.rotation
        self.surfaces.append(Plane(r @ origin, r @ axis_u, r @ axis_v, material, extent=extent, ellipse=ellipse))

    def _baseline_world(self) -> np.ndarray:
        """Points along the baseline (both camera centres and between), world frame, (5, 3)."""
        return np.linspace(0.0, self.baseline, 5)[:, None] * (self.rotation.T @ _X)[None, :]

    def _clear_of_cameras(self, distance: Callable[[np.ndarray], np.ndarray], margin: float) -> bool:
        """True when ``distance`` (world points (5, 3) -> (5,)) exceeds ``margin`` along the whole baseline:
        a solid must not swallow a camera (the other one would see it, that one not)."""
        return bool(np.all(distance(self._baseline_world()) > margin + _CLEARANCE_M))

    def box(self, bottom: np.ndarray, size: tuple[float, float, float], yaw: float, material: Material) -> None:
        """A box standing on ``bottom`` (centre of its base), size (width, height, depth); faces the cameras
        cannot see (from either end of the baseline) are left out; no box where it would hold a camera."""
        forward, right = _horizontal(yaw), _horizontal(yaw + np.pi / 2)
        half = np.array(size) / 2.0
        centre = bottom + _UP * half[1]
        local = np.stack([right, _UP, forward])
        if not self._clear_of_cameras(lambda p: np.max(np.abs((p - centre) @ local.T) - half, axis=1), 0.0):
            return
        for axis, other_u, other_v, h, hu, hv in ((right, _UP, forward, half[0], half[1], half[2]),
                                                  (_UP, right, forward, half[1], half[0], half[2]),
                                                  (forward, right, _UP, half[2], half[0], half[1])):
            for sign in (1.0, -1.0):
                face = centre + sign * h * axis
                outward = self.rotation @ (sign * axis)
                face_camera = self.rotation @ face
                cameras = (np.zeros(3), np.array([self.baseline, 0.0, 0.0]))
                if all(outward @ (camera - face_camera) <= 0.0 for camera in cameras):
                    continue
                self.plane(face, other_u, other_v, material, extent=(-hu, hu, -hv, hv))

    def cylinder(self, start: np.ndarray, direction: np.ndarray, length: float, radius: float,
                 material: Material, *, inside: bool = False, caps: bool = False) -> None:
        r = self.rotation
        direction = direction / np.linalg.norm(direction)

        def from_axis(points: np.ndarray) -> np.ndarray:
            along = np.clip((points - start) @ direction, 0.0, length)
            return np.linalg.norm(points - start - along[:, None] * direction, axis=1)

        clear = from_axis(self._baseline_world())
        if (np.any(clear < radius + _CLEARANCE_M) if not inside
                else np.any(clear > radius - _CLEARANCE_M)):  # a solid holding a camera / a tunnel not holding both
            return
        self.surfaces.append(Cylinder(r @ start, r @ direction, length, radius, material, inside=inside))
        if caps:
            side = np.cross(direction, _X if abs(direction[0]) < 0.9 else _Y)
            for centre in (start, start + length * direction):
                self.plane(centre, side, np.cross(direction, side), material,
                           extent=(-radius, radius, -radius, radius), ellipse=True)

    def sphere(self, centre: np.ndarray, radius: float, material: Material) -> None:
        if not self._clear_of_cameras(lambda p: np.linalg.norm(p - centre, axis=1), radius):
            return
        self.surfaces.append(Sphere(self.rotation @ centre, radius, material))

    # ---------------------------------------------------------------- lights (world frame)
    def sun(self) -> None:
        elevation, azimuth = np.radians(self.rng.uniform(15.0, 75.0)), self.rng.uniform(-np.pi, np.pi)
        towards = np.array([np.cos(elevation) * np.sin(azimuth), -np.sin(elevation),
                            np.cos(elevation) * np.cos(azimuth)])
        self.directions.append(self.rotation @ towards)
        self.direction_colours.append(np.array([1.0, 0.96, 0.9]) * self.rng.uniform(0.5, 0.9))
        self.ambient = np.array([0.85, 0.9, 1.0]) * self.rng.uniform(0.25, 0.5)

    def lamp(self, position: np.ndarray, strength: float) -> None:
        tint = np.array([1.0, 1.0, 1.0]) + self.rng.uniform(-0.1, 0.1, 3)
        self.points.append(self.rotation @ position)
        self.point_colours.append(tint * strength)

    def render(self, kind: str, *, backdrop_disparity_px: tuple[float, float] = (0.5, 3.0)) -> StereoScene:
        lighting = Lighting(self.ambient, tuple(self.directions), tuple(self.direction_colours),
                            tuple(self.points), tuple(self.point_colours))
        rig = RigGeometry(self.config.width, self.config.height, self.focal, self.baseline)
        low, high = backdrop_disparity_px
        backdrop_px = self.rng.uniform(low, min(high, 0.5 * self.config.max_disparity_px))
        backdrop = self.material(tile_m=(4.0, 40.0))
        return render(self.surfaces, lighting, rig, kind=kind, max_disparity_px=self.config.max_disparity_px,
                      backdrop=backdrop, backdrop_disparity_px=backdrop_px)


# -------------------------------------------------------------------- shared parts

def _ground(b: _Builder, *, glossy_probability: float = 0.15) -> float:
    """A floor at camera height 0.2-1.5 m with a few flat patches on it, under the sun; returns the height."""
    rng = b.rng
    height = rng.uniform(0.2, 1.5)
    floor = b.glossy(strength=(0.1, 0.4)) if rng.random() < glossy_probability else b.material(tile_m=(0.4, 4.0))
    b.plane(np.array([0.0, height, 0.0]), _X, _Z, floor)
    for _ in range(int(rng.integers(0, 4))):  # markings, rugs, puddles: 2 mm above the floor
        depth = b.disparity_depth()
        size = rng.uniform(0.3, 3.0, 2)
        patch = b.glossy() if rng.random() < 0.3 else b.material(tile_m=(0.3, 2.0))
        b.plane(np.array([b.lateral(depth), height - 0.002, depth]), _horizontal(rng.uniform(0, np.pi)),
                _horizontal(rng.uniform(0, np.pi) + np.pi / 2), patch,
                extent=(-size[0] / 2, size[0] / 2, -size[1] / 2, size[1] / 2), ellipse=rng.random() < 0.4)
    b.sun()
    return height


def _object_on_floor(b: _Builder, height: float, position: np.ndarray | None = None) -> None:
    """A box, pole, ball or lying barrel standing on the floor (at ``position`` on the floor, else in view)."""
    rng = b.rng
    if position is None:
        depth = b.disparity_depth()
        position = np.array([b.lateral(depth), height, depth])
    material = b.glossy() if rng.random() < 0.15 else b.material(tile_m=(0.2, 2.0))
    # at most about half the view across at its distance
    largest = float(np.clip(0.5 * b.view_width(float(np.hypot(position[0], position[2]))), 0.2, 1.5))
    choice = rng.integers(4)
    if choice == 0:
        b.box(position, tuple(rng.uniform(0.15, largest, 3)), rng.uniform(0, np.pi), material)
    elif choice == 1:
        radius = rng.uniform(0.02, 0.15)
        b.cylinder(position, _UP, rng.uniform(0.8, 5.0), radius, material, caps=True)
    elif choice == 2:
        radius = rng.uniform(0.08, max(0.35 * largest, 0.1))
        b.sphere(position + _UP * radius, radius, material)
    else:
        radius, length = rng.uniform(0.08, max(0.3 * largest, 0.1)), rng.uniform(0.4, 2.0 * largest)
        axis = _horizontal(rng.uniform(0, np.pi))
        b.cylinder(position + _UP * radius - axis * length / 2, axis, length, radius, material, caps=True)


def _wire(b: _Builder, depth: float, height: float) -> None:
    """A straight wire or cable 1-3 px wide at ``depth``, spanning the view, slightly sloped."""
    rng = b.rng
    radius = rng.uniform(1.0, 3.0) * depth / (2.0 * b.focal)
    direction = _horizontal(rng.uniform(0, np.pi)) + _UP * rng.uniform(-0.3, 0.3)
    direction /= np.linalg.norm(direction)
    length = 4.0 * depth * b.config.width / b.focal + rng.uniform(1.0, 10.0)
    centre = np.array([b.lateral(depth, 0.8), height - rng.uniform(0.3, 5.0), depth])
    b.cylinder(centre - direction * length / 2, direction, length, radius,
               b.material(textureless=rng.random() < 0.7, tile_m=(0.05, 0.5),
                          specular=rng.uniform(0.0, 0.3), shininess=30.0))


def _railing(b: _Builder, height: float) -> None:
    """Posts, a top rail and balusters (or a middle rail) along a line on the floor."""
    rng = b.rng
    depth = b.disparity_depth(low_px=4.0)
    along = _horizontal(rng.uniform(0, np.pi))
    length = rng.uniform(2.0, 10.0)
    start = np.array([b.lateral(depth, 0.6), height, depth]) - along * length / 2
    top = rng.uniform(0.8, 1.1)
    metal = b.glossy(strength=(0.2, 0.8)) if rng.random() < 0.5 else b.material(tile_m=(0.1, 1.0))
    b.cylinder(start + _UP * top, along, length, rng.uniform(0.015, 0.035), metal, caps=True)
    posts = max(int(length / rng.uniform(1.2, 2.5)), 1)
    for k in range(posts + 1):
        b.cylinder(start + along * (length * k / posts), _UP, top, rng.uniform(0.02, 0.04), metal)
    if rng.random() < 0.6:
        count = min(int(length / rng.uniform(0.1, 0.25)), 40)
        radius = rng.uniform(0.006, 0.015)
        for k in range(1, count):
            b.cylinder(start + along * (length * k / count), _UP, top, radius, metal)
    else:
        b.cylinder(start + _UP * top / 2, along, length, rng.uniform(0.01, 0.025), metal)


class _Corridor:
    """Floor, ceiling, two side walls and (usually) an end wall; doors, posters, skirting, ceiling lamps."""

    def __init__(self, b: _Builder) -> None:
        rng = b.rng
        self.width, self.ceiling = rng.uniform(1.2, 4.0), rng.uniform(2.2, 3.5)
        self.height = rng.uniform(0.2, min(1.6, self.ceiling - 0.4))       # camera above the floor
        self.offset = rng.uniform(-1.0, 1.0) * (self.width / 2 - 0.15)      # camera across the corridor
        self.axis = _horizontal(np.radians(rng.uniform(-30.0, 30.0)))
        self.across = np.cross(self.axis, _UP)                              # to the right
        self.length = rng.uniform(5.0, 40.0)
        self.builder = b
        wall = b.material(low=rng.random() < 0.55, tile_m=(0.5, 3.0))
        other_wall = wall if rng.random() < 0.6 else b.material(low=rng.random() < 0.55, tile_m=(0.5, 3.0))
        floor = (b.glossy(strength=(0.15, 0.6)) if rng.random() < 0.5 else b.material(tile_m=(0.3, 2.0)))
        ceiling = b.material(low=rng.random() < 0.7, tile_m=(0.5, 3.0))
        b.plane(self.at(0.0, 0.0, 0.0), self.across, self.axis, floor)
        b.plane(self.at(0.0, 0.0, self.ceiling), self.across, self.axis, ceiling)
        for side, material in ((-1.0, wall), (1.0, other_wall)):
            b.plane(self.at(side * self.width / 2, 0.0, 0.0), self.axis, _UP, material)
            self._wall_details(side)
        if rng.random() < 0.7:
            b.plane(self.at(0.0, self.length, 0.0), self.across, _UP, b.material(low=rng.random() < 0.5))
        spacing = rng.uniform(2.0, 5.0)
        for k, s in enumerate(np.arange(rng.uniform(0.5, spacing), self.length, spacing)[:8]):
            b.plane(self.at(0.0, s, self.ceiling - 0.005), self.across, self.axis,
                    b.material(textureless=True, emissive=rng.uniform(1.5, 3.0)),
                    extent=(-0.2, 0.2, -0.5, 0.5))
            if k < 5:
                b.lamp(self.at(0.0, s, self.ceiling - 0.3), rng.uniform(0.5, 2.5))
        b.ambient = np.full(3, rng.uniform(0.15, 0.35))

    def at(self, across_m: float, along_m: float, up_m: float) -> np.ndarray:
        """World point at ``across_m`` from the corridor's centre line, ``along_m`` ahead, ``up_m`` above the floor."""
        return (across_m - self.offset) * self.across + along_m * self.axis + (self.height - up_m) * _Y

    def _wall_details(self, side: float) -> None:
        b, rng = self.builder, self.builder.rng
        inward = -side
        skirting = rng.uniform(0.06, 0.15)
        b.plane(self.at(side * self.width / 2 + inward * 0.01, 0.0, skirting / 2), self.axis, _UP,
                b.material(textureless=True), extent=(-5.0, self.length, -skirting / 2, skirting / 2))
        for _ in range(int(rng.integers(0, 4))):  # doors: 2 cm proud of the wall
            door_width, door_height = rng.uniform(0.8, 1.0), rng.uniform(1.95, 2.2)
            centre = self.at(side * self.width / 2 + inward * 0.02, rng.uniform(0.5, self.length), door_height / 2)
            b.plane(centre, self.axis, _UP, b.material(tile_m=(0.5, 2.0)),
                    extent=(-door_width / 2, door_width / 2, -door_height / 2, door_height / 2))
        for _ in range(int(rng.integers(0, 3))):  # posters and signs: 3 mm proud
            size = rng.uniform(0.2, 1.0, 2)
            centre = self.at(side * self.width / 2 + inward * 0.003, rng.uniform(0.5, self.length),
                             rng.uniform(1.0, 1.8))
            b.plane(centre, self.axis, _UP, b.glossy() if rng.random() < 0.3 else b.material(tile_m=(0.3, 1.5)),
                    extent=(-size[0] / 2, size[0] / 2, -size[1] / 2, size[1] / 2))

    def floor_point(self, margin: float = 0.3) -> np.ndarray:
        """A point on the floor inside the corridor, ahead of the camera."""
        rng = self.builder.rng
        return self.at(rng.uniform(-1.0, 1.0) * max(self.width / 2 - margin, 0.05),
                       self.builder.disparity_depth(low_px=3.0), 0.0)


# -------------------------------------------------------------------- the kinds

def ground_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """A floor receding to a far backdrop (d linear in y), with a few objects on it."""
    b = _Builder(rng, config)
    height = _ground(b)
    for _ in range(int(rng.integers(0, 5))):
        _object_on_floor(b, height)
    return b.render("ground")


def corridor_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """A corridor: converging side walls, floor, ceiling with lamps, doors; open or closed far end."""
    b = _Builder(rng, config, pitch_deg=(-8.0, 15.0), roll_deg=4.0)
    _Corridor(b)
    return b.render("corridor")


def poles_wires_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """Poles, railings and thin wires (1-3 px, near and far) over a ground."""
    b = _Builder(rng, config)
    height = _ground(b)
    for _ in range(int(rng.integers(2, 8))):
        depth = b.disparity_depth()
        radius = min(rng.uniform(0.02, 0.15), 0.06 * b.view_width(depth))   # at most ~1/8 of the view across
        b.cylinder(np.array([b.lateral(depth), height, depth]), _UP, rng.uniform(1.0, 6.0), radius,
                   b.glossy() if rng.random() < 0.2 else b.material(tile_m=(0.1, 1.0)), caps=True)
    if rng.random() < 0.7:
        _railing(b, height)
    for number in range(int(rng.integers(2, 7))):
        _wire(b, b.disparity_depth(low_px=20.0 if number % 2 == 0 else 1.5), height)
    return b.render("poles_wires")


def curved_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """Columns, balls, barrels, curved walls and tunnels: disparity that is not affine."""
    b = _Builder(rng, config)
    height = _ground(b)
    if rng.random() < 0.25:  # a tunnel around the camera, its axis ahead
        radius = rng.uniform(1.5, 3.0)
        axis = _horizontal(np.radians(rng.uniform(-20.0, 20.0)))
        centre = np.array([rng.uniform(-0.3, 0.3) * radius, height - rng.uniform(0.3, 0.7) * radius, 0.0])
        b.cylinder(centre - axis * 5.0, axis, 80.0, radius, b.material(low=rng.random() < 0.3), inside=True)
    if rng.random() < 0.4:  # a large curved wall
        radius, depth = rng.uniform(2.0, 10.0), b.disparity_depth()
        b.cylinder(np.array([b.lateral(depth), height, depth + radius]), _UP, rng.uniform(2.0, 8.0), radius,
                   b.material(tile_m=(0.5, 3.0)))
    for _ in range(int(rng.integers(1, 4))):  # columns, at most about a third of the view across
        depth = b.disparity_depth()
        b.cylinder(np.array([b.lateral(depth), height, depth]), _UP, rng.uniform(1.5, 6.0),
                   rng.uniform(0.1, 1.0) * min(0.15 * b.view_width(depth), 0.8), b.material(tile_m=(0.3, 2.0)),
                   caps=True)
    for _ in range(int(rng.integers(1, 5))):  # balls
        depth = b.disparity_depth()
        radius = rng.uniform(0.1, 1.0) * min(0.2 * b.view_width(depth), 0.8)
        b.sphere(np.array([b.lateral(depth), height - radius, depth]),
                 radius, b.glossy() if rng.random() < 0.3 else b.material(tile_m=(0.2, 1.5)))
    for _ in range(int(rng.integers(0, 3))):  # barrels and pipes lying on the floor
        depth = b.disparity_depth()
        radius = rng.uniform(0.2, 1.0) * min(0.15 * b.view_width(depth), 0.5)
        length, axis = rng.uniform(0.5, 3.0), _horizontal(rng.uniform(0, np.pi))
        b.cylinder(np.array([b.lateral(depth), height - radius, depth]) - axis * length / 2, axis, length, radius,
                   b.material(tile_m=(0.2, 1.5)), caps=True)
    return b.render("curved")


def glossy_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """A room of low-texture walls, a glossy floor, glossy panels, shiny balls and poles under lamps placed
    so that their highlights are in view (and differ between the two views)."""
    b = _Builder(rng, config, pitch_deg=(-5.0, 15.0))
    height = rng.uniform(0.3, 1.5)
    floor = b.glossy(strength=(0.2, 0.8)) if rng.random() < 0.8 else b.material(tile_m=(0.3, 2.0))
    b.plane(np.array([0.0, height, 0.0]), _X, _Z, floor)
    back = rng.uniform(3.0, 12.0)
    b.plane(np.array([0.0, 0.0, back]), _X, _UP, b.material(low=True))
    if rng.random() < 0.6:
        side = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 4.0)
        b.plane(np.array([side, 0.0, 0.0]), _Z, _UP, b.material(low=True))
    targets = [(np.array([0.0, height, b.disparity_depth(low_px=10.0)]), _UP)]  # (glossy point, its normal)
    for _ in range(int(rng.integers(2, 6))):  # panels facing the camera within +-40 degrees
        depth = min(b.disparity_depth(low_px=10.0), back - 0.2)
        centre = np.array([b.lateral(depth, 0.7), rng.uniform(-1.0, 0.8) * height, depth])
        across = _horizontal(np.radians(rng.uniform(-40.0, 40.0)) + np.pi / 2)
        size = rng.uniform(0.2, 1.0, 2) * min(0.7 * b.view_width(depth), 1.5)
        b.plane(centre, across, _UP, b.glossy(low=rng.random() < 0.6),
                extent=(-size[0] / 2, size[0] / 2, -size[1] / 2, size[1] / 2))
        targets.append((centre, np.cross(_UP, across)))
    for _ in range(int(rng.integers(0, 4))):  # shiny balls and poles
        depth = min(b.disparity_depth(low_px=8.0), back - 0.8)
        radius = rng.uniform(0.1, 0.6)
        base = np.array([b.lateral(depth, 0.8), height, depth])
        if rng.random() < 0.6:
            b.sphere(base + _UP * radius, radius, b.glossy(strength=(0.5, 1.2)))
        else:
            b.cylinder(base, _UP, rng.uniform(1.0, 3.0), radius / 3, b.glossy(strength=(0.5, 1.2)), caps=True)
        centre = base + _UP * radius
        targets.append((centre, -centre / np.linalg.norm(centre)))
    for point, normal in targets[:4]:  # a lamp near the mirror direction of the camera at each glossy point
        to_camera = -point / np.linalg.norm(point)
        normal = normal if normal @ to_camera > 0.0 else -normal
        mirror = 2.0 * (to_camera @ normal) * normal - to_camera + rng.uniform(-0.15, 0.15, 3)
        b.lamp(point + mirror / np.linalg.norm(mirror) * rng.uniform(1.0, 4.0), rng.uniform(2.0, 8.0))
    b.ambient = np.full(3, rng.uniform(0.2, 0.4))
    return b.render("glossy")


def cluttered_scene(rng: np.random.Generator, config: SceneConfig) -> StereoScene:
    """A corridor with boxes, poles, balls, ceiling cables and wires in it."""
    b = _Builder(rng, config, pitch_deg=(-8.0, 15.0), roll_deg=4.0)
    corridor = _Corridor(b)
    for _ in range(int(rng.integers(2, 9))):
        _object_on_floor(b, corridor.height, corridor.floor_point())
    for _ in range(int(rng.integers(0, 4))):  # cables along the ceiling
        start = corridor.at(rng.uniform(-0.45, 0.45) * corridor.width, -2.0, corridor.ceiling - rng.uniform(0.05, 0.4))
        b.cylinder(start, corridor.axis, corridor.length + 2.0, rng.uniform(0.004, 0.02),
                   b.material(textureless=True, specular=0.2, shininess=40.0))
    for _ in range(int(rng.integers(0, 3))):
        _wire(b, b.disparity_depth(low_px=6.0), corridor.height)
    return b.render("cluttered")


#: Scene kind -> recipe (``layered`` lives in :mod:`.layered`).
RECIPES: dict[str, Callable[[np.random.Generator, SceneConfig], StereoScene]] = {
    "ground": ground_scene,
    "corridor": corridor_scene,
    "poles_wires": poles_wires_scene,
    "curved": curved_scene,
    "glossy": glossy_scene,
    "cluttered": cluttered_scene,
}
