"""Node parameters as command-line options of the tools, named, described and typed by the node's schema.

``stereo_bag_process`` offers every offline parameter, ``stereo_depth_adapt`` those
that decide how frames are read; each option is ``--<name>`` with the schema's
summary (unit, range, default) as help and its value in ``args.param_<name>``
(None = not given).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from stereo_depth_ros.ros.parameters import ParameterSpec

__all__ = ["add_parameter_options", "parse_bool"]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_parameter_options(parser: argparse.ArgumentParser, specs: Sequence[ParameterSpec]) -> None:
    """One option per node parameter, named exactly like it, with the schema's description as help."""
    group = parser.add_argument_group("node parameters (same names, meaning and defaults as stereo_depth_node)")
    kinds = {"bool": parse_bool, "integer": int, "double": float, "string": str}
    for spec in specs:
        default_text = (" ".join(str(item) for item in spec.default) if isinstance(spec.default, tuple)
                        else spec.default)
        help_text = f"{spec.summary()} Default: {default_text}.".replace("%", "%%")  # argparse %-formats help
        options: dict[str, Any] = {"dest": f"param_{spec.name}", "default": None, "help": help_text}
        if spec.type == "string_array":
            options.update(nargs="+", metavar="ITEM")
        elif spec.type == "double_array":
            options.update(nargs=spec.size or "+", type=float, metavar="VALUE")
        else:
            options.update(type=kinds[spec.type], metavar=spec.type.upper())
        if spec.choices is not None and spec.type == "string":
            options.update(choices=spec.choices, metavar=None)
        group.add_argument(f"--{spec.name}", **options)
