"""Errors raised by the synthetic scene generator."""

from __future__ import annotations

from stereo_depth_ros.core.errors import StereoDepthError


class SceneConfigError(StereoDepthError):
    """A scene or camera-effects setting is out of range (the message names it and its value)."""
