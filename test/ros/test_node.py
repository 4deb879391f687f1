"""StereoDepthNode as a process (SGBM backend, already rectified input, exact sync).

One node process serves the whole module: outputs against ground truth,
calibration caching, bad input and recovery, run-time parameters, a burst of
pairs, and SIGINT shutdown (last). The scene is synthetic with exact
disparity; the rig is asymmetric (fx != fy, cx_left != cx_right, 448x320).
"""

from __future__ import annotations

import copy
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage
from stereo_node_harness import (
    ALL_OUTPUTS,
    OUTPUT_TYPES,
    Diagnostic,
    NodeProcess,
    Rig,
    RosPeer,
    accuracy,
    cloud_fields,
    disparity_from_message,
    image_message,
    node_and_peer_fixtures,
    scene,
    stamp_ns,
    to_time,
    unpack_rgb,
    wait_for,
)

from stereo_depth_ros.ros.bag_io import BagReader, BagWriter
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.parameters import settings_from_values
from stereo_depth_ros.ros.sync import SIDES
from stereo_depth_ros.tools.bag_process import BagProcessor

RIG = Rig()
# The left-right check on and no hints, as these tests' figures and run-time changes assume (the defaults
# differ: classical hints, which SGBM ignores, and no check).
PARAMETERS = {"backend": "sgbm", "rectify": False, "max_disparity_px": 64, "lr_check": True, "hints": "none"}


node, peer = node_and_peer_fixtures("stereo_node_sgbm", PARAMETERS)


@pytest.fixture()
def running(node: NodeProcess, peer: RosPeer) -> Iterator[RosPeer]:
    """The peer, with the node checked alive before and after the test."""
    assert node.alive(), node.log()
    yield peer
    assert node.alive(), node.log()


def rgb_messages(index: int = 0, rig: Rig = RIG) -> tuple[Image, Image]:
    pair = scene(index)
    return image_message(pair.left, "rgb8", rig.frame_id), image_message(pair.right, "rgb8", "stereo_right_optical")


