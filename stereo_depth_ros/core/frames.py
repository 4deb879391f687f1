"""Rigid transforms between named frames: poses as matrices and a tree of static transforms (ROS-free).

Conventions (as tf2's): ``a_T_b`` is the (4, 4) float64 matrix that maps a
point's coordinates in frame ``b`` to frame ``a`` (p_a = a_T_b @ p_b, metres);
the transform a broadcaster publishes with ``header.frame_id = a`` and
``child_frame_id = b`` is ``a_T_b``, the pose of ``b`` in ``a``. Frame names
are compared without a leading "/".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stereo_depth_ros.core.errors import StereoDepthError

__all__ = ["StaticTransforms", "TransformError", "transform_from_pose"]


class TransformError(StereoDepthError):
    """A pose or transform is not a finite rigid transform."""


def transform_from_pose(pose: Sequence[float]) -> np.ndarray:
    """The rigid transform of a pose x y z qx qy qz qw (ROS order, quaternion scalar last).

    Args:
        pose: 7 finite numbers: translation in metres, then a quaternion of norm
            close to 1 (it is normalised here).

    Returns:
        (4, 4) float64 ``a_T_b`` for the pose of frame b in frame a: p_a = R @ p_b + t.

    Raises:
        TransformError: not 7 finite values, or a quaternion of zero norm.
    """
    values = np.asarray(pose, dtype=np.float64)
    if values.shape != (7,) or not np.all(np.isfinite(values)):
        raise TransformError(f"a pose is 7 finite values x y z qx qy qz qw, got {list(pose)!r}")
    norm = float(np.linalg.norm(values[3:]))
    if norm < 1e-9:
        raise TransformError(f"pose quaternion {values[3:].tolist()} has zero norm")
    qx, qy, qz, qw = values[3:] / norm
    transform = np.eye(4)
    transform[:3, :3] = [
        [1.0 - 2.0 * (qy * qy + qz * qz), 2.0 * (qx * qy - qz * qw), 2.0 * (qx * qz + qy * qw)],
        [2.0 * (qx * qy + qz * qw), 1.0 - 2.0 * (qx * qx + qz * qz), 2.0 * (qy * qz - qx * qw)],
        [2.0 * (qx * qz - qy * qw), 2.0 * (qy * qz + qx * qw), 1.0 - 2.0 * (qx * qx + qy * qy)],
    ]
    transform[:3, 3] = values[:3]
    return transform


def _invert(a_T_b: np.ndarray) -> np.ndarray:
    """``b_T_a`` of a rigid ``a_T_b``."""
    b_T_a = np.eye(4)
    b_T_a[:3, :3] = a_T_b[:3, :3].T
    b_T_a[:3, 3] = -a_T_b[:3, :3].T @ a_T_b[:3, 3]
    return b_T_a


def _frame(name: str) -> str:
    return name.lstrip("/")


class StaticTransforms:
    """Transforms that never change (a robot's /tf_static), looked up between any two connected frames.

    Each child frame has one parent; adding a child again replaces its transform
    (and its parent), as a re-published /tf_static does. Not thread-safe.
    """

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, parent_T_child)

    def __len__(self) -> int:
        return len(self._parent)

    def copy(self) -> StaticTransforms:
        """An independent copy (add to it while others look up in this one)."""
        duplicate = StaticTransforms()
        duplicate._parent = dict(self._parent)
        return duplicate

    def add(self, parent_frame: str, child_frame: str, parent_T_child: np.ndarray) -> None:
        """Record the pose of ``child_frame`` in ``parent_frame``.

        Raises:
            TransformError: empty or equal frame names, or not a finite (4, 4) rigid transform.
        """
        parent, child = _frame(parent_frame), _frame(child_frame)
        if not parent or not child or parent == child:
            raise TransformError(f"a transform needs two different frame names, got {parent_frame!r} -> "
                                 f"{child_frame!r}")
        matrix = np.asarray(parent_T_child, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise TransformError(f"{parent!r} -> {child!r}: a transform is a finite 4x4 matrix")
        rotation = matrix[:3, :3]
        if (not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
                or not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]) or np.linalg.det(rotation) < 0.0):
            raise TransformError(f"{parent!r} -> {child!r}: not a rigid transform (rotation and translation)")
        self._parent[child] = (parent, matrix)

    def lookup(self, target_frame: str, source_frame: str) -> np.ndarray | None:
        """``target_T_source``, composed along the tree, or None when the frames are not connected.

        Args:
            target_frame: the frame points are wanted in (e.g. a camera's optical frame).
            source_frame: the frame they are given in (e.g. a LiDAR's frame).
        """
        target, source = _frame(target_frame), _frame(source_frame)
        if target == source:
            return np.eye(4)
        target_chain, source_chain = self._root_T(target), self._root_T(source)
        common = next((frame for frame in source_chain if frame in target_chain), None)
        if common is None:
            return None
        # common_T_target and common_T_source by the chains up to the common ancestor.
        return _invert(target_chain[common]) @ source_chain[common]

    def _root_T(self, frame: str) -> dict[str, np.ndarray]:
        """``ancestor_T_frame`` for ``frame`` itself and every ancestor, nearest first."""
        chain = {frame: np.eye(4)}
        child = frame
        while child in self._parent:
            parent, parent_T_child = self._parent[child]
            if parent in chain:  # a cycle: stop rather than loop
                break
            chain[parent] = parent_T_child @ chain[child]
            child = parent
        return chain
