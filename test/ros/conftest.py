"""Fixtures of the ROS layer's tests: an isolated DDS domain.

Node tests talk DDS between processes. Other engineers run DDS tests on this
machine at the same time (in other domain-id ranges), so this session picks a
random ROS_DOMAIN_ID in 100..149 and sets the transport Fast DDS needs for
large images on best-effort topics. Only tests that request ``ros_environment``
(directly or through a node fixture) change the environment.
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


@pytest.fixture(scope="session")
def ros_environment() -> Iterator[dict[str, str]]:
    """ROS_DOMAIN_ID (random, 100..149), Fast DDS with LARGE_DATA, localhost-only discovery."""
    values = {
        "ROS_DOMAIN_ID": str(random.SystemRandom().randint(100, 149)),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
        "PYTHONUNBUFFERED": "1",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    yield values
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
