"""The stereo pipeline over the core and the backends (ROS-free).

``StereoPipeline`` rectifies a raw pair, gathers hints (classical SGBM hints
from :mod:`stereo_depth_ros.pipeline.classical_hints`, LiDAR hints projected by
the core), runs a backend, applies the left-right check and turns disparity
into depth and an organised point cloud. The ROS node and the offline tools
both drive it; it imports neither ROS nor torch.
"""

from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig, classical_hints
from stereo_depth_ros.pipeline.stereo_pipeline import (
    HINT_SOURCES,
    PipelineConfig,
    StereoOutput,
    StereoPipeline,
)

__all__ = [
    "HINT_SOURCES",
    "ClassicalHintConfig",
    "PipelineConfig",
    "StereoOutput",
    "StereoPipeline",
    "classical_hints",
]