def test_every_output_matches_the_scene_geometry(running: RosPeer) -> None:
    truth = scene(0)
    stamp, out = running.exchange(*rgb_messages(0), infos=RIG.rectified_infos())

    for topic, msg in out.items():
        assert isinstance(msg, OUTPUT_TYPES[topic]), topic
        assert stamp_ns(msg.header.stamp) == stamp, topic
        assert msg.header.frame_id == RIG.frame_id, topic

    disparity_msg: DisparityImage = out["disparity"]
    assert (disparity_msg.image.width, disparity_msg.image.height) == (RIG.width, RIG.height)
    assert disparity_msg.image.encoding == "32FC1"
    assert stamp_ns(disparity_msg.image.header.stamp) == stamp and disparity_msg.image.header.frame_id == RIG.frame_id
    assert disparity_msg.f == pytest.approx(RIG.fx) and disparity_msg.t == pytest.approx(RIG.baseline_m)
    # stereo_image_proc convention: the message's disparities are d - (cx_left - cx_right).
    assert disparity_msg.min_disparity == pytest.approx(0.0 - RIG.cx_offset_px)
    assert disparity_msg.max_disparity == pytest.approx(64.0 - RIG.cx_offset_px)
    assert disparity_msg.delta_d == pytest.approx(1.0 / 16.0)
    disparity = disparity_from_message(disparity_msg, RIG.cx_offset_px)
    density, median_px, bad2 = accuracy(disparity, truth.disparity_px, ~truth.occluded)
    assert density > 0.5 and median_px < 0.5 and bad2 < 0.15, (density, median_px, bad2)
    valid = np.isfinite(disparity)

    depth_msg: Image = out["depth"]
    assert depth_msg.encoding == "32FC1" and (depth_msg.width, depth_msg.height) == (RIG.width, RIG.height)
    depth = image_to_numpy(depth_msg)
    assert np.array_equal(np.isnan(depth), ~valid), "depth must be NaN exactly where the disparity is invalid"
    np.testing.assert_allclose(depth[valid], RIG.depth_m(disparity[valid]), rtol=1e-5)
    truth_depth = RIG.depth_m(truth.disparity_px)
    evaluated = valid & ~truth.occluded
    relative_error = np.abs(depth[evaluated] - truth_depth[evaluated]) / truth_depth[evaluated]
    assert np.median(relative_error) < 0.02, np.median(relative_error)

    info: CameraInfo = out["depth/camera_info"]
    p_left, _ = RIG.projections()
    assert (info.width, info.height) == (RIG.width, RIG.height)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), p_left[:, :3])
    np.testing.assert_allclose(np.reshape(info.p, (3, 4)), p_left)

    confidence_msg: Image = out["confidence"]
    assert confidence_msg.encoding == "32FC1"
    confidence = image_to_numpy(confidence_msg)
    assert confidence.shape == (RIG.height, RIG.width)
    assert np.all((confidence >= 0.0) & (confidence <= 1.0))
    assert np.all(confidence[~valid] == 0.0) and np.all(confidence[valid] == 1.0)  # SGBM: binary

    cloud_msg: PointCloud2 = out["points2"]
    assert (cloud_msg.height, cloud_msg.width) == (RIG.height, RIG.width) and not cloud_msg.is_dense
    cloud = cloud_fields(cloud_msg)
    assert sorted(cloud) == ["rgb", "x", "y", "z"]
    u, v = np.meshgrid(np.arange(RIG.width), np.arange(RIG.height))
    np.testing.assert_array_equal(np.isnan(cloud["z"]), ~valid)
    np.testing.assert_allclose(cloud["z"][valid], depth[valid], rtol=1e-6)
    np.testing.assert_allclose(cloud["x"][valid], ((u - RIG.cx_left) * depth / RIG.fx)[valid], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cloud["y"][valid], ((v - RIG.cy) * depth / RIG.fy)[valid], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), truth.left)

    rectified: Image = out["left/image_rect"]
    assert rectified.encoding == "rgb8"
    np.testing.assert_array_equal(image_to_numpy(rectified), truth.left)  # rectify:=false passes images through


@pytest.mark.parametrize("encoding", ["bgr8", "mono8"])
def test_bgr8_and_mono8_inputs_are_matched_in_the_right_channel_order(running: RosPeer, encoding: str) -> None:
    truth = scene(0)
    if encoding == "bgr8":
        left, right, expected_rect = truth.left[..., ::-1], truth.right[..., ::-1], truth.left
    else:
        grey = [np.asarray(0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2] + 0.5, np.uint8)
                for image in (truth.left, truth.right)]
        left, right, expected_rect = grey[0], grey[1], grey[0]
    stamp, out = running.exchange(image_message(left, encoding, RIG.frame_id), image_message(right, encoding, ""),
                                  infos=RIG.rectified_infos())
    np.testing.assert_array_equal(image_to_numpy(out["left/image_rect"]), expected_rect)
    assert out["left/image_rect"].encoding == ("rgb8" if encoding == "bgr8" else "mono8")
    fields = sorted(cloud_fields(out["points2"]))
    assert fields == (["rgb", "x", "y", "z"] if encoding == "bgr8" else ["x", "y", "z"])
    density, median_px, _ = accuracy(disparity_from_message(out["disparity"], RIG.cx_offset_px),
                                     truth.disparity_px, ~truth.occluded)
    assert density > 0.5 and median_px < 0.5


