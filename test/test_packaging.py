"""Install layout: setup.py installs every shipped file (models/checkpoints too), and package.xml names every
package the run-time code imports (training, an optional extra, has its own)."""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]
#: Import name -> how it is installed: a package.xml key, or "pip" (setup.py install_requires; no rosdep key).
RUNTIME_IMPORTS = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "builtin_interfaces": "builtin_interfaces",
    "sensor_msgs": "sensor_msgs", "stereo_msgs": "stereo_msgs", "std_msgs": "std_msgs",
    "diagnostic_msgs": "diagnostic_msgs", "rosgraph_msgs": "rosgraph_msgs", "tf2_msgs": "tf2_msgs",
    "ament_index_python": "ament_index_python", "launch": "launch", "launch_ros": "launch_ros",
    "numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "skimage": "python3-skimage",
    "onnxruntime": "pip", "rosbags": "pip",
}
#: Imported only inside a function that reports their absence (package.xml says so).
OPTIONAL_IMPORTS = {"matplotlib", "onnx", "tensorrt", "cupy", "google", "apsw"}
PIP_NAMES = {"onnxruntime": "onnxruntime", "rosbags": "rosbags"}


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _runtime_sources() -> list[Path]:
    sources = [p for p in (ROOT / "stereo_depth_ros").rglob("*.py") if "training" not in p.relative_to(ROOT).parts]
    return [*sources, *(ROOT / "launch").glob("*.py")]


def _setup_kwargs(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    captured: dict[str, object] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    return captured


def test_package_xml_lists_every_package_the_runtime_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    third_party = set().union(*map(_top_level_imports, _runtime_sources())) - set(sys.stdlib_module_names)
    third_party -= {"stereo_depth_ros", "__future__"}
    assert third_party <= set(RUNTIME_IMPORTS) | OPTIONAL_IMPORTS, third_party - set(RUNTIME_IMPORTS)
    package = ElementTree.parse(ROOT / "package.xml").getroot()
    declared = {element.text for element in package.iter("exec_depend")}
    missing = {RUNTIME_IMPORTS[name] for name in third_party & set(RUNTIME_IMPORTS)} - declared - {"pip"}
    assert not missing, f"package.xml lacks exec_depend {sorted(missing)}"
    requirements = set(_setup_kwargs(monkeypatch)["install_requires"])  # type: ignore[arg-type]
    assert {PIP_NAMES[name] for name in third_party if RUNTIME_IMPORTS.get(name) == "pip"} <= requirements


def test_setup_installs_every_shipped_file_with_its_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    data_files = _setup_kwargs(monkeypatch)["data_files"]
    installed = {f"{destination}/{Path(source).name}" for destination, sources in data_files  # type: ignore[union-attr]
                 for source in sources}
    shipped = [p.relative_to(ROOT) for folder in ("config", "models") for p in (ROOT / folder).rglob("*")
               if p.is_file()]
    shipped += [p.relative_to(ROOT) for p in (ROOT / "launch").glob("*.py")]
    assert any(path.parts[:2] == ("models", "checkpoints") for path in shipped)
    assert Path("config/fastdds_large_images.xml") in shipped
    expected = {f"share/stereo_depth_ros/{path.as_posix()}" for path in shipped}
    assert expected <= installed, sorted(expected - installed)


def _console_scripts() -> list[tuple[str, str]]:
    setup_text = (ROOT / "setup.py").read_text()
    entries = ast.literal_eval(setup_text[setup_text.index('"console_scripts": [') + len('"console_scripts": '):
                                          setup_text.index("]", setup_text.index('"console_scripts": [')) + 1]
                               .replace("{PACKAGE}", "stereo_depth_ros").replace('f"', '"'))
    return [tuple(part.strip() for part in entry.split("=")) for entry in entries]  # type: ignore[misc]


@pytest.mark.parametrize(("script", "target"), _console_scripts(), ids=[name for name, _ in _console_scripts()])
def test_every_console_script_answers_help_without_starting_anything(script: str, target: str) -> None:
    module, function = target.split(":")
    code = (f"import sys; sys.argv[0] = {script!r}; from {module} import {function} as main; "
            "sys.exit(main(['--help']))")  # argv[0] as the console script has it (argparse's prog)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                               check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"usage: {script}"), completed.stdout[:200]
