"""Poses as matrices and static transform lookups, against hand-composed transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stereo_depth_ros.core.frames import StaticTransforms, TransformError, transform_from_pose

QUARTER_TURN_Z = [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)]  # qx qy qz qw: x -> y


def test_a_pose_becomes_the_matrix_that_maps_child_points_into_the_parent() -> None:
    np.testing.assert_array_equal(transform_from_pose([0.0] * 6 + [1.0]), np.eye(4))
    quarter_turn = transform_from_pose([1.0, 2.0, 3.0, *QUARTER_TURN_Z])
    np.testing.assert_allclose(quarter_turn @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0], atol=1e-12)
    # A quaternion a little off unit norm is normalised; its sign does not matter.
    np.testing.assert_allclose(transform_from_pose([1.0, 2.0, 3.0, *(-1.004 * np.array(QUARTER_TURN_Z))]),
                               quarter_turn, atol=1e-12)
    with pytest.raises(TransformError, match="zero norm"):
        transform_from_pose([0.0] * 7)
    with pytest.raises(TransformError, match="7 finite values"):
        transform_from_pose([0.0, 0.0, 0.0, 1.0])
    with pytest.raises(TransformError, match="7 finite values"):
        transform_from_pose([math.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])


def robot() -> tuple[StaticTransforms, dict[str, np.ndarray]]:
    """base -> camera_link -> camera_optical and base -> lidar, with each base_T_frame composed by hand."""
    base_T_camera_link = transform_from_pose([0.2, 0.0, 0.4, *QUARTER_TURN_Z])
    camera_link_T_optical = transform_from_pose([0.0, 0.05, 0.0, -0.5, 0.5, -0.5, 0.5])
    base_T_lidar = transform_from_pose([0.0, 0.1, 0.6, 0.0, 0.0, 0.0, 1.0])
    tree = StaticTransforms()
    tree.add("base", "camera_link", base_T_camera_link)
    tree.add("camera_link", "camera_optical", camera_link_T_optical)
    tree.add("/base", "/lidar", base_T_lidar)  # tf2 names: a leading slash is ignored
    return tree, {"base": np.eye(4), "camera_link": base_T_camera_link,
                  "camera_optical": base_T_camera_link @ camera_link_T_optical, "lidar": base_T_lidar}


@pytest.mark.parametrize(("target", "source"), [
    ("camera_optical", "lidar"), ("lidar", "camera_optical"), ("base", "camera_optical"),
    ("camera_optical", "base"), ("camera_link", "camera_optical"), ("lidar", "lidar")])
def test_lookup_composes_along_the_tree(target: str, source: str) -> None:
    tree, base_T = robot()
    found = tree.lookup(target, source)
    assert found is not None
    np.testing.assert_allclose(found, np.linalg.inv(base_T[target]) @ base_T[source], atol=1e-12)
    point = np.array([1.5, -0.3, 4.0, 1.0])  # a point in the source frame lands where the chain puts it
    np.testing.assert_allclose(base_T[target] @ found @ point, base_T[source] @ point, atol=1e-12)


def test_unconnected_frames_give_none_and_a_republished_child_replaces_its_transform() -> None:
    tree, _ = robot()
    tree.add("odom", "wheel", np.eye(4))
    assert tree.lookup("camera_optical", "wheel") is None
    assert tree.lookup("camera_optical", "never_published") is None
    moved = transform_from_pose([0.0, 0.2, 0.6, 0.0, 0.0, 0.0, 1.0])
    tree.add("base", "lidar", moved)
    np.testing.assert_allclose(tree.lookup("base", "lidar"), moved)
    assert len(tree) == 4


def test_copy_is_independent() -> None:
    tree, _ = robot()
    extended = tree.copy()
    extended.add("lidar", "lidar_imu", np.eye(4))
    assert tree.lookup("base", "lidar_imu") is None and extended.lookup("base", "lidar_imu") is not None


def test_a_cycle_does_not_loop() -> None:
    tree = StaticTransforms()
    tree.add("a", "b", np.eye(4))
    tree.add("b", "a", np.eye(4))  # a broken /tf_static
    assert tree.lookup("a", "c") is None


@pytest.mark.parametrize(("parent", "child", "matrix", "words"), [
    ("base", "base", np.eye(4), "two different frame names"),
    ("", "lidar", np.eye(4), "two different frame names"),
    ("base", "lidar", np.full((4, 4), np.nan), "finite 4x4"),
    ("base", "lidar", np.eye(3), "finite 4x4"),
    ("base", "lidar", np.diag([2.0, 1.0, 1.0, 1.0]), "not a rigid transform"),
    ("base", "lidar", np.diag([-1.0, 1.0, 1.0, 1.0]), "not a rigid transform"),  # a mirror
])
def test_bad_transforms_are_refused(parent: str, child: str, matrix: np.ndarray, words: str) -> None:
    with pytest.raises(TransformError, match=words):
        StaticTransforms().add(parent, child, matrix)
