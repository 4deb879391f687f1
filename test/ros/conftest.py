"""Fixtures of the ROS layer's tests: an isolated DDS domain.

Node tests talk DDS between processes. Other engineers run DDS tests on this
machine at the same time (in other domain-id ranges), so this session picks a
random ROS_DOMAIN_ID in 100..149 and selects the package's Fast DDS profile for
large images (config/fastdds_large_images.xml, as `make test` and the launch
file do). Only tests that request ``ros_environment`` (directly or through a
node fixture) change the environment.
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

import pytest

from stereo_depth_ros.ros.dds import PROFILES_FILE_VARIABLE, shipped_profile_path


@pytest.fixture(scope="session")
def ros_environment() -> Iterator[dict[str, str]]:
    """ROS_DOMAIN_ID (random, 100..149), the shipped Fast DDS profile, localhost-only discovery."""
    profile = shipped_profile_path()
    assert profile is not None, "config/fastdds_large_images.xml is missing"
    values = {
        "ROS_DOMAIN_ID": str(random.SystemRandom().randint(100, 149)),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        PROFILES_FILE_VARIABLE: str(profile),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
        "PYTHONUNBUFFERED": "1",
    }
    saved = {name: os.environ.get(name) for name in (*values, "FASTDDS_BUILTIN_TRANSPORTS")}
    os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)  # ignored under the profile; not to mislead a reader
    os.environ.update(values)
    yield values
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
