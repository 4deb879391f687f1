"""Bag -> stereo_bag_play -> stereo_depth_node -> stereo_bag_record -> bag: the live node's outputs equal
stereo_bag_process's for the same frames (same code, SGBM is deterministic), and so do the metrics.

Runs real DDS between four processes in this session's ROS_DOMAIN_ID (200-232).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tool_helpers import run_tool, start_tool

from stereo_depth_ros.ros.bag_io import BagReader, disparity_px_from_message
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.tools.bag_evaluate import evaluate_bags
from stereo_depth_ros.tools.bag_process import main as process_main

OUTPUTS = ["disparity", "depth", "depth/camera_info", "confidence", "points2", "left/image_rect"]
# Only what makes live and offline outputs comparable (SGBM is deterministic); QoS, history depths and the Fast DDS
# set-up are the defaults a user gets, and every frame must come through them.
PARAMETERS = {"backend": "sgbm", "max_disparity_px": "64"}


def wait_for_lines(process: subprocess.Popen[str], texts: list[str], timeout_s: float) -> None:
    """Read ``process``'s stdout until every one of ``texts`` was printed.

    Reads the pipe's file descriptor directly: a buffered ``readline`` would pull several lines into Python's
    buffer, where ``select`` cannot see them.
    """
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(descriptor, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if any(text not in seen for text in texts) and selector.select(timeout=0.2):
            chunk = os.read(descriptor, 65536).decode()
            if not chunk:  # the process closed its output
                break
            seen += chunk
        if all(text in seen for text in texts):
            return
    raise AssertionError(f"no line with {[t for t in texts if t not in seen]} within {timeout_s} s; got {seen!r}")


def stop(process: subprocess.Popen[str], timeout_s: float = 30.0) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def by_stamp(bag: Path, topic: str) -> dict[int, object]:
    with BagReader(bag) as reader:
        messages = [m.deserialize() for m in reader.messages([topic])]
    return {stamp_ns(m.header.stamp): m for m in messages}


def test_live_node_outputs_equal_offline_processing(synthetic_bag: Path, tmp_path: Path,
                                                    dds_env: dict[str, str]) -> None:
    offline = tmp_path / "offline"
    options = [f"--{key}={value}" for key, value in PARAMETERS.items()]
    assert process_main([str(synthetic_bag), str(offline), "--quiet", *options]) == 0

    node_args = [arg for key, value in PARAMETERS.items() for arg in ("-p", f"{key}:={value}")]
    node = subprocess.Popen([sys.executable, "-m", "stereo_depth_ros.ros.node", "--ros-args", *node_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dds_env)
    live = tmp_path / "live"
    recorder = start_tool("bag_record", [live, *OUTPUTS, "--messages-per-topic", "4", "--wait-timeout", "120",
                                         "--idle-timeout", "15"], env=dds_env)
    try:
        wait_for_lines(recorder, [f"matched /{topic} " for topic in OUTPUTS], timeout_s=120)
        player = run_tool("bag_play", [synthetic_bag, "--rate", "0.5", "--wait-for-subscribers", "120"], env=dds_env,
                          timeout=240)
        assert player.returncode == 0, player.stderr
        recorder_out, recorder_err = recorder.communicate(timeout=120)
        assert recorder.returncode == 0, recorder_err
    finally:
        stop(recorder)
        node_log = stop(node)[0]

    print(recorder_out, node_log, sep="\n")  # shown when an assertion below fails
    live_disparity, offline_disparity = by_stamp(live, "disparity"), by_stamp(offline, "disparity")
    # Every frame arrives and is processed: the player waits for the node's inputs (not for the ground truth in the
    # bag), and the Fast DDS profile carries the images.
    assert set(live_disparity) == set(offline_disparity) and len(live_disparity) == 4
    live_depth, offline_depth = by_stamp(live, "depth"), by_stamp(offline, "depth")
    for stamp, message in live_disparity.items():
        expected = offline_disparity[stamp]
        np.testing.assert_array_equal(disparity_px_from_message(message, cx_offset_px=0.0),
                                      disparity_px_from_message(expected, cx_offset_px=0.0))
        assert message == expected  # every field: f, t, search range, valid window, image bytes
        np.testing.assert_array_equal(image_to_numpy(live_depth[stamp]), image_to_numpy(offline_depth[stamp]))
    for topic in ("depth/camera_info", "confidence", "points2", "left/image_rect"):
        live_messages, offline_messages = by_stamp(live, topic), by_stamp(offline, topic)
        assert all(live_messages[s] == offline_messages[s] for s in live_messages), topic

    live_metrics = evaluate_bags(live, synthetic_bag)
    offline_frames = {f.stamp_ns: f.metrics for f in evaluate_bags(offline, synthetic_bag).frames}
    for frame in live_metrics.frames:
        assert frame.metrics == offline_frames[frame.stamp_ns]
