"""stereo_depth_adapt: self-supervised adaptation of the network to a bag of the user's camera.

The one tool that drives the training library (``training.adaptation``, the
``training`` extra): ``bag_frames`` reads, rectifies and hints a bag's frames
as the node would, ``command`` is the command line. ``main`` imports neither
before it knows that the training extra is installed; without it the tool
prints one line naming the extra to install and exits with
``training.entry_points.MISSING_EXTRA_EXIT_CODE``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stereo_depth_ros.training.entry_points import run_with_training_extra

__all__ = ["main"]


def _command() -> Callable[[Sequence[str] | None], int]:
    from stereo_depth_ros.tools.adapt.command import main as command_main

    return command_main


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_adapt --help``."""
    return run_with_training_extra("stereo_depth_adapt", _command, argv)
