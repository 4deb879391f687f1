"""The training console scripts without the training extra: one line naming it, exit code 2, no traceback.

torch is installed here, so a subprocess hides it: a meta-path finder installed before anything else
raises ModuleNotFoundError for ``torch`` (and its submodules), as a missing package does. The scripts are
run through the entry points setup.py declares.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stereo_depth_ros.tools.errors import EXIT_CODES
from stereo_depth_ros.training.entry_points import MISSING_EXTRA_EXIT_CODE

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("stereo_depth_train", "stereo_depth_export", "stereo_depth_adapt")

_WITHOUT_TORCH = """
import importlib, sys
from importlib.abc import MetaPathFinder

class HideTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideTorch())
module, function = sys.argv[1].split(":")
code = getattr(importlib.import_module(module), function)(sys.argv[2:])
assert "torch" not in sys.modules
raise SystemExit(code)
"""


def _entry_points() -> dict[str, str]:
    """{console script: "module:function"} as setup.py declares them."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = next(node for node in ast.walk(tree) if isinstance(node, ast.Dict)
                   and any(isinstance(key, ast.Constant) and key.value == "console_scripts" for key in node.keys))
    values = scripts.values[[key.value for key in scripts.keys].index("console_scripts")]
    entries = {}
    for item in values.elts:
        text = "".join(part.value if isinstance(part, ast.Constant) else "stereo_depth_ros" for part in item.values)
        name, _, target = (piece.strip() for piece in text.partition("="))
        entries[name] = target
    return entries


@pytest.mark.parametrize("tool", TOOLS)
def test_a_training_tool_without_torch_names_the_extra_in_one_line(tool, tmp_path):
    target = _entry_points()[tool]
    args = [str(tmp_path / "missing.pt")] if tool == "stereo_depth_export" else []
    if tool == "stereo_depth_adapt":
        args = [str(tmp_path / "bag")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, target, *args], capture_output=True, text=True,
                            env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == MISSING_EXTRA_EXIT_CODE == EXIT_CODES["usage"], result.stderr
    assert result.stderr.splitlines() == [
        f"{tool}: error: torch is not installed; {tool} needs the training extra: "
        "pip install 'stereo_depth_ros[training]'"]
    assert result.stdout == ""


def test_the_training_tools_start_with_the_extra_installed(capsys):
    from stereo_depth_ros.training.entry_points import export_main, train_main

    for main in (train_main, export_main):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
    assert "--export-anyway" in capsys.readouterr().out
