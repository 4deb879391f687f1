"""stereo_bag_play -> DDS -> stereo_bag_record: messages, stamps and pacing survive; failures end cleanly.

Runs real DDS between processes in this session's ROS_DOMAIN_ID (200-232).
Timing is only bounded loosely (the machine is shared and noisy).
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tool_helpers import RATE_HZ, ToolResult, run_tool, start_tool, write_bag_with_unknown_type

from stereo_depth_ros.ros.bag_io import BagReader
from stereo_depth_ros.ros.stamps import stamp_ns
from stereo_depth_ros.tools.bag_play import BEST_EFFORT_DRAIN_S, DISCOVERY_SETTLE_S
from stereo_depth_ros.tools.errors import EXIT_CODES

INPUTS = ["left/image_raw", "right/image_raw", "left/camera_info", "right/camera_info"]


def finish(process: subprocess.Popen[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"process did not finish within {timeout_s} s: {out} {err}") from None
    return process.returncode, out, err


@dataclass(frozen=True)
class Playback:
    """A bag played into a recorder: the player's result and wall time, the recorder's exit code and output."""

    player: ToolResult
    played_s: float
    code: int
    out: str
    err: str


def play_into_recorder(recorded: Path, recorder_args: list[str], player_args: list[str | Path],
                       env: dict[str, str]) -> Playback:
    """Start stereo_bag_record into ``recorded``, play to the end (must exit 0), then wait for the recorder."""
    recorder = start_tool("bag_record", [recorded, *recorder_args], env=env)
    try:
        started = time.monotonic()
        player = run_tool("bag_play", player_args, env=env, timeout=120)
        played_s = time.monotonic() - started
        assert player.returncode == 0, player.stderr
        code, out, err = finish(recorder)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    return Playback(player, played_s, code, out, err)


def test_played_bag_is_recorded_with_identical_messages_and_original_pacing(
        synthetic_bag: Path, tmp_path: Path, dds_env: dict[str, str]) -> None:
    recorded = tmp_path / "recorded"
    run = play_into_recorder(recorded, [*INPUTS, "gt", "clock", "--messages-per-topic", "4", "--wait-timeout", "60",
                                        "--storage", "mcap"],
                             [synthetic_bag, "--rate", "0.5", "--clock", "50", "--remap", "ground_truth/disparity:=gt",
                              "--wait-for-subscribers", "60"], dds_env)
    assert "published 20 message(s) on 5 topic(s)" in run.player.stdout
    assert run.code == 0, run.err
    assert "4 messages on every topic" in run.out
    assert all(f"matched /{topic} (1 publisher(s))" in run.out for topic in INPUTS)
    with BagReader(synthetic_bag) as original, BagReader(recorded) as copy:
        assert copy.storage == "mcap"
        for topic in INPUTS:
            sent = [m.deserialize() for m in original.messages([topic])]
            received = [m.deserialize() for m in copy.messages([topic])]
            assert received == sent, topic  # every field, image data byte for byte
        truth = [m.deserialize() for m in copy.messages(["gt"])]
        assert truth == [m.deserialize() for m in original.messages(["ground_truth/disparity"])]
        clock = [stamp_ns(m.deserialize().clock) for m in copy.messages(["clock"])]
        assert all(original.start_time_ns <= t <= original.end_time_ns for t in clock)
        assert clock == sorted(clock)
        # Pacing: 4 frames 1 / RATE_HZ apart played at half speed span 0.6 s; receive times can
        # be delayed but never run ahead of the schedule by much.
        arrivals = [m.log_time_ns for m in copy.messages(["left/image_raw"])]
        assert (arrivals[-1] - arrivals[0]) / 1e9 >= 0.8 * 3 / RATE_HZ / 0.5 - 0.1


def test_a_best_effort_subscriber_gets_the_last_frame_too(synthetic_bag: Path, tmp_path: Path,
                                                          dds_env: dict[str, str]) -> None:
    """Best effort acknowledges nothing: the player stays BEST_EFFORT_DRAIN_S after its last message, so the
    subscriber can copy it out of the player's shared memory (without, the last frame was lost 1 run in 10)."""
    run = play_into_recorder(tmp_path / "recorded", [*INPUTS, "--qos", "best_effort", "--messages-per-topic", "4",
                                                     "--wait-timeout", "60", "--idle-timeout", "5"],
                             [synthetic_bag, "--wait-for-subscribers", "60"], dds_env)
    assert run.code == 0, run.err
    assert "4 messages on every topic" in run.out
    assert all(f"recording /{topic} (sensor_msgs/msg/" in run.out and "best_effort)" in run.out for topic in INPUTS)
    assert run.played_s >= DISCOVERY_SETTLE_S + BEST_EFFORT_DRAIN_S


