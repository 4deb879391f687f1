"""Fixtures of the tool tests: a private DDS domain and a small synthetic bag.

DDS tests run tools as subprocesses in one ROS_DOMAIN_ID drawn at random from
200-232 per test session (other engineers' DDS tests use other ranges; this
team's range is 200-249, but Fast DDS cannot compute its ports for domains above
232), with the package's Fast DDS profile for large images
(config/fastdds_large_images.xml, as `make test` and the launch file use).
"""

# ROS_DOMAIN_ID ranges of the test suites, disjoint so suites running at the same time never share a domain
# (Fast DDS cannot use ids above 232):
#   test/ros                       100-149
#   test/tools/test_benchmark.py   150-199
#   test/tools (other DDS tests)   200-232

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from tool_helpers import RATE_HZ, START_TIME_NS, SYNTHETIC_HEIGHT, SYNTHETIC_MAX_DISPARITY_PX, SYNTHETIC_WIDTH

from stereo_depth_ros.ros.dds import PROFILES_FILE_VARIABLE, shipped_profile_path
from stereo_depth_ros.tools.bag_from_dataset import synthetic_dataset, write_dataset_bag


@pytest.fixture(scope="session")
def ros_domain_id() -> str:
    """A ROS_DOMAIN_ID in 200-232 (Fast DDS's largest usable id is 232), one per test session."""
    return str(random.SystemRandom().randint(200, 232))


@pytest.fixture(scope="session")
def dds_env(ros_domain_id: str) -> dict[str, str]:
    """Environment for tool subprocesses that talk DDS (private domain, the shipped profile, this host only)."""
    profile = shipped_profile_path()
    assert profile is not None, "config/fastdds_large_images.xml is missing"
    env = dict(os.environ)
    env.update({"ROS_DOMAIN_ID": ros_domain_id, PROFILES_FILE_VARIABLE: str(profile),
                "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "PYTHONUNBUFFERED": "1"})
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)  # ignored under the profile
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.pop("ROS_STATIC_PEERS", None)
    return env


@pytest.fixture(scope="session")
def synthetic_bag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Four 320x224 synthetic frames with ground truth (sqlite3), written once per session."""
    path = tmp_path_factory.mktemp("synthetic") / "bag"
    rig, frames = synthetic_dataset(4, width=SYNTHETIC_WIDTH, height=SYNTHETIC_HEIGHT,
                                    max_disparity_px=SYNTHETIC_MAX_DISPARITY_PX, seed=3)
    write_dataset_bag(path, rig, frames, rate_hz=RATE_HZ, start_time_ns=START_TIME_NS)
    yield path
