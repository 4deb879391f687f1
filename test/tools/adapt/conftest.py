"""Fixtures of the stereo_depth_adapt tests: a synthetic bag with ground truth and a tiny network (needs torch)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="stereo_depth_adapt needs the 'training' extra (torch)")

from adapt_bags import FRAMES, HEIGHT, MAX_DISPARITY_PX, PERIOD_NS, START_TIME_NS, TINY_MODEL, WIDTH  # noqa: E402

from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, write_dataset_bag  # noqa: E402
from stereo_depth_ros.training.model import StereoNet  # noqa: E402


@pytest.fixture(scope="package")
def synthetic_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 320x224 synthetic frames with ground truth (sqlite3)."""
    path = tmp_path_factory.mktemp("adapt") / "bag"
    rig, frames = synthetic_dataset(FRAMES, width=WIDTH, height=HEIGHT, max_disparity_px=MAX_DISPARITY_PX, seed=3)
    write_dataset_bag(path, rig, frames, rate_hz=1e9 / PERIOD_NS, start_time_ns=START_TIME_NS)
    return path


@pytest.fixture(scope="package")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly initialised tiny network in the checkpoint format (only ``config["model"]`` matters)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("init") / "tiny.pt"
    torch.save({"model": StereoNet(TINY_MODEL).state_dict(), "step": 0, "config": {"model": asdict(TINY_MODEL)},
                "metrics": {}}, path)
    return path


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