def test_player_waits_for_the_node_inputs_only_and_the_recorder_reports_what_it_got_of_what_it_expected(
        synthetic_bag: Path, tmp_path: Path, dds_env: dict[str, str]) -> None:
    # Nobody subscribes to ground_truth/disparity, which the bag also holds: the player must not wait for it.
    recorded = tmp_path / "recorded"
    run = play_into_recorder(recorded, [*INPUTS, "--messages-per-topic", "6", "--idle-timeout", "3",
                                        "--wait-timeout", "60"],
                             [synthetic_bag, "--wait-for-subscribers", "60", "--wait-for-ack", "10"], dds_env)
    assert "published 20 message(s) on 5 topic(s)" in run.player.stdout
    assert "not acknowledged" not in run.player.stdout  # every message reached the reliable recorder
    assert run.code == EXIT_CODES["ros"], run.err  # short of what was expected: said, and the exit code says so
    expected = ", ".join(f"/{topic} 4 of 6" for topic in sorted(INPUTS))
    assert f"(no message for 3 s): {expected}" in run.out
    assert f"fewer messages than expected arrived (no message for 3 s): {expected}; {recorded} is closed" in run.err
    with BagReader(recorded) as reader:
        assert reader.message_count == 16


def test_recorder_gives_up_cleanly_when_nothing_arrives(tmp_path: Path, dds_env: dict[str, str]) -> None:
    result = run_tool("bag_record", [tmp_path / "bag", "no_such_topic_anywhere", "--wait-timeout", "1"],
                      env=dds_env, timeout=60)
    assert result.returncode == EXIT_CODES["ros"]
    assert "nothing arrived within 1 s; no publisher for /no_such_topic_anywhere" in result.stderr
    with BagReader(tmp_path / "bag") as reader:
        assert reader.message_count == 0


def test_recorder_stops_on_sigint_and_closes_the_bag(tmp_path: Path, dds_env: dict[str, str]) -> None:
    recorder = start_tool("bag_record", [tmp_path / "bag", "--all", "--storage", "mcap"], env=dds_env)
    try:
        assert recorder.stdout is not None
        assert "waiting for every topic" in recorder.stdout.readline()  # running, past its imports
        time.sleep(0.5)
        recorder.send_signal(signal.SIGINT)
        code, out, err = finish(recorder, timeout_s=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert code == 0, err
    assert "recorded" in out
    with BagReader(tmp_path / "bag") as reader:
        assert reader.storage == "mcap"


def test_player_errors_have_documented_exit_codes(synthetic_bag: Path, tmp_path: Path,
                                                  dds_env: dict[str, str]) -> None:
    result = run_tool("bag_play", [tmp_path / "missing"], env=dds_env)
    assert result.returncode == EXIT_CODES["bag_unreadable"] and "no such bag" in result.stderr
    result = run_tool("bag_play", [synthetic_bag, "--topics", "left/image_raw", "--wait-for-subscribers", "0.5"],
                      env=dds_env)
    assert result.returncode == EXIT_CODES["ros"] and "no subscriber for /left/image_raw" in result.stderr
    result = run_tool("bag_play", [synthetic_bag, "--remap", "left/image_raw"], env=dds_env)
    assert result.returncode == EXIT_CODES["usage"] and "is not FROM:=TO" in result.stderr
    result = run_tool("bag_play", [synthetic_bag, "--topics", "nothing"], env=dds_env)
    assert result.returncode == EXIT_CODES["usage"] and "not in the bag" in result.stderr
    result = run_tool("bag_play", [synthetic_bag, "--wait-topics", "clock"], env=dds_env)
    assert result.returncode == EXIT_CODES["usage"] and "--wait-topics ['/clock'] are not played" in result.stderr
    assert "Traceback" not in result.stderr


def test_player_skips_topics_of_unknown_types_and_plays_the_rest(tmp_path: Path, dds_env: dict[str, str]) -> None:
    write_bag_with_unknown_type(tmp_path / "bag")
    result = run_tool("bag_play", [tmp_path / "bag"], env=dds_env)
    assert result.returncode == 0, result.stderr
    assert "skipping /thing: message type 'my_pkg/msg/Thing' is not available in Python" in result.stderr
    assert "published 1 message(s) on 1 topic(s)" in result.stdout
    result = run_tool("bag_play", [tmp_path / "bag", "--topics", "thing"], env=dds_env)
    assert result.returncode == EXIT_CODES["missing_input"] and "nothing to play" in result.stderr


@pytest.mark.parametrize("tool", ["bag_play", "bag_record"])
def test_help_exits_zero(tool: str) -> None:
    result = run_tool(tool, ["--help"])
    assert result.returncode == 0 and "Exit codes" in result.stdout
