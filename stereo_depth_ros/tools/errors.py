"""Errors of the command-line tools, and the exit code each kind of failure gives.

Every tool returns one of ``EXIT_CODES``; a known failure prints one line
``<tool>: error: <what is wrong>`` on stderr, never a traceback (bugs still
show theirs). Partial output is closed before the tool exits.

====  =========================================================================
code  meaning
====  =========================================================================
0     success
2     bad command line (unknown option, invalid parameter value)
3     input bag unreadable: not found, not a bag, truncated or damaged
4     input lacks what the tool needs: a topic, a message type, any stereo frame
5     bad input data: calibration (file), image files, image/calibration mismatch
6     the matching backend cannot run (model file, ONNX Runtime provider, ...)
7     output cannot be written (exists, no space, permissions)
8     ROS communication: nothing arrived, or no subscriber matched, in time
130   interrupted (Ctrl-C) while processing; what was written is kept
====  =========================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Final

from stereo_depth_ros.backends.errors import BackendError
from stereo_depth_ros.core.errors import StereoDepthError
from stereo_depth_ros.ros.errors import (
    BagError,
    BagReadError,
    BagWriteError,
    MissingTopicError,
    RosLayerError,
    TopicTypeError,
    UnknownMessageTypeError,
)

__all__ = [
    "EXIT_CODES",
    "CalibrationFileError",
    "DatasetError",
    "NoStereoFramesError",
    "RosCommunicationError",
    "ToolError",
    "UsageError",
    "exit_code_for",
    "run_tool",
]

EXIT_CODES: Final[dict[str, int]] = {
    "ok": 0, "usage": 2, "bag_unreadable": 3, "missing_input": 4, "bad_input": 5, "backend": 6,
    "output": 7, "ros": 8, "interrupted": 130,
}


class ToolError(Exception):
    """Base of the tools' own errors; ``exit_code`` is what the tool returns."""

    exit_code: int = 1


class UsageError(ToolError):
    """Arguments that argparse accepts but that do not fit together or are out of range."""

    exit_code = EXIT_CODES["usage"]


class CalibrationFileError(ToolError):
    """A calibration file is unreadable, or lacks or mis-sizes a matrix; the message names file and key."""

    exit_code = EXIT_CODES["bad_input"]


class DatasetError(ToolError):
    """Dataset images or ground truth are missing, unreadable, unpaired or of mismatched sizes."""

    exit_code = EXIT_CODES["bad_input"]


class NoStereoFramesError(ToolError):
    """The bag has the topics but not one left/right pair could be made (stamps never match)."""

    exit_code = EXIT_CODES["missing_input"]


class RosCommunicationError(ToolError):
    """Nothing arrived on the requested topics, or no subscriber matched, within the allowed time."""

    exit_code = EXIT_CODES["ros"]


def exit_code_for(error: BaseException) -> int | None:
    """The exit code of a known failure, or None for anything else (a bug)."""
    if isinstance(error, ToolError):
        return error.exit_code
    if isinstance(error, (MissingTopicError, TopicTypeError, UnknownMessageTypeError)):
        return EXIT_CODES["missing_input"]
    if isinstance(error, BagReadError):
        return EXIT_CODES["bag_unreadable"]
    if isinstance(error, (BagWriteError, OSError)):
        return EXIT_CODES["output"]
    if isinstance(error, BackendError):
        return EXIT_CODES["backend"]
    if isinstance(error, (BagError, RosLayerError, StereoDepthError)):
        return EXIT_CODES["bad_input"]
    return None


def run_tool(name: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a tool's ``body(argv)`` and turn known failures into one stderr line and an exit code.

    Args:
        name: the console script's name, printed before the message.
        body: the tool; returns its exit code.
        argv: arguments without the program name; None = ``sys.argv[1:]``.
    """
    try:
        return body(argv)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_CODES["interrupted"]
    except (ToolError, BagError, RosLayerError, StereoDepthError, BackendError, OSError) as err:
        code = exit_code_for(err)
        assert code is not None
        print(f"{name}: error: {err}", file=sys.stderr)
        return code
