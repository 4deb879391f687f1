"""Build script: an ament_python package for colcon that is also pip-installable."""

from glob import glob
from os.path import isfile

from setuptools import find_packages, setup

PACKAGE = "stereo_depth_ros"


def _share(subdir: str, pattern: str) -> tuple[str, list[str]]:
    """A data_files entry installing repository files into share/<package>/<subdir>."""
    return (f"share/{PACKAGE}/{subdir}".rstrip("/"), sorted(p for p in glob(pattern) if isfile(p)))


def _share_tree(subdir: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file below ``subdir`` (sub-folders too) into share/<package>/<subdir>."""
    folders = [subdir, *sorted(d for d in glob(f"{subdir}/**/", recursive=True) if d.rstrip("/") != subdir)]
    return [_share(folder.rstrip("/"), f"{folder.rstrip('/')}/*") for folder in folders]


setup(
    name=PACKAGE,
    version="0.1.0",
    description="Metric depth from a calibrated stereo camera with a learned stereo network (ROS 2).",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        _share("", "package.xml"),
        _share("launch", "launch/*.py"),
        *_share_tree("config"),
        *_share_tree("models"),  # with models/checkpoints/ (the export and adaptation start from it)
    ],
    install_requires=[
        "numpy",
        "opencv-python-headless",
        "onnxruntime",
        "pyyaml",
        "rosbags",
        "scikit-image",
    ],
    extras_require={
        # make test: ruff (ruff.toml) and import-linter's lint-imports (.importlinter) before pytest.
        "test": ["pytest", "ruff", "import-linter"],
        # torch.onnx.export's default (dynamo) exporter needs onnxscript.
        "training": ["torch==2.13.0", "onnxscript"],
        # PNG plots of the benchmark report.
        "benchmark": ["matplotlib"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            f"stereo_depth_node = {PACKAGE}.ros.node:main",
            f"stereo_depth_demo = {PACKAGE}.tools.demo:main",
            f"stereo_depth_benchmark = {PACKAGE}.tools.benchmark:main",
            f"stereo_bag_from_dataset = {PACKAGE}.tools.bag_from_dataset:main",
            f"stereo_bag_play = {PACKAGE}.tools.bag_play:main",
            f"stereo_bag_process = {PACKAGE}.tools.bag_process:main",
            f"stereo_bag_record = {PACKAGE}.tools.bag_record:main",
            f"stereo_bag_evaluate = {PACKAGE}.tools.bag_evaluate:main",
            f"stereo_depth_train = {PACKAGE}.training.entry_points:train_main",
            f"stereo_depth_export = {PACKAGE}.training.entry_points:export_main",
            f"stereo_depth_adapt = {PACKAGE}.tools.adapt:main",
        ],
    },
)
