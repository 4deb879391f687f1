"""StereoDepthNode as a process with the learned backend (ONNX Runtime, bundled model, default parameters).

Most tests check the plumbing and the conventions that hold for any disparity
(depth, points and messages consistent with the published disparity, stamps,
frames, sizes); one checks the trained network's accuracy against ground truth.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import onnxruntime
import pytest
from stereo_node_harness import (
    OUTPUT_TYPES,
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
    unpack_rgb,
)

from stereo_depth_ros.backends.errors import BackendUnavailableError
from stereo_depth_ros.ros.dds import shipped_profile_path
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.model_files import bundled_model_path
from stereo_depth_ros.ros.node import backend_from_settings
from stereo_depth_ros.ros.parameters import settings_from_values

RIG = Rig()
PARAMETERS = {"backend": "onnx", "execution_providers": ["cpu"]}  # everything else: the schema defaults


node, peer = node_and_peer_fixtures("stereo_node_onnx", PARAMETERS)


def messages(index: int) -> tuple:
    pair = scene(index)
    return image_message(pair.left, "rgb8", RIG.frame_id), image_message(pair.right, "rgb8", "stereo_right_optical")


def test_the_learned_backend_publishes_every_output_consistently(node: NodeProcess, peer: RosPeer) -> None:
    truth = scene(0)
    stamp, out = peer.exchange(*messages(0), infos=RIG.rectified_infos(), timeout_s=180.0)
    for topic, msg in out.items():
        assert isinstance(msg, OUTPUT_TYPES[topic]), topic
        assert stamp_ns(msg.header.stamp) == stamp and msg.header.frame_id == RIG.frame_id, topic

    disparity_msg = out["disparity"]
    assert (disparity_msg.image.width, disparity_msg.image.height) == (RIG.width, RIG.height)
    assert disparity_msg.f == pytest.approx(RIG.fx) and disparity_msg.t == pytest.approx(RIG.baseline_m)
    assert disparity_msg.min_disparity == pytest.approx(-RIG.cx_offset_px)
    assert disparity_msg.max_disparity > disparity_msg.min_disparity
    disparity = disparity_from_message(disparity_msg, RIG.cx_offset_px)
    valid = np.isfinite(disparity)

    # A regression network's step: the finest float32 step over the message's range (ros.outputs), never 0.
    largest = np.float32(max(abs(disparity_msg.min_disparity), abs(disparity_msg.max_disparity)))
    assert disparity_msg.delta_d == pytest.approx(float(np.spacing(largest))) and disparity_msg.delta_d > 0.0
    # The start-up log names the model file and the Fast DDS profile in use.
    assert f"model {bundled_model_path()}" in node.log()
    assert f"Fast DDS profiles file: {shipped_profile_path()}" in node.log()

    depth = image_to_numpy(out["depth"])
    assert out["depth"].encoding == "32FC1" and depth.shape == (RIG.height, RIG.width)
    np.testing.assert_array_equal(np.isnan(depth), ~valid)
    np.testing.assert_allclose(depth[valid], RIG.depth_m(disparity[valid]), rtol=1e-5)

    confidence = image_to_numpy(out["confidence"])
    assert np.all((confidence >= 0.0) & (confidence <= 1.0)) and np.all(confidence[~valid] == 0.0)

    cloud = cloud_fields(out["points2"])
    np.testing.assert_array_equal(np.isnan(cloud["z"]), ~valid)
    np.testing.assert_allclose(cloud["z"][valid], depth[valid], rtol=1e-6)
    np.testing.assert_array_equal(unpack_rgb(cloud["rgb"]), truth.left)
    # rectify:=true (the default) with R = I and K = P: rectification is the identity up to interpolation.
    assert np.abs(image_to_numpy(out["left/image_rect"]).astype(np.int16) - truth.left).mean() < 1.0

    shown = peer.wait_for_diagnostics(lambda d: "backend" in d, "the backend status")
    assert shown["backend"].values["backend"] == "onnx"
    assert shown["backend"].values["provider"] == "CPUExecutionProvider"


def test_the_trained_network_recovers_the_scene_disparity(peer: RosPeer) -> None:
    truth = scene(0)
    _, out = peer.exchange(*messages(0), infos=RIG.rectified_infos(), topics=("disparity", "depth"),
                           timeout_s=180.0)
    disparity = disparity_from_message(out["disparity"], RIG.cx_offset_px)
    density, median_px, bad2 = accuracy(disparity, truth.disparity_px, ~truth.occluded)
    assert density > 0.5 and median_px < 1.0 and bad2 < 0.3, (density, median_px, bad2)
    depth = image_to_numpy(out["depth"])
    evaluated = np.isfinite(depth) & ~truth.occluded
    truth_depth = RIG.depth_m(truth.disparity_px)
    relative_error = np.abs(depth[evaluated] - truth_depth[evaluated]) / truth_depth[evaluated]
    assert np.median(relative_error) < 0.05


def test_classical_hint_density_follows_its_parameters_and_shows_on_diagnostics(peer: RosPeer) -> None:
    """The defaults guide the network with classical hints; their density follows the uniqueness ratio."""
    left, right = messages(1)

    def hint_percent_after_a_pair(**values: object) -> float:
        assert all(result.successful for result in peer.set_parameters(**values))
        published = peer.wait_for_diagnostics(lambda d: "output" in d, "the output status")
        published_before = int(published["output"].values["frames_published_total"])
        peer.exchange(left, right, infos=RIG.rectified_infos(), topics=("disparity",), timeout_s=180.0)
        shown = peer.wait_for_diagnostics(
            lambda d: int(d["output"].values["frames_published_total"]) > published_before,
            "the pair's hint density")
        return float(shown["output"].values["hint_pixels_percent_last"])

    try:
        loose = hint_percent_after_a_pair(classical_hint_uniqueness_ratio=0)
        strict = hint_percent_after_a_pair(classical_hint_uniqueness_ratio=60)
    finally:
        peer.set_parameters(classical_hint_uniqueness_ratio=15)
    assert 5.0 < strict < loose <= 100.0


def test_sigint_during_inference_stops_the_node_within_two_seconds(node: NodeProcess, peer: RosPeer) -> None:
    peer.exchange(*messages(1), infos=RIG.rectified_infos(), topics=("disparity",), timeout_s=180.0)
    peer.send_pair(*messages(0), infos=RIG.rectified_infos())
    time.sleep(0.3)  # the pair is in the worker now (one run takes about a second here)
    status, seconds = node.signal_and_wait(signal.SIGINT, timeout_s=20.0)
    assert status == 0, node.log()
    assert seconds < 2.0, f"shutdown took {seconds:.2f} s"
    assert "Traceback" not in node.log()


def test_a_missing_model_stops_the_node_at_start_up_with_a_clear_message(
        tmp_path_factory: pytest.TempPathFactory, ros_environment: dict[str, str]) -> None:
    process = NodeProcess(tmp_path_factory.mktemp("stereo_node_no_model"),
                          {"backend": "onnx", "model_path": "/nonexistent/model.onnx"})
    try:
        status = process.process.wait(120)
    finally:
        process.close()
    assert status == 1
    assert "model file not found: /nonexistent/model.onnx" in process.log()


def test_an_unavailable_execution_provider_names_the_parameters_to_change() -> None:
    settings = settings_from_values({"backend": "onnx", "execution_providers": ["cuda"]})
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    with pytest.raises(BackendUnavailableError) as raised:
        backend_from_settings(settings)
    message = str(raised.value)
    assert "execution provider(s) ['CUDAExecutionProvider'] requested but not available" in message
    assert "Set execution_providers to [auto] (the best available) or [cpu]" in message
    assert "-p execution_providers:=\"['cpu']\"" in message and "--execution_providers cpu" in message
    assert "providers='auto'" not in message and "allow_provider_fallback" not in message  # Python-level advice


def test_an_invalid_parameter_file_stops_the_node_with_the_offending_value(
        tmp_path_factory: pytest.TempPathFactory, ros_environment: dict[str, str]) -> None:
    process = NodeProcess(tmp_path_factory.mktemp("stereo_node_bad_parameter"),
                          {"backend": "sgbm", "depth_encoding": "16UC3"})
    try:
        status = process.process.wait(120)
    finally:
        process.close()
    assert status == 1
    assert "depth_encoding='16UC3' is not one of" in process.log()
