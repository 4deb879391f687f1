"""Console scripts of the training extra, which say how to install it when it is missing.

``stereo_depth_train``, ``stereo_depth_export`` (here) and ``stereo_depth_adapt``
(``tools.adapt``) import nothing of torch before ``run_with_training_extra``
loads the tool; without the ``training`` extra (torch, onnx, onnxscript) they
print one line, ``<tool>: error: <module> is not installed; ...: pip install
'stereo_depth_ros[training]'``, and exit with ``MISSING_EXTRA_EXIT_CODE``.
This module itself imports only the standard library.

Exit codes of stereo_depth_train and stereo_depth_export: 0 success; 1 an
exported file whose outputs disagree with PyTorch's; 2 bad
command line, or the training extra is not installed; 5 a checkpoint that
cannot be used (unreadable, holding a pickled object, another architecture)
or, for the export, an adapted model that got worse (``--export-anyway``).
A known failure prints one line ``<tool>: error: ...``, no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["MISSING_EXTRA_EXIT_CODE", "TRAINING_EXTRA", "export_main", "run_with_training_extra", "train_main"]

#: The pip requirement that installs the training extra.
TRAINING_EXTRA: Final = "stereo_depth_ros[training]"
#: Exit code of a training tool without the extra: 2, the usage code of argparse and of the tools (``tools.errors``).
MISSING_EXTRA_EXIT_CODE: Final = 2
#: Top-level modules the training extra installs.
_EXTRA_MODULES: Final = frozenset({"torch", "onnx", "onnxscript"})

ToolMain = Callable[[Sequence[str] | None], int]


def run_with_training_extra(tool: str, load: Callable[[], ToolMain], argv: Sequence[str] | None) -> int:
    """Load a tool's ``main`` with ``load`` and run it on ``argv``; one line and an exit code without the extra.

    Args:
        tool: the console script's name, printed before the message.
        load: imports the tool's module and returns its ``main(argv) -> exit code``.
        argv: arguments without the program name; None = ``sys.argv[1:]``.

    Returns:
        the tool's exit code, or ``MISSING_EXTRA_EXIT_CODE`` when a module of the extra is missing
        (any other missing module is a broken installation and raises).
    """
    try:
        tool_main = load()
    except ModuleNotFoundError as err:
        missing = (err.name or "").partition(".")[0]
        if missing not in _EXTRA_MODULES:
            raise
        print(f"{tool}: error: {missing} is not installed; {tool} needs the training extra: "
              f"pip install '{TRAINING_EXTRA}'", file=sys.stderr)
        return MISSING_EXTRA_EXIT_CODE
    from stereo_depth_ros.training.errors import TrainingError

    try:
        return tool_main(argv)
    except TrainingError as err:
        print(f"{tool}: error: {err}", file=sys.stderr)
        return err.exit_code


def _train() -> ToolMain:
    from stereo_depth_ros.training.train import main

    return main


def _export() -> ToolMain:
    import onnxscript  # noqa: F401  (torch.onnx.export's default exporter needs it; missing = the extra is missing)

    from stereo_depth_ros.training.export import main

    return main


def train_main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_train --help``."""
    return run_with_training_extra("stereo_depth_train", _train, argv)


def export_main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``stereo_depth_export --help``."""
    return run_with_training_extra("stereo_depth_export", _export, argv)