def test_camera_info_at_a_lower_rate_is_reused_and_a_new_one_rebuilds_the_rig(running: RosPeer) -> None:
    left, right = rgb_messages(1)
    running.send_infos(RIG.rectified_infos(), running.next_stamp())
    time.sleep(0.5)
    for _ in range(3):  # images only: the cached calibration is used
        _, out = running.exchange(left, right, infos=None, topics=("depth",))
        assert out["depth"].header.frame_id == RIG.frame_id

    wide = dataclasses.replace(RIG, baseline_m=0.2, frame_id="wide_left_optical")
    running.send_infos(wide.rectified_infos(), running.next_stamp())
    time.sleep(0.5)
    _, out = running.exchange(left, right, infos=None, topics=("depth", "disparity"))
    assert out["depth"].header.frame_id == "wide_left_optical"
    assert out["disparity"].t == pytest.approx(0.2)
    disparity = disparity_from_message(out["disparity"], wide.cx_offset_px)
    valid = np.isfinite(disparity)
    np.testing.assert_allclose(image_to_numpy(out["depth"])[valid], wide.depth_m(disparity[valid]), rtol=1e-5)

    running.send_infos(RIG.rectified_infos(), running.next_stamp())
    time.sleep(0.5)
    _, out = running.exchange(left, right, infos=None, topics=("depth",))
    assert out["depth"].header.frame_id == RIG.frame_id


def test_the_node_and_bag_process_agree_on_a_bad_camera_info_mid_stream(running: RosPeer, tmp_path: Path) -> None:
    left, right = rgb_messages(2)
    good = RIG.rectified_infos()
    plan = [good, good, (_nan_k(good[0]), good[1]), good]   # frame 2: a NaN in the left K
    sent = []
    for infos in plan:
        stamp, out = running.exchange(left, right, infos=infos, topics=("disparity", "depth"))
        sent.append((stamp, infos, out))
        if infos is not good:
            running.wait_for_diagnostics(lambda d: "NonFiniteCalibrationError" in d["calibration"].message,
                                         "the rejected camera_info on /diagnostics")
    bag = tmp_path / "stream"
    with BagWriter(bag) as writer:
        for stamp, infos, _ in sent:
            for topic, message in (("left/camera_info", infos[0]), ("right/camera_info", infos[1]),
                                   ("left/image_raw", left), ("right/image_raw", right)):
                message = copy.deepcopy(message)
                message.header.stamp = to_time(stamp)
                writer.write(topic, message, stamp)
    processor = BagProcessor(settings_from_values(PARAMETERS))
    summary = processor.run(bag, tmp_path / "offline", progress=False)
    assert summary.frames == 4 and summary.calibration_rejected == {"NonFiniteCalibrationError": 1}
    with BagReader(tmp_path / "offline") as reader:
        offline = {stamp_ns(m.header.stamp): m for m in (item.deserialize() for item in reader.messages(["disparity"]))}
    for stamp, _, out in sent:   # every frame, the bad one included: the same calibration, the same disparity
        live = out["disparity"]
        assert (live.f, live.t) == (offline[stamp].f, offline[stamp].t) == pytest.approx((RIG.fx, RIG.baseline_m))
        np.testing.assert_array_equal(image_to_numpy(live.image), image_to_numpy(offline[stamp].image))
    shown = running.wait_for_diagnostics(lambda d: "calibration" in d, "the calibration status")["calibration"].values
    assert shown["calibration_id"] == processor.calibration.in_use.calibration_id   # named alike live and offline
    assert int(shown["pairs_with_rejected_camera_info_total"]) >= 1


def _with(info: CameraInfo, **changes: object) -> CameraInfo:
    copy = CameraInfo(header=info.header, width=info.width, height=info.height,
                      distortion_model=info.distortion_model, d=list(info.d), k=list(info.k), r=list(info.r),
                      p=list(info.p))
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def _zero_fx(info: CameraInfo) -> CameraInfo:
    k, p = list(info.k), list(info.p)
    k[0] = p[0] = 0.0
    return _with(info, k=k, p=p)


def _nan_k(info: CameraInfo) -> CameraInfo:
    k = list(info.k)
    k[4] = float("nan")
    return _with(info, k=k)


def _wrong_sign_tx(info: CameraInfo) -> CameraInfo:
    p = list(info.p)
    p[3] = -p[3]
    return _with(info, p=p)


