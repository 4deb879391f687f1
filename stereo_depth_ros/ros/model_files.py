"""The network's ONNX files: the bundled models and which one a node configuration runs.

``models/stereo_net_<W>x<H>.onnx`` (fixed input size W x H px) are found in the
package's share directory after a colcon build, else in ``models/`` of the
source checkout; ``choose_model_file`` is the pure rule, ``resolve_model_path``
applies it to the node's settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from stereo_depth_ros.backends.errors import ConfigurationError

if TYPE_CHECKING:
    from stereo_depth_ros.ros.parameters import NodeSettings

__all__ = [
    "BUNDLED_MODEL_NAME",
    "CHECKPOINT_PATH",
    "bundled_model_path",
    "bundled_model_sizes",
    "choose_model_file",
    "inference_hw",
    "model_file_name",
    "resolve_model_path",
]

#: The default model: the one the node runs without model_path or inference size.
BUNDLED_MODEL_NAME: Final = "stereo_net_640x480.onnx"
#: The training checkpoint of the bundled model, relative to the repository or the installed share directory
#: (setup.py installs models/ with its sub-folders), for exporting more sizes.
CHECKPOINT_PATH: Final = "models/checkpoints/stereo_net.pt"
PACKAGE: Final = "stereo_depth_ros"


def bundled_model_path() -> Path:
    """Where the bundled model is: the package's share directory, else the source tree's models/.

    The share directory (``share/stereo_depth_ros/models``, found through the
    ament index) exists after a colcon build; a pip or source checkout has
    ``models/`` next to the package directory.
    """
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        pass
    else:
        try:
            shared = Path(get_package_share_directory(PACKAGE)) / "models" / BUNDLED_MODEL_NAME
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset (no ROS workspace sourced)
            pass
        else:
            if shared.is_file():
                return shared
    return Path(__file__).resolve().parents[2] / "models" / BUNDLED_MODEL_NAME


def inference_hw(settings: NodeSettings) -> tuple[int, int] | None:
    """(inference_height_px, inference_width_px), or None when both are 0 (the default size)."""
    if settings.inference_width_px == 0 and settings.inference_height_px == 0:
        return None
    return settings.inference_height_px, settings.inference_width_px


def model_file_name(input_hw: tuple[int, int]) -> str:
    """File name of the bundled network for an (H, W) input, e.g. ``stereo_net_640x480.onnx``."""
    return f"stereo_net_{input_hw[1]}x{input_hw[0]}.onnx"


_MODEL_FILE_RE: Final = re.compile(r"^stereo_net_(\d+)x(\d+)\.onnx$")


def bundled_model_sizes(file_names: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """(H, W) of every ``stereo_net_<W>x<H>.onnx`` among ``file_names``, sorted by area."""
    sizes = {(int(match[2]), int(match[1])) for name in file_names if (match := _MODEL_FILE_RE.match(name))}
    return tuple(sorted(sizes, key=lambda hw: (hw[0] * hw[1], hw)))


def choose_model_file(*, model_path: str, input_hw: tuple[int, int] | None, bundled_default: Path,
                      bundled_files: Iterable[str]) -> Path:
    """The ONNX file the network backends load (pure: no file system access).

    Args:
        model_path: the ``model_path`` parameter; non-empty wins (its input size is checked
            against ``input_hw`` when the model is loaded, see ``ros.node.backend_from_settings``).
        input_hw: (inference_height_px, inference_width_px), or None for the default model.
        bundled_default: path of the bundled default model (``bundled_model_path()``).
        bundled_files: names of the files in ``bundled_default``'s directory.

    Returns:
        ``model_path`` expanded; else the bundled default when ``input_hw`` is None;
        else the bundled ``stereo_net_<W>x<H>.onnx`` beside the default.

    Raises:
        ConfigurationError: no bundled model has the requested size; the message lists
            the bundled sizes and how to export one.
    """
    if model_path:
        return Path(model_path).expanduser()
    if input_hw is None:
        return bundled_default
    name = model_file_name(input_hw)
    files = set(bundled_files)
    if name in files:
        return bundled_default.parent / name
    sizes = ", ".join(f"{w}x{h}" for h, w in bundled_model_sizes(files)) or "none"
    height, width = input_hw
    raise ConfigurationError(
        f"no bundled model for inference size {width}x{height} px (inference_width_px x inference_height_px) "
        f"in {bundled_default.parent}; bundled sizes (WxH): {sizes}. Export one with "
        f"`stereo_depth_export {bundled_default.parent.parent / CHECKPOINT_PATH} --sizes {width}x{height} "
        "--out-dir DIR` (needs the training extra) "
        f"and start with model_path:=DIR/{name}, or set inference_width_px and inference_height_px to a "
        "bundled size (or 0 for the default)")


def resolve_model_path(settings: NodeSettings) -> Path:
    """The network's ONNX file: ``model_path`` as given, else the bundled model of the inference size.

    Raises:
        ConfigurationError: ``model_path`` is empty and no bundled model has the inference size.
    """
    default = bundled_model_path()
    size = inference_hw(settings)
    listing = [path.name for path in default.parent.glob("*.onnx")] if size and not settings.model_path else []
    return choose_model_file(model_path=settings.model_path, input_hw=size, bundled_default=default,
                             bundled_files=listing)
