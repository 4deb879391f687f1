# The README's two commands: `make demo` and `make test`.
# Each creates .venv on first use and installs everything from package registries;
# a stamp file keeps later runs fast (it is redone when setup.py, package.xml or this file change).

PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.stereo_depth_ros-installed

# A colcon user has these from apt; here they come as wheels.
ROS_WHEELS := ros-jazzy-rclpy ros-jazzy-sensor-msgs ros-jazzy-stereo-msgs ros-jazzy-std-msgs \
	ros-jazzy-diagnostic-msgs ros-jazzy-geometry-msgs ros-jazzy-rmw-fastrtps-cpp ros-jazzy-rosgraph-msgs

# Fast DDS's default 512 KB shared-memory segment is smaller than one 640x480 image, and images
# are lost between processes; the package's profile gives each process a 32 MB segment
# (README, "Fast DDS and large images"). FASTDDS_BUILTIN_TRANSPORTS is ignored under it.
export FASTRTPS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_large_images.xml
export RMW_IMPLEMENTATION := rmw_fastrtps_cpp

.PHONY: demo test install

demo: $(STAMP)
	$(VENV)/bin/stereo_depth_demo

# Lint and import contracts first (ruff.toml, .importlinter): a wrong import fails here, before the tests.
test: $(STAMP)
	$(VENV)/bin/ruff check stereo_depth_ros test launch
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q test

install: $(STAMP)

# torch is pinned on the command line too, so pip never picks a CUDA build.
$(STAMP): setup.py package.xml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install torch==2.13.0 -e '.[test,training,benchmark]' $(ROS_WHEELS)
	touch $@
