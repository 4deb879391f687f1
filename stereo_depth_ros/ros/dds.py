"""Fast DDS set-up for large images: the shipped XML profile and the variable that selects it.

``config/fastdds_large_images.xml`` (installed to ``share/stereo_depth_ros/config``) gives every
process a 32 MB shared-memory segment: Fast DDS's default 512 KB segment (also what
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` gives) is smaller than one 640x480 rgb8 image, and
images are lost between processes (the profile's comment and README's "Fast DDS" section say
why and what was measured). Fast DDS 2.x (ROS 2 Jazzy) reads the profile from the file named by
``FASTRTPS_DEFAULT_PROFILES_FILE`` when a process creates its first participant, so the node and
the bag tools call ``select_large_image_profile`` before ``rclpy.init``; a file the user names
there is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Final

__all__ = ["PROFILE_FILE_NAME", "PROFILES_FILE_VARIABLE", "dds_environment", "select_large_image_profile",
           "shipped_profile_path"]

PACKAGE: Final = "stereo_depth_ros"
PROFILE_FILE_NAME: Final = "fastdds_large_images.xml"
#: The variable Fast DDS 2.x reads its XML profiles from.
PROFILES_FILE_VARIABLE: Final = "FASTRTPS_DEFAULT_PROFILES_FILE"


def shipped_profile_path() -> Path | None:
    """The shipped profile: the checkout's ``config/`` (source or editable install), else the installed share
    directory (colcon's ament index, or pip's ``<prefix>/share/stereo_depth_ros/config``); None if none exists."""
    for path in (Path(__file__).resolve().parents[2] / "config" / PROFILE_FILE_NAME, _ament_share_profile(),
                 Path(sys.prefix) / "share" / PACKAGE / "config" / PROFILE_FILE_NAME):
        if path is not None and path.is_file():
            return path
    return None


def _ament_share_profile() -> Path | None:
    """The profile in the package's share directory found through the ament index (colcon), if there is one."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE)) / "config" / PROFILE_FILE_NAME
    except (PackageNotFoundError, OSError, ValueError):  # OSError: AMENT_PREFIX_PATH is not set
        return None


def dds_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to ``environ`` (default ``os.environ``) so that a process uses the shipped profile.

    Returns:
        {``FASTRTPS_DEFAULT_PROFILES_FILE``: path} when the variable is not set and the profile exists,
        else {} (a profiles file the user chose is kept).
    """
    environ = os.environ if environ is None else environ
    if environ.get(PROFILES_FILE_VARIABLE):
        return {}
    path = shipped_profile_path()
    return {} if path is None else {PROFILES_FILE_VARIABLE: str(path)}


def select_large_image_profile() -> str | None:
    """Make this process use the shipped profile unless ``FASTRTPS_DEFAULT_PROFILES_FILE`` is set; call it
    before ``rclpy.init``.

    Returns:
        The profiles file this process uses (the shipped one or the user's), or None when neither exists.
    """
    os.environ.update(dds_environment())
    return os.environ.get(PROFILES_FILE_VARIABLE) or None