def _truncated(image: Image) -> Image:
    return Image(header=image.header, width=image.width, height=image.height, encoding=image.encoding,
                 step=image.step, data=bytes(image.data)[: len(image.data) // 2])


# name: (make the bad input, diagnostics part, text it shows, whether output continues)
Infos = tuple[CameraInfo, CameraInfo]
BadInput = Callable[[Image, Image, Infos], tuple[Image, Image, Infos]]


def _images(left: np.ndarray, right: np.ndarray, encoding: str) -> tuple[Image, Image]:
    return image_message(left, encoding, RIG.frame_id), image_message(right, encoding, "")


def _unsupported_encoding(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    zeros = np.zeros((RIG.height, RIG.width), np.uint16)
    return (*_images(zeros, zeros, "16UC1"), infos)


def _sizes_differ(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    return left, image_message(scene(0).right[:, :440], "rgb8", ""), infos


def _encodings_differ(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    return left, image_message(scene(0).right[..., 0].copy(), "mono8", ""), infos


def _half_size(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    return (*_images(scene(0).left[::2, ::2], scene(0).right[::2, ::2], "rgb8"), infos)


def _truncated_left(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    return _truncated(left), right, infos


def _empty(left: Image, right: Image, infos: Infos) -> tuple[Image, Image, Infos]:
    return Image(header=left.header, encoding="rgb8"), Image(header=right.header, encoding="rgb8"), infos


def _left_info(change: Callable[[CameraInfo], CameraInfo]) -> BadInput:
    return lambda left, right, infos: (left, right, (change(infos[0]), infos[1]))


def _right_info(change: Callable[[CameraInfo], CameraInfo]) -> BadInput:
    return lambda left, right, infos: (left, right, (infos[0], change(infos[1])))


# name: (make the bad input, diagnostics part, text it shows, whether output continues)
BAD_INPUTS: dict[str, tuple[BadInput, str, str, bool]] = {
    "unsupported encoding": (_unsupported_encoding, "input", "cannot match on '16UC1'", False),
    "left and right sizes differ": (_sizes_differ, "input", "but right image is 440x320", False),
    "left and right encodings differ": (_encodings_differ, "input", "but right image is 448x320 'mono8'", False),
    "image size differs from the calibration": (
        _half_size, "input", "images are 224x160 px but camera_info says 448x320 px", False),
    "truncated data": (_truncated_left, "input", "truncated", False),
    "empty image": (_empty, "input", "images are 0x0 px", False),
    "zero fx in the left camera_info": (_left_info(_zero_fx), "calibration", "FocalLengthError", True),
    "NaN in the left camera_info": (_left_info(_nan_k), "calibration", "NonFiniteCalibrationError", True),
    "wrong-sign Tx in the right camera_info": (
        _right_info(_wrong_sign_tx), "calibration", "BaselineSignError", True),
}


def _send_infos_before_images(running: RosPeer, infos: tuple[CameraInfo, CameraInfo], stamp: int) -> None:
    """Send both CameraInfos and wait until the node has counted them, so that the images sent next use them.

    The node pairs images with each side's latest CameraInfo; with a pair sent back to back after its infos, an
    info can land just after its image and apply only to the next pair.
    """
    before = running.wait_for_diagnostics(lambda d: "input" in d, "the input status")["input"].values
    counted = {side: int(before[f"{side}_camera_info_total"]) for side in SIDES}
    running.send_infos(infos, stamp)
    running.wait_for_diagnostics(lambda d: all(int(d["input"].values[f"{side}_camera_info_total"]) > counted[side]
                                               for side in SIDES), "both camera_infos counted")


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_reported_and_output_resumes_with_good_input(running: RosPeer, node: NodeProcess,
                                                                  case: str) -> None:
    make, part, text, output_continues = BAD_INPUTS[case]
    left, right = rgb_messages(0)
    bad_left, bad_right, bad_infos = make(left, right, RIG.rectified_infos())
    bad_stamp = running.next_stamp()
    _send_infos_before_images(running, bad_infos, bad_stamp)
    running.send_pair(bad_left, bad_right, stamp=bad_stamp)
    shown = running.wait_for_diagnostics(lambda d: text in d[part].message, f"{part}: {text!r}")
    assert shown[part].level >= 1
    if output_continues:  # a rejected camera_info: the last good calibration (RIG's) is kept
        out = running.outputs(bad_stamp, ("disparity", "depth"), timeout_s=30.0)
        assert (out["disparity"].f, out["disparity"].t) == pytest.approx((RIG.fx, RIG.baseline_m))
        assert out["depth"].header.frame_id == RIG.frame_id
        disparity = disparity_from_message(out["disparity"], RIG.cx_offset_px)
        valid = np.isfinite(disparity)
        assert valid.mean() > 0.5
        np.testing.assert_allclose(image_to_numpy(out["depth"])[valid], RIG.depth_m(disparity[valid]), rtol=1e-5)
        assert "the last good calibration" in shown[part].message
    else:
        time.sleep(0.5)
        assert running.output("disparity", bad_stamp) is None
    assert node.alive()
    wait_for(lambda: text in node.log(), 30.0, f"a log line with {text!r}")

    _send_infos_before_images(running, RIG.rectified_infos(), running.next_stamp())
    running.exchange(left, right, infos=None, topics=ALL_OUTPUTS)
    recovered = running.wait_for_diagnostics(lambda d: d[part].level == 0, f"{part} OK again")
    assert text not in recovered[part].message


@pytest.mark.parametrize(("keep_bytes", "text"), [(8, "unreadable message dropped"),
                                                  (None, "unreadable serialized image")])
def test_an_unreadable_serialized_image_is_reported_and_output_resumes(running: RosPeer, node: NodeProcess,
                                                                       keep_bytes: int | None, text: str) -> None:
    """The images arrive serialized (raw subscriptions): too short for a header is dropped on arrival, a
    readable header with a cut body fails when the worker deserializes the pair."""
    left, right = rgb_messages(0)
    stamp = running.next_stamp()
    _send_infos_before_images(running, RIG.rectified_infos(), stamp)
    left.header.stamp = right.header.stamp = to_time(stamp)
    serialized = serialize_message(left)
    running.image_pubs["left"].publish(serialized[: keep_bytes or len(serialized) // 2])
    running.image_pubs["right"].publish(right)
    shown = running.wait_for_diagnostics(lambda d: text in d["input"].message, f"input: {text!r}")
    assert shown["input"].level >= 1
    time.sleep(0.5)
    assert running.output("disparity", stamp) is None
    assert node.alive()
    running.exchange(left, right, infos=RIG.rectified_infos(), topics=ALL_OUTPUTS)
    running.wait_for_diagnostics(lambda d: d["input"].level == 0, "input OK again")


def test_stamps_going_backwards_reset_the_queues_and_pairing_goes_on(running: RosPeer, node: NodeProcess) -> None:
    left, right = rgb_messages(0)
    running.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity",))
    before = int(running.wait_for_diagnostics(lambda d: "input" in d, "the input status")["input"]
                 .values["time_jumps_total"])
    earlier = running.next_stamp() - 3600 * 1_000_000_000  # the bag starts again
    running.send_pair(left, right, stamp=earlier, infos=RIG.rectified_infos())
    assert running.outputs(earlier, ("disparity", "depth"), timeout_s=60.0)
    running.wait_for_diagnostics(lambda d: int(d["input"].values["time_jumps_total"]) > before, "a time jump")
    wait_for(lambda: "went backwards" in node.log(), 30.0, "a log line about the time jump")
    running.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity",))


def test_parameters_changed_at_run_time_take_effect(running: RosPeer, node: NodeProcess) -> None:
    truth = scene(0)
    left, right = rgb_messages(0)
    _, before = running.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity", "depth"))
    valid_with_check = np.isfinite(disparity_from_message(before["disparity"], RIG.cx_offset_px)).sum()
    max_depth_m = float(np.nanmedian(RIG.depth_m(truth.disparity_px)))
    try:
        results = running.set_parameters(point_cloud_decimation=4, publish_confidence=False,
                                         max_depth_m=max_depth_m, lr_check=False, hints="lidar")
        assert all(result.successful for result in results), results
        stamp, out = running.exchange(left, right, infos=RIG.rectified_infos(),
                                      topics=("disparity", "depth", "points2", "left/image_rect"))
        assert (out["points2"].height, out["points2"].width) == (RIG.height // 4, RIG.width // 4)
        depth = image_to_numpy(out["depth"])
        assert np.nanmax(depth) <= max_depth_m and np.isnan(depth).mean() > 0.3
        valid_without_check = np.isfinite(disparity_from_message(out["disparity"], RIG.cx_offset_px)).sum()
        assert valid_without_check > valid_with_check
        time.sleep(1.0)
        assert running.output("confidence", stamp) is None
        wait_for(lambda: "but no cloud has arrived on /hints/points yet" in node.log(), 30.0,
                 "the warning about LiDAR hints without a cloud")

        for rejected in ({"confidence_threshold": 1.5}, {"min_depth_m": 500.0}, {"backend": "bm"},
                         {"hints": "radar"}, {"point_cloud_decimation": 0}):
            result = running.set_parameters(**rejected)
            assert not result[0].successful, rejected
        assert "less than" in running.set_parameters(min_depth_m=500.0)[0].reason
    finally:
        results = running.set_parameters(point_cloud_decimation=1, publish_confidence=True, max_depth_m=100.0,
                                         lr_check=True, hints="none")
        assert all(result.successful for result in results), results
    _, out = running.exchange(left, right, infos=RIG.rectified_infos(), topics=ALL_OUTPUTS)
    assert out["points2"].width == RIG.width


def test_no_point_cloud_is_built_while_nobody_subscribes_to_points2_and_one_is_once_someone_does(
        running: RosPeer) -> None:
    left, right = rgb_messages(2)

    def clouds_built_after_a_pair(topics: tuple[str, ...]) -> int:
        before = int(running.wait_for_diagnostics(lambda d: "output" in d, "the output status")["output"]
                     .values["frames_published_total"])
        running.exchange(left, right, infos=RIG.rectified_infos(), topics=topics)
        shown = running.wait_for_diagnostics(lambda d: int(d["output"].values["frames_published_total"]) > before,
                                             "the pair published")
        return int(shown["output"].values["point_clouds_built_total"])

    running.unsubscribe("points2")
    try:
        counts = [clouds_built_after_a_pair(("disparity",))]
        # the node notices the subscription is gone within a pair or two (DDS discovery)
        wait_for(lambda: counts.append(clouds_built_after_a_pair(("disparity",))) or counts[-1] == counts[-2],
                 60.0, "a pair without a point cloud")
        idle = counts[-1]
        assert clouds_built_after_a_pair(("disparity", "depth")) == idle      # still none built
    finally:
        running.subscribe("points2")
    assert clouds_built_after_a_pair(("disparity", "points2")) > idle


def test_a_burst_keeps_memory_bounded_drops_stale_pairs_and_processes_the_newest(running: RosPeer,
                                                                                  node: NodeProcess) -> None:
    left, right = rgb_messages(2)
    running.exchange(left, right, infos=RIG.rectified_infos(), topics=ALL_OUTPUTS)
    rss_before = node.rss_bytes()
    published_before = running.output_counts["disparity"]
    saved_gap_s, running.pair_gap_s = running.pair_gap_s, 0.002
    try:
        for _ in range(200):
            running.send_pair(left, right)
    finally:
        running.pair_gap_s = saved_gap_s
    time.sleep(0.5)
    last = running.send_pair(left, right, infos=RIG.rectified_infos())
    assert running.outputs(last, ALL_OUTPUTS, timeout_s=90.0)
    assert stamp_ns(running.latest("disparity").header.stamp) == last  # nothing older comes after it
    published = running.output_counts["disparity"] - published_before
    assert published < 150, f"{published} of 201 pairs published: no frames were dropped"
    diagnostics = running.wait_for_diagnostics(
        lambda d: int(d["output"].values["frames_dropped_total"]) > 0, "dropped frames")
    assert node.alive()
    growth_mb = (node.rss_bytes() - rss_before) / 2**20
    assert growth_mb < 150, f"node memory grew by {growth_mb:.0f} MiB during the burst"
    dropped = int(diagnostics["output"].values["frames_dropped_total"])
    assert dropped <= int(diagnostics["input"].values["pairs_total"]) - int(
        diagnostics["output"].values["frames_published_total"])   # a dropped pair is never also published


def test_diagnostics_report_rates_latency_backend_and_calibration(running: RosPeer) -> None:
    left, right = rgb_messages(0)

    def window_with_output() -> dict[str, Diagnostic] | None:  # rates and latency are per window: keep sending
        running.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity",))
        received = running.diagnostics_received()
        # The frame is in the window that closes at the next period (1 s): the latest report, or the next one.
        for count in (received, received + 1):
            wait_for(lambda count=count: running.diagnostics_received() >= count, 10.0, "the next diagnostics")
            current = running.diagnostics()
            if current["output"].values["latency_ms_mean"] != "n/a":
                return current
        return None
    shown = wait_for(window_with_output, 120.0, "a diagnostics window with a published frame")
    latency_mean, latency_max = (float(shown["output"].values[key]) for key in ("latency_ms_mean", "latency_ms_max"))
    assert 0.0 < latency_mean <= latency_max
    processing_max = float(shown["output"].values["processing_ms_max"])
    assert 0.0 < processing_max <= latency_max   # processing is part of the stamp-to-publish latency
    assert float(shown["output"].values["output_rate_hz"]) > 0.0
    assert float(shown["input"].values["left_image_rate_hz"]) > 0.0
    assert shown["backend"].values["backend"] == "sgbm"
    assert shown["calibration"].values["baseline_m"] == f"{RIG.baseline_m:.5f}"
    assert shown["calibration"].values["size"] == f"{RIG.width}x{RIG.height}"
    assert shown["calibration"].values["frame_id"] == RIG.frame_id
    assert shown["calibration"].values["fx_px"] == f"{RIG.fx:.3f}" and shown["calibration"].values["fy_px"] == (
        f"{RIG.fy:.3f}")
    assert len(shown["calibration"].values["calibration_id"]) == 8
    for key in ("left_image_rate_hz", "right_image_rate_hz", "unmatched_images_total", "time_jumps_total"):
        assert key in shown["input"].values
    for key in ("output_rate_hz", "latency_ms_mean", "frames_dropped_total", "last_error"):
        assert key in shown["output"].values


def test_sigint_stops_the_node_within_two_seconds(peer: RosPeer, node: NodeProcess) -> None:
    left, right = rgb_messages(0)
    peer.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity",))
    status, seconds = node.signal_and_wait(signal.SIGINT, timeout_s=20.0)
    assert status == 0, node.log()
    assert seconds < 2.0, f"shutdown took {seconds:.2f} s"
    assert "Traceback" not in node.log()


def test_an_inference_size_without_a_bundled_model_stops_the_node_naming_the_sizes(
        tmp_path_factory: pytest.TempPathFactory, ros_environment: dict[str, str]) -> None:
    process = NodeProcess(tmp_path_factory.mktemp("stereo_node_no_size"),
                          {"backend": "onnx", "inference_width_px": 320, "inference_height_px": 256})
    try:
        status = process.process.wait(120)
    finally:
        process.close()
    assert status == 1
    log = process.log()
    assert "no bundled model for inference size 320x256 px" in log
    assert "640x480" in log and "stereo_depth_export" in log and "Traceback" not in log
