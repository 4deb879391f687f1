"""ros.calibration: one cache and rule for the node and the offline tools, on real CameraInfo messages.

The rig is asymmetric (fx != fy, cx_left != cx_right, non-square images); stamps change with every pair,
as they do in a stream.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stereo_depth_ros.core.errors import (
    BaselineSignError,
    FocalLengthError,
    NonFiniteCalibrationError,
    ProjectionMismatchError,
    RotationError,
)
from stereo_depth_ros.ros.calibration import CalibrationCache, calibration_diagnostics, camera_info_key

WIDTH, HEIGHT, FX, FY, CX_LEFT, CX_RIGHT, CY, BASELINE_M = 200, 120, 150.0, 140.0, 97.5, 104.0, 61.25, 0.09


def _infos(*, baseline_m: float = BASELINE_M, stamp_ns: int = 0) -> tuple[CameraInfo, CameraInfo]:
    p_left = np.array([[FX, 0.0, CX_LEFT, 0.0], [0.0, FY, CY, 0.0], [0.0, 0.0, 1.0, 0.0]])
    p_right = p_left.copy()
    p_right[0, 2:] = CX_RIGHT, -FX * baseline_m
    stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return tuple(CameraInfo(header=Header(frame_id=frame, stamp=stamp), width=WIDTH, height=HEIGHT,
                            distortion_model="plumb_bob", d=[0.0] * 5, k=p[:, :3].flatten().tolist(),
                            r=np.eye(3).flatten().tolist(), p=p.flatten().tolist())
                 for p, frame in ((p_left, "left_optical"), (p_right, "right_optical")))  # type: ignore[return-value]


def _changed(info: CameraInfo, field: str, index: int, value: float) -> CameraInfo:
    changed = copy.deepcopy(info)
    values = list(getattr(changed, field))
    values[index] = value
    setattr(changed, field, values)
    return changed


def test_a_constant_calibration_with_new_stamps_builds_one_rig():
    cache = CalibrationCache(rectify=False)
    updates = [cache.update(*_infos(stamp_ns=stamp), stamp_ns=stamp) for stamp in range(0, 10**9, 10**8)]
    assert cache.rigs_built == 1
    assert [update.changed for update in updates] == [True] + [False] * 9
    assert all(update.in_use is updates[0].in_use and update.rejected is None for update in updates)
    rig = updates[0].in_use.rig
    assert (rig.fx, rig.fy, rig.cx_offset_px, rig.baseline_m) == pytest.approx((FX, FY, CX_LEFT - CX_RIGHT,
                                                                                 BASELINE_M))
    assert rig.rectified_input and updates[0].in_use.first_stamp_ns == 0


def test_the_key_ignores_the_stamp_and_a_nan_equals_itself():
    left, _ = _infos(stamp_ns=1)
    later, _ = _infos(stamp_ns=2)
    assert camera_info_key(left) == camera_info_key(later)
    nan = _changed(left, "k", 4, float("nan"))
    assert camera_info_key(nan) == camera_info_key(copy.deepcopy(nan))
    assert camera_info_key(nan) != camera_info_key(left)
    assert camera_info_key(_changed(left, "d", 0, 1e-9)) != camera_info_key(left)


def test_a_repeated_bad_camera_info_is_rejected_every_time_and_the_good_one_kept():
    cache = CalibrationCache(rectify=False)
    good = cache.update(*_infos(), stamp_ns=0).in_use
    left, right = _infos()
    nan_left = _changed(left, "k", 4, float("nan"))
    for stamp in (1, 2, 3):
        update = cache.update(nan_left, right, stamp_ns=stamp)
        assert update.in_use is good and not update.changed
        assert isinstance(update.rejected, NonFiniteCalibrationError)
        assert str(update.rejected).startswith("left/camera_info: K contains NaN or inf")
    assert (cache.rejected_pairs, cache.rigs_built) == (3, 1)
    assert cache.update(*_infos(), stamp_ns=4).rejected is None     # good again: no new rig either
    assert cache.rigs_built == 1


def test_a_camera_info_that_breaks_the_pair_does_not_replace_the_good_one():
    cache = CalibrationCache(rectify=False)
    good = cache.update(*_infos(), stamp_ns=0).in_use
    left, right = _infos()
    # Each camera alone is valid; together their fy differ (not a rectified pair).
    other_fy = _changed(_changed(right, "p", 5, FY + 3.0), "k", 4, FY + 3.0)
    update = cache.update(left, other_fy, stamp_ns=1)
    assert isinstance(update.rejected, ProjectionMismatchError)
    assert str(update.rejected).startswith("left and right camera_info do not form a stereo rig: P_right[1,1]")
    assert update.in_use is good and cache.in_use is good
    swapped = cache.update(*_infos(baseline_m=-BASELINE_M), stamp_ns=2)
    assert isinstance(swapped.rejected, BaselineSignError) and swapped.in_use is good


def test_before_any_good_calibration_there_is_no_rig():
    cache = CalibrationCache(rectify=True)
    left, right = _infos()
    update = cache.update(left, _changed(right, "k", 0, 0.0), stamp_ns=5)
    assert update.in_use is None and isinstance(update.rejected, FocalLengthError)
    assert "right/camera_info: K[0,0] (fx) must be > 0 px, got 0.0" in str(update.rejected)
    assert cache.last_rejection is update.rejected
    rotated = cache.update(_changed(left, "r", 1, 0.2), right, stamp_ns=6)
    assert rotated.in_use is None and isinstance(rotated.rejected, RotationError)
    assert calibration_diagnostics(cache) == {"calibration_id": "none", "rigs_built_total": "0",
                                              "pairs_with_rejected_camera_info_total": "2"}


def test_a_new_good_calibration_replaces_the_old_and_diagnostics_name_it():
    cache = CalibrationCache(rectify=True)
    first = cache.update(*_infos(), stamp_ns=1_500_000_000).in_use
    update = cache.update(*_infos(baseline_m=0.2), stamp_ns=2_250_000_000)
    assert update.changed and update.rejected is None
    assert update.in_use.calibration_id != first.calibration_id
    assert update.in_use.rig.baseline_m == pytest.approx(0.2) and not update.in_use.rig.rectified_input
    values = calibration_diagnostics(cache)
    assert values["calibration_id"] == update.in_use.calibration_id and len(values["calibration_id"]) == 8
    assert values["calibration_since_stamp_s"] == "2.250"
    assert (values["baseline_m"], values["size"], values["fy_px"], values["cx_offset_px"]) == (
        "0.20000", f"{WIDTH}x{HEIGHT}", f"{FY:.3f}", f"{CX_LEFT - CX_RIGHT:.3f}")
    assert (values["rigs_built_total"], values["rectify"], values["frame_id"]) == ("2", "true", "left_optical")
    assert update.in_use.calibration_id in update.in_use.describe()
