"""Where the package keeps files it can rebuild: one cache root for every cache.

``cache_root()`` is ``$STEREO_DEPTH_CACHE`` when set, else
``$XDG_CACHE_HOME/stereo_depth_ros``, else ``~/.cache/stereo_depth_ros``. Caches live
in subfolders of it (training scenes, TensorRT engines, ONNX Runtime's TensorRT
cache), so one variable moves all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["CACHE_ENVIRONMENT_VARIABLE", "cache_root"]

#: The environment variable that moves every cache.
CACHE_ENVIRONMENT_VARIABLE: Final = "STEREO_DEPTH_CACHE"


def cache_root() -> Path:
    """The cache root (see the module docstring), expanded; not created."""
    explicit = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "stereo_depth_ros"
