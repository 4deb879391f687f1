"""The README's command blocks run as written, so the documentation cannot drift from the behaviour.

Every ```bash block of README.md is listed in ``BLOCKS`` (a new or renamed block fails
``test_every_readme_command_block_is_covered``) and run by a test below through bash, in a temporary
directory, with the venv's console scripts on PATH. The only changes are ``substituted`` ones, for sizes
(frame counts, image sizes, message counts) and paths; each substitution must match the README text, so a
changed command fails instead of silently running something else. Blocks that need what a test cannot have
(a ROS 2 installation with colcon; a training run; the full five-minute benchmark) are named with the reason
and their paths are checked instead. Adaptation is tested in test/training.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from stereo_depth_ros.core.synthetic import SceneConfig, scene_for_index
from stereo_depth_ros.ros.dds import PROFILES_FILE_VARIABLE, shipped_profile_path
from stereo_depth_ros.tools.bag_from_dataset import synthetic_rig
from stereo_depth_ros.tools.calibration_io import write_camera_info_yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
#: Where ``ros2 pkg prefix stereo_depth_ros``'s share directory is in a checkout.
SHARE_COMMAND = "$(ros2 pkg prefix stereo_depth_ros)/share/stereo_depth_ros"

#: (heading, index of the block under it) -> what the tests do with it.
BLOCKS = {
    ("Two commands", 0): "test_two_commands_run_the_demo_and_the_suite",
    ("On a robot (ROS 2 Jazzy from apt)", 0): "test_robot_block_names_files_the_package_installs",
    ("Fast DDS and large images", 0): "test_fast_dds_profile_export_names_the_shipped_profile",
    ("Accuracy and speed", 0): "test_benchmark_quick_form_and_help_run",
    ("Bag tools", 0): "test_dataset_offline_and_evaluation_commands_run",
    ("Bag tools", 1): "test_live_replay_loses_no_frame",
    ("Training", 0): "test_export_command_runs_on_the_bundled_checkpoint",
    ("Adapting to your camera (self-supervised)", 0): "test/training/test_adapt.py (another suite)",
}


@dataclass(frozen=True)
class Block:
    heading: str
    index: int
    text: str


def readme_blocks() -> list[Block]:
    """Every ```bash block with the heading it is under and its index there."""
    blocks, heading, counts = [], "", {}
    lines = README.read_text().splitlines()
    inside: list[str] | None = None
    for line in lines:
        if inside is not None:
            if line.startswith("```"):
                blocks.append(Block(heading, counts.get(heading, 0), "\n".join(inside) + "\n"))
                counts[heading] = counts.get(heading, 0) + 1
                inside = None
            else:
                inside.append(line)
        elif line.startswith("```bash"):
            inside = []
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return blocks


def block(heading: str, index: int = 0) -> str:
    (found,) = [b.text for b in readme_blocks() if (b.heading, b.index) == (heading, index)]
    return found


