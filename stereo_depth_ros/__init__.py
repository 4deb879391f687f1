"""Metric depth from a calibrated stereo camera with a learned stereo network, for ROS 2."""

__version__ = "0.1.0"
