"""One calibration cache and policy for the node, ``stereo_bag_process`` and ``stereo_depth_adapt``.

Every stereo pair comes with each side's latest CameraInfo. ``CalibrationCache.update``
decides which rig the pair is processed with, by one rule, live and offline:

* The pair of CameraInfos is identified by everything but the header stamp
  (``camera_info_key``): equal keys mean the same calibration, whatever the
  stamps; float fields are compared by their bytes, so a NaN in a CameraInfo
  equals itself and a repeated bad message is recognised.
* A new pair of CameraInfos is validated as a whole before it is cached: each
  camera (``ros.messages.calibration_from_camera_info``, then
  ``core.camera_model.CameraCalibration``: sizes, finite values, distortion model
  and D magnitude, focal lengths, principal points, R orthonormal) and the pair
  (``StereoCameraModel``: equal sizes, a rectified pair of P matrices, the
  baseline and its sign). A valid pair becomes the calibration in use; its rig
  (with its rectification maps) is built once, when it first appears.
* An invalid pair is **rejected and the last good calibration stays in use**:
  the caller reports the error (the node: a throttled warning and /diagnostics;
  the offline tools: the first rejection of each kind printed, all counted) and
  processes the pair with the kept rig. Before any good calibration there is no
  rig: the pair gets no output (the node reports an error; the offline tools skip
  the frame and count it). A rejected key is remembered, so the same bad
  CameraInfos again are not validated again, but they are still reported as
  rejected every time.

``CalibrationInUse.calibration_id`` (8 hex digits of the key's SHA-1) names the
calibration: the node shows it on /diagnostics and logs it when it changes, the
offline tools print it in their summaries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CameraInfo

from stereo_depth_ros.core.camera_model import CameraCalibration, StereoCameraModel
from stereo_depth_ros.core.errors import CalibrationError
from stereo_depth_ros.ros.messages import calibration_from_camera_info
from stereo_depth_ros.ros.sync import Side

__all__ = ["CalibrationCache", "CalibrationInUse", "CalibrationUpdate", "calibration_diagnostics", "camera_info_key"]


def camera_info_key(msg: CameraInfo) -> bytes:
    """Everything of a CameraInfo but its stamp, as bytes: equal bytes = the same calibration.

    Float arrays (D, K, R, P) enter as their float64 bytes, so NaN equals NaN (same bits).
    """
    roi = msg.roi
    fields = (msg.header.frame_id, msg.distortion_model, msg.width, msg.height, msg.binning_x, msg.binning_y,
              roi.x_offset, roi.y_offset, roi.width, roi.height, roi.do_rectify, len(msg.d), len(msg.k),
              len(msg.r), len(msg.p))
    return repr(fields).encode() + b"".join(np.asarray(values, dtype="<f8").tobytes()
                                            for values in (msg.d, msg.k, msg.r, msg.p))


@dataclass(frozen=True)
class CalibrationInUse:
    """The calibration pairs are processed with.

    Attributes:
        rig: the validated rig (rectified-input or raw, as the cache was made).
        calibration_id: 8 hex digits naming the pair of CameraInfos (SHA-1 of their keys).
        first_stamp_ns: stamp of the first pair processed with it, ns.
    """

    rig: StereoCameraModel
    calibration_id: str
    first_stamp_ns: int

    def describe(self) -> str:
        """One line for logs and summaries: id, frame, size, fx, fy, baseline and cx offset."""
        rig = self.rig
        return (f"calibration {self.calibration_id} ({rig.left.frame_id!r}, {rig.width}x{rig.height} px, fx "
                f"{rig.fx:.2f} px, fy {rig.fy:.2f} px, baseline {rig.baseline_m:.4f} m, cx_left - cx_right "
                f"{rig.cx_offset_px:.2f} px)")


@dataclass(frozen=True)
class CalibrationUpdate:
    """What ``CalibrationCache.update`` decided for one pair.

    Attributes:
        in_use: the calibration to process the pair with; None = no good calibration yet (no output).
        rejected: why the pair's own CameraInfos are not used (None = they are ``in_use``).
        changed: ``in_use`` became a new calibration with this pair (its rig was just built).
    """

    in_use: CalibrationInUse | None
    rejected: CalibrationError | None = None
    changed: bool = False


class CalibrationCache:
    """The calibration in use for a stream of stereo pairs (see the module docstring for the rule).

    Args:
        rectify: raw images are rectified (node parameter ``rectify``); False = already rectified.

    Not thread-safe: call from one thread (the node's worker, or an offline tool's loop).
    """

    def __init__(self, *, rectify: bool) -> None:
        self.rectify = rectify
        self._in_use: CalibrationInUse | None = None
        self._in_use_key: bytes | None = None
        self._rejected_key: bytes | None = None
        self._rejected_error: CalibrationError | None = None
        #: Rigs built so far (one per calibration that became the one in use).
        self.rigs_built = 0
        #: Pairs whose own CameraInfos were rejected.
        self.rejected_pairs = 0

    @property
    def in_use(self) -> CalibrationInUse | None:
        """The last good calibration, or None before the first."""
        return self._in_use

    @property
    def last_rejection(self) -> CalibrationError | None:
        """Why the last rejected pair of CameraInfos was rejected (None: none was)."""
        return self._rejected_error

    def update(self, left: CameraInfo, right: CameraInfo, *, stamp_ns: int) -> CalibrationUpdate:
        """The calibration for a pair whose sides' latest CameraInfos are ``left`` and ``right``.

        Args:
            left, right: the CameraInfos (their stamps are ignored).
            stamp_ns: the pair's stamp, ns (recorded as ``first_stamp_ns`` of a new calibration).
        """
        key = hashlib.sha1(camera_info_key(left) + b"\0" + camera_info_key(right)).digest()
        if key == self._in_use_key:
            return CalibrationUpdate(self._in_use)
        if key == self._rejected_key:
            self.rejected_pairs += 1
            return CalibrationUpdate(self._in_use, rejected=self._rejected_error)
        try:
            rig = _rig(left, right, rectified_input=not self.rectify)
        except CalibrationError as err:
            self._rejected_key, self._rejected_error = key, err
            self.rejected_pairs += 1
            return CalibrationUpdate(self._in_use, rejected=err)
        self._in_use = CalibrationInUse(rig, key.hex()[:8], stamp_ns)
        self._in_use_key = key
        self.rigs_built += 1
        return CalibrationUpdate(self._in_use, changed=True)


def calibration_diagnostics(cache: CalibrationCache) -> dict[str, str]:
    """/diagnostics values naming the calibration in use (``calibration_id`` "none" before the first).

    Keys: ``calibration_id``, ``calibration_since_stamp_s`` (stamp of the first pair it processed),
    ``frame_id``, ``size``, ``fx_px``, ``fy_px``, ``baseline_m``, ``cx_offset_px``, ``rectify``,
    ``rigs_built_total``, ``pairs_with_rejected_camera_info_total``.
    """
    values = {"rigs_built_total": str(cache.rigs_built),
              "pairs_with_rejected_camera_info_total": str(cache.rejected_pairs)}
    in_use = cache.in_use
    if in_use is None:
        return {"calibration_id": "none", **values}
    rig = in_use.rig
    return {"calibration_id": in_use.calibration_id,
            "calibration_since_stamp_s": f"{in_use.first_stamp_ns / 1e9:.3f}",
            "frame_id": rig.left.frame_id, "size": f"{rig.width}x{rig.height}", "fx_px": f"{rig.fx:.3f}",
            "fy_px": f"{rig.fy:.3f}", "baseline_m": f"{rig.baseline_m:.5f}", "cx_offset_px": f"{rig.cx_offset_px:.3f}",
            "rectify": str(not rig.rectified_input).lower(), **values}


def _rig(left: CameraInfo, right: CameraInfo, *, rectified_input: bool) -> StereoCameraModel:
    """The validated rig of two CameraInfos.

    Raises:
        CalibrationError: of the kind that failed, its message starting with what failed
            (``left/camera_info: ...``, ``right/camera_info: ...``, or the pair).
    """
    calibrations: dict[Side, CameraCalibration] = {}
    for side, msg in (("left", left), ("right", right)):
        try:
            calibrations[side] = calibration_from_camera_info(msg)
        except CalibrationError as err:
            raise type(err)(f"{side}/camera_info: {err}") from err
    try:
        return StereoCameraModel.from_calibrations(calibrations["left"], calibrations["right"],
                                                   rectified_input=rectified_input)
    except CalibrationError as err:
        raise type(err)(f"left and right camera_info do not form a stereo rig: {err}") from err