def substituted(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each key replaced; every key must occur (a README change then fails here)."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the README block:\n{text}"
        text = text.replace(old, new)
    return text


def environment(dds_env: dict[str, str]) -> dict[str, str]:
    """The tests' private DDS domain, the venv's scripts first on PATH, and no profile variable: a user's shell,
    in which the tools choose the package's Fast DDS profile themselves."""
    env = {**dds_env, "PATH": f"{BIN}{os.pathsep}{dds_env.get('PATH', '')}", "PYTHONPATH": str(ROOT)}
    env.pop(PROFILES_FILE_VARIABLE, None)
    return env


def run_bash(script: str, cwd: Path, env: dict[str, str], timeout_s: float = 600.0) -> str:
    """Run ``script`` with ``bash -e`` (stopping at the first failing command); its output (stdout and stderr).

    What the script left running (a background job whose ``kill`` line a failed command skipped, or everything
    when it ran past ``timeout_s``) is stopped when bash ends: it would hold the output open, and the test would
    wait for it instead of failing with the output.
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            returncode: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            returncode = None
        stop_process_group(process)
        log.seek(0)
        output = log.read()
    ending = f"timed out after {timeout_s:g} s" if returncode is None else f"exit {returncode}"
    assert returncode == 0, f"{ending}:\n{script}\n---\n{output[-4000:]}"
    return output


def stop_process_group(process: subprocess.Popen[str], grace_s: float = 10.0) -> None:
    """SIGTERM to ``process``'s group (its own session; a script's background jobs ignore SIGINT), SIGKILL to
    what is left after ``grace_s``; reaps it."""
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(process):
            time.sleep(0.1)
    process.wait()


def _group_alive(process: subprocess.Popen[str]) -> bool:
    process.poll()  # reap bash itself, so that a finished group is gone
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def dds_env() -> dict[str, str]:
    """A private ROS_DOMAIN_ID (200-232, the tool tests' range: the suites run one after the other), this host only."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(random.SystemRandom().randint(200, 232)), RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    for name in ("FASTDDS_BUILTIN_TRANSPORTS", "ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS"):
        env.pop(name, None)
    return env


def test_every_readme_command_block_is_covered() -> None:
    found = {(b.heading, b.index) for b in readme_blocks()}
    assert found == set(BLOCKS), f"blocks without a test: {found - set(BLOCKS)}; gone: {set(BLOCKS) - found}"


def test_two_commands_run_the_demo_and_the_suite(tmp_path: Path, dds_env: dict[str, str]) -> None:
    assert block("Two commands").splitlines()[:2] == [
        "make demo   # sets up .venv on first use, then runs the demo on bundled data",
        "make test   # sets up .venv on first use, then lints, checks the import layers and runs the whole test suite"]
    venv = Path(sys.prefix)
    plan = {}
    for target in ("demo", "test"):  # what make would run with this venv (no recursion into the suite)
        dry_run = subprocess.run(["make", "-n", "--no-print-directory", target, f"VENV={venv}"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60, check=True).stdout
        plan[target] = dry_run.strip().splitlines()
    # The lint and the layer contracts first (the README's paragraph under the block), then the suite.
    assert plan["test"][-3:] == [f"{venv}/bin/ruff check stereo_depth_ros test launch", f"{venv}/bin/lint-imports",
                                 f"{venv}/bin/python -m pytest -q test"]
    assert plan["demo"][-1] == f"{venv}/bin/stereo_depth_demo"
    makefile = (ROOT / "Makefile").read_text()
    assert f"export {PROFILES_FILE_VARIABLE} := $(CURDIR)/config/fastdds_large_images.xml" in makefile
    output = run_bash(plan["demo"][-1], tmp_path, environment(dds_env))  # the demo as make runs it
    assert "dataset     backend                 frames" in output
    assert (tmp_path / "demo_output" / "summary.json").is_file()
    verdict = next(line for line in output.splitlines() if line.startswith("motorcycle: bad-2"))
    assert "ours wins" in verdict   # the default beats stereo_image_proc's SGBM (README "Two commands")


def test_robot_block_names_files_the_package_installs() -> None:
    # colcon, rosdep and ros2 launch need a ROS 2 installation: the block's files and arguments are checked.
    text = block("On a robot (ROS 2 Jazzy from apt)")
    assert "ros2 launch stereo_depth_ros stereo_depth.launch.py" in text and (ROOT / "launch" /
                                                                             "stereo_depth.launch.py").is_file()
    (export,) = [line for line in text.splitlines() if line.startswith("export ")]
    profile = substituted(export, {f"export {PROFILES_FILE_VARIABLE}=": "", SHARE_COMMAND: str(ROOT)})
    assert Path(profile).is_file()
    assert "pip install onnxruntime rosbags" in text  # the run-time packages rosdep cannot install


def test_fast_dds_profile_export_names_the_shipped_profile(tmp_path: Path, dds_env: dict[str, str]) -> None:
    script = substituted(block("Fast DDS and large images"), {SHARE_COMMAND: str(ROOT)})
    output = run_bash(script + f'test -f "${PROFILES_FILE_VARIABLE}" && echo "${PROFILES_FILE_VARIABLE}"',
                      tmp_path, environment(dds_env))
    assert output.strip() == str(ROOT / "config" / "fastdds_large_images.xml") == str(shipped_profile_path())


def test_benchmark_quick_form_and_help_run(tmp_path: Path, dds_env: dict[str, str]) -> None:
    lines = block("Accuracy and speed").splitlines()
    # The first line is the full benchmark (about 5 min; its sections run small in test_benchmark.py).
    assert lines[0].startswith("stereo_depth_benchmark --out-dir out/benchmark --ros-domain-id 42")
    # Sizes only: fewer frames and scenes, smaller images (the quick form takes minutes as written).
    quick = substituted(lines[1], {"--frames 20": "--frames 1 --warmup 0 --synthetic-scenes 1 --synthetic-size "
                                                  "320x224 --sizes 320x240"})
    output = run_bash(quick + "\n" + lines[2], tmp_path, environment(dds_env), timeout_s=900)
    assert "usage: stereo_depth_benchmark" in output
    assert (tmp_path / "out" / "benchmark" / "benchmark.json").is_file()


def _write_user_images(directory: Path) -> None:
    """What the README's ``mine`` command expects to find: two left/right PNG pairs and camera_info YAMLs."""
    rig = synthetic_rig(width=320, height=224)
    for side in ("left", "right"):
        (directory / side).mkdir()
    for index in range(2):
        scene = scene_for_index(index, seed=1, config=SceneConfig(height=224, width=320, max_disparity_px=40.0))
        cv2.imwrite(str(directory / "left" / f"{index:03d}.png"), scene.left[..., ::-1])
        cv2.imwrite(str(directory / "right" / f"{index:03d}.png"), scene.right[..., ::-1])
    write_camera_info_yaml(directory / "left.yaml", rig.left)
    write_camera_info_yaml(directory / "right.yaml", rig.right)


def test_dataset_offline_and_evaluation_commands_run(tmp_path: Path, dds_env: dict[str, str]) -> None:
    _write_user_images(tmp_path)
    script = substituted(block("Bag tools", 0), {"--frames 20": "--frames 2"})
    output = run_bash(script, tmp_path, environment(dds_env))
    assert "wrote 2 frame(s)" in output and "overall" in output
    assert (tmp_path / "mine" / "metadata.yaml").is_file() and any((tmp_path / "previews").iterdir())


def test_live_replay_loses_no_frame(tmp_path: Path, dds_env: dict[str, str]) -> None:
    script = substituted(block("Bag tools", 1), {"--frames 100": "--frames 3", "--messages-per-topic 100":
                                                "--messages-per-topic 3"})
    output = run_bash(script, tmp_path, environment(dds_env))
    assert "/depth 3 of 3, /disparity 3 of 3, /points2 3 of 3" in output  # the recorder's summary
    assert "0 frame(s) without /disparity" in output  # the player's
    assert re.search(r"overall \(3\)", output), output[-2000:]  # every frame evaluated


def test_export_command_runs_on_the_bundled_checkpoint(tmp_path: Path, dds_env: dict[str, str]) -> None:
    pytest.importorskip("torch", reason="the export needs the training extra")
    lines = block("Training").splitlines()
    # Activation is what the test's PATH does; training a model is a job, not a test (test/training runs it small).
    assert lines[0].startswith(". .venv/bin/activate") and lines[1].startswith("stereo_depth_train ")
    export = substituted(lines[2], {"runs/stereo_net/last.pt": str(ROOT / "models" / "checkpoints" / "stereo_net.pt"),
                                    "--sizes 640x480 768x512": "--sizes 320x224", "--out-dir models": "--out-dir out"})
    run_bash(export, tmp_path, environment(dds_env), timeout_s=900)
    assert (tmp_path / "out" / "stereo_net_320x224.onnx").is_file()
