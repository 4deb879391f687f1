"""Lossless replay between processes with the defaults: 640x480 pairs + camera_info paced at 2 Hz into
stereo_depth_node (default parameters: sensor-data inputs, reliable outputs of depth 2), published as a camera
driver does (best effort, depth 5) and as a bag player does (reliable); every input reaches the node, and every
frame the node publishes reaches a reliable and a best-effort subscriber of ``disparity``.

No test variable selects the Fast DDS set-up beyond what ``make test`` gives (the shipped profile, ``dds_env``):
these are the README's live-example processes. The node may skip a pair it is too busy for (counted as
dropped on /diagnostics; the machine is shared), so outputs are compared with what the node published, not with
the frames sent; the 100-frame measurement is ``test/tools/measure_replay.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from measure_replay import INPUT_TOTALS, run_once

from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, write_dataset_bag

FRAMES = 4


@pytest.fixture(scope="module")
def bag_640x480(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 640x480 rgb8 synthetic frames at 2 Hz, with ground truth nobody subscribes to."""
    path = tmp_path_factory.mktemp("replay") / "bag"
    rig, frames = synthetic_dataset(FRAMES, width=640, height=480, max_disparity_px=64.0, seed=5)
    write_dataset_bag(path, rig, frames, rate_hz=2.0, start_time_ns=1_700_000_000_000_000_000)
    return path


@pytest.mark.parametrize("publisher", [("best_effort", "5"), ("reliable", "10")], ids=["sensor_data", "reliable"])
def test_paced_640x480_stream_loses_no_frame_between_processes(bag_640x480: Path, tmp_path: Path,
                                                               dds_env: dict[str, str],
                                                               publisher: tuple[str, str]) -> None:
    reliability, depth = publisher
    result = run_once(bag_640x480, FRAMES, tmp_path, dds_env, idle_timeout_s=8.0,
                      play_options=("--qos-reliability", reliability, "--qos-depth", depth))
    print(result)  # shown when an assertion fails
    assert result["player_exit"] == 0, result["player_says"]
    node = result["node"]
    assert {key: node[key] for key in INPUT_TOTALS} == dict.fromkeys(INPUT_TOTALS, FRAMES)  # nothing lost on the way in
    published = node["frames_published_total"]
    assert published + node["frames_dropped_total"] + node["frames_failed_total"] == FRAMES
    assert published >= 1 and node["frames_failed_total"] == 0
    assert result["recorded"] == {"disparity": published, "depth": published, "points2": published}
    assert result["best_effort_disparity"] == published  # as rviz subscribes
    assert result["recorder_exit"] == (0 if published == FRAMES else 8)
