"""StereoDepthNode as a process on raw images (rectify:=true), approximate sync, 16UC1 depth.

The raw images are the synthetic scene seen by two rotated cameras with other
intrinsics than the rectified rig (identity distortion); the node must undo
that with the CameraInfo's K, R and P before matching. Right stamps are
jittered within the sync tolerance; CameraInfo is sent once, less often than
images. One node process for the module; SIGTERM shutdown last.
"""

from __future__ import annotations

import signal

import numpy as np
from stereo_node_harness import (
    NodeProcess,
    Rig,
    RosPeer,
    accuracy,
    cloud_fields,
    disparity_from_message,
    image_message,
    node_and_peer_fixtures,
    raw_infos,
    raw_pair,
    scene,
    stamp_ns,
)

from stereo_depth_ros.ros.image_conversion import image_to_numpy

RIG = Rig()
TOLERANCE_S = 0.02
PARAMETERS = {"backend": "sgbm", "rectify": True, "max_disparity_px": 64, "approximate_sync": True,
              "approximate_sync_tolerance_seconds": TOLERANCE_S, "depth_encoding": "16UC1",
              "avoid_point_cloud_padding": True, "use_color": False}
# Pixels whose rectified source lies inside both raw images (the warp leaves a border).
INTERIOR = (slice(32, RIG.height - 32), slice(45, RIG.width - 45))
MS = 1_000_000


node, peer = node_and_peer_fixtures("stereo_node_rectify", PARAMETERS)


def raw_messages(index: int) -> tuple:
    left, right = raw_pair(RIG, scene(index))
    return image_message(left, "rgb8", RIG.frame_id), image_message(right, "rgb8", "stereo_right_optical")


def test_raw_images_are_rectified_then_matched_and_depth_is_in_millimetres(node: NodeProcess,
                                                                           peer: RosPeer) -> None:
    truth = scene(1)
    left, right = raw_messages(1)
    stamp, out = peer.exchange(left, right, infos=raw_infos(RIG), right_offset_ns=7 * MS)
    for msg in out.values():
        assert stamp_ns(msg.header.stamp) == stamp  # the left image's stamp
        assert msg.header.frame_id == RIG.frame_id

    rectified = image_to_numpy(out["left/image_rect"]).astype(np.int16)
    assert rectified.shape == truth.left.shape
    assert np.abs(rectified - truth.left)[INTERIOR].mean() < 4.0  # two interpolations apart
    assert np.abs(image_to_numpy(left).astype(np.int16) - truth.left)[INTERIOR].mean() > 10.0  # raw != rectified

    disparity = disparity_from_message(out["disparity"], RIG.cx_offset_px)
    evaluated = np.zeros(disparity.shape, bool)
    evaluated[INTERIOR] = True
    evaluated &= ~truth.occluded
    density, median_px, bad2 = accuracy(disparity, truth.disparity_px, evaluated)
    assert density > 0.5 and median_px < 0.5 and bad2 < 0.25, (density, median_px, bad2)

    depth_msg = out["depth"]
    assert depth_msg.encoding == "16UC1"
    depth_mm = image_to_numpy(depth_msg)
    valid = np.isfinite(disparity)
    assert np.all(depth_mm[~valid] == 0), "16UC1 marks invalid depth with 0"
    expected_mm = np.rint(RIG.depth_m(disparity[valid]) * 1000.0)
    assert np.max(np.abs(depth_mm[valid].astype(np.float64) - expected_mm)) <= 1.0

    info = out["depth/camera_info"]  # the rectified camera, not the raw one
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), RIG.projections()[0][:, :3])
    np.testing.assert_allclose(np.reshape(info.r, (3, 3)), np.eye(3))

    cloud_msg = out["points2"]
    assert cloud_msg.point_step == 12  # packed xyz, no colour (use_color:=false)
    cloud = cloud_fields(cloud_msg)
    assert sorted(cloud) == ["x", "y", "z"]
    np.testing.assert_allclose(cloud["z"][valid], RIG.depth_m(disparity[valid]), rtol=1e-5)


def test_approximate_sync_pairs_jittered_stamps_with_camera_info_sent_once(node: NodeProcess,
                                                                         peer: RosPeer) -> None:
    left, right = raw_messages(1)
    peer.send_infos(raw_infos(RIG), peer.next_stamp())
    for jitter_ms in (12, -9, 4, -15, 0):
        stamp, out = peer.exchange(left, right, infos=None, right_offset_ns=jitter_ms * MS,
                                   topics=("disparity", "depth"))
        assert stamp_ns(out["disparity"].header.stamp) == stamp
    before = int(peer.wait_for_diagnostics(lambda d: "input" in d, "the input status")["input"]
                 .values["unmatched_images_total"])
    beyond = peer.next_stamp()
    peer.send_pair(left, right, stamp=beyond, right_stamp=beyond + int(3 * TOLERANCE_S * 1e9))
    peer.wait_for_diagnostics(lambda d: int(d["input"].values["unmatched_images_total"]) > before,
                              "an unmatched image")
    assert peer.output("disparity", beyond) is None
    assert "approximate" in peer.diagnostics()["input"].values["sync"]
    peer.exchange(left, right, infos=None, right_offset_ns=-5 * MS, topics=("disparity",))


def test_sigterm_stops_the_node_within_two_seconds(node: NodeProcess, peer: RosPeer) -> None:
    left, right = raw_messages(1)
    peer.exchange(left, right, infos=raw_infos(RIG), topics=("disparity",))
    status, seconds = node.signal_and_wait(signal.SIGTERM, timeout_s=20.0)
    assert status == 0, node.log()
    assert seconds < 2.0, f"shutdown took {seconds:.2f} s"
    assert "Traceback" not in node.log()
