"""Measurement, not a test: bag -> stereo_bag_play -> stereo_depth_node -> stereo_bag_record, frames counted.

Run from the repository root (the README's live example, repeated; about 2 min per run):

    python test/tools/measure_replay.py --frames 100 --runs 5 [--paced]

Writes a synthetic 640x480 bag (``--rate`` frames per second of stamps), then per run starts the node with
its default parameters, a recorder of its outputs (reliable, as the README's), a best-effort recorder of
``disparity`` (as rviz subscribes) and one of /diagnostics, and once they have connected to the node (as a
recorder started well before the player would be) plays the bag with ``--wait-for-subscribers``
and, as the README does, ``--wait-for disparity`` (in step with the node); ``--paced`` plays by the bag's stamps
alone, so a node slower than the bag drops pairs (counted).
Nothing sets Fast DDS variables: the tools choose the package's profile themselves (``ros.dds``), unless
FASTRTPS_DEFAULT_PROFILES_FILE is set in the calling environment (``--builtin-transports LARGE_DATA`` runs
the old set-up for comparison). Prints one JSON line per run: frames in the bag; images and camera_info the
node received per side; pairs it published, dropped (busy: a newer pair replaced one waiting) and failed;
and messages each recorder got. Frames lost between processes = sent - received; frames the node could not
keep up with = dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stereo_depth_ros.ros.bag_io import BagReader

OUTPUTS = ("disparity", "depth", "points2")
INPUT_TOTALS = ("left_images_total", "right_images_total", "left_camera_info_total", "right_camera_info_total")
OUTPUT_TOTALS = ("frames_published_total", "frames_dropped_total", "frames_failed_total")


def _tool(name: str, *args: object, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([str(Path(sys.executable).parent / name), *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]


class _Output:
    """The lines a tool prints, collected by a thread as they come (so they can be waited for)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, texts: list[str], timeout_s: float) -> bool:
        """Until a line contains each of ``texts`` (True), the tool ends or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not all(any(text in line for line in self.lines) for text in texts):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended:
                    return False
                self._changed.wait(min(remaining, 0.5))
            return True

    def text(self) -> str:
        self._thread.join(timeout=60)
        return "\n".join(self.lines).strip()


def _last_totals(diagnostics_bag: Path) -> dict[str, int]:
    totals: dict[str, int] = {}
    with BagReader(diagnostics_bag) as reader:
        for message in reader.messages(["/diagnostics"]):
            for status in message.deserialize().status:
                values = {kv.key: kv.value for kv in status.values}
                totals.update({k: int(values[k]) for k in (*INPUT_TOTALS, *OUTPUT_TOTALS) if k in values})
    return totals


def _count(bag: Path, topic: str) -> int:
    if not bag.exists():
        return 0
    with BagReader(bag) as reader:
        return sum(1 for _ in reader.messages([topic])) if topic in reader.topics else 0


def run_once(bag: Path, frames: int, out: Path, env: dict[str, str], *, play_options: tuple[str, ...] = (),
             idle_timeout_s: float = 10.0) -> dict[str, object]:
    """One play -> node -> record run (``stereo_bag_play BAG --wait-for-subscribers 120 *play_options``, started once
    the recorders have matched the node's outputs); the counts.

    Returns:
        {frames, player_exit, recorder_exit, node: the node's last /diagnostics totals (INPUT_TOTALS,
        OUTPUT_TOTALS), recorded: {output: messages the reliable recorder got}, best_effort_disparity,
        recorder_says: the recorder's last line}.
    """
    node = _tool("stereo_depth_node", env=env)
    recorder = _tool("stereo_bag_record", out / "live", *OUTPUTS, "--messages-per-topic", frames,
                     "--wait-timeout", 300, "--idle-timeout", idle_timeout_s, env=env)
    best_effort = _tool("stereo_bag_record", out / "best_effort", "disparity", "--qos", "best_effort",
                        "--messages-per-topic", frames, "--wait-timeout", 300, "--idle-timeout", idle_timeout_s,
                        env=env)
    diagnostics = _tool("stereo_bag_record", out / "diagnostics", "/diagnostics", env=env)
    logs = {"recorder": _Output(recorder), "best_effort": _Output(best_effort), "diagnostics": _Output(diagnostics)}
    _Output(node)  # read, so that the node never blocks on a full pipe
    try:
        # Play once every recorder is connected to the node: the player waits for the node's inputs only, and a
        # recorder that matches the node's outputs later misses the frames published before (volatile outputs).
        # One still unconnected after 120 s shows in its counts.
        for name, topics in (("recorder", OUTPUTS), ("best_effort", ("disparity",)), ("diagnostics", ("diagnostics",))):
            logs[name].wait_for([f"matched /{topic} " for topic in topics], timeout_s=120.0)
        player = subprocess.run([str(Path(sys.executable).parent / "stereo_bag_play"), str(bag),
                                 "--wait-for-subscribers", "120", *play_options], env=env, capture_output=True,
                                text=True, check=False)
        recorder.wait(timeout=600)
        best_effort.wait(timeout=600)
        time.sleep(2.5)  # the node's next /diagnostics (every 1 s) then counts the last frame too
    finally:
        for process in (diagnostics, node, recorder, best_effort):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (diagnostics, node, recorder, best_effort):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    recorder_log = logs["recorder"].text()
    return {"frames": frames, "player_exit": player.returncode, "player_says": player.stderr.strip()[-500:],
            "recorder_exit": recorder.returncode,
            "node": _last_totals(out / "diagnostics"),
            "recorded": {topic: _count(out / "live", f"/{topic}") for topic in OUTPUTS},
            "best_effort_disparity": _count(out / "best_effort", "/disparity"),
            "recorder_says": recorder_log.strip().splitlines()[-1] if recorder_log.strip() else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1.0, help="frames per second of the bag's stamps")
    parser.add_argument("--paced", action="store_true", help="play by the bag's stamps alone (no --wait-for)")
    parser.add_argument("--builtin-transports", default=None, help="e.g. LARGE_DATA: the old set-up, no profile")
    args = parser.parse_args()
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.SystemRandom().randint(60, 99)),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    with tempfile.TemporaryDirectory(prefix="measure_replay_") as directory:
        root = Path(directory)
        if args.builtin_transports:  # an empty profile keeps the tools from choosing the package's
            (root / "empty.xml").write_text('<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"/>')
            env.update(FASTDDS_BUILTIN_TRANSPORTS=args.builtin_transports,
                       FASTRTPS_DEFAULT_PROFILES_FILE=str(root / "empty.xml"))
        subprocess.run([str(Path(sys.executable).parent / "stereo_bag_from_dataset"), str(root / "synth"),
                        "--dataset", "synthetic", "--frames", str(args.frames), "--width", "640", "--height", "480",
                        "--rate", str(args.rate)], check=True, env=env, capture_output=True)
        for run in range(args.runs):
            out = root / f"run{run}"
            out.mkdir()
            options = () if args.paced else ("--wait-for", "disparity")
            print(json.dumps(run_once(root / "synth", args.frames, out, env, play_options=options)), flush=True)


if __name__ == "__main__":
    main()
