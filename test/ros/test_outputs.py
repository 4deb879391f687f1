"""The node's output messages (ros.outputs): which topics, in which frame and stamp, and the disparity range."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from test_messages import BASELINE_M, FX, HEIGHT, WIDTH, make_model

from stereo_depth_ros.backends import create_backend
from stereo_depth_ros.core.geometry import OrganizedPointCloud, disparity_to_depth, points_from_depth
from stereo_depth_ros.pipeline.stereo_pipeline import StereoOutput
from stereo_depth_ros.ros.image_conversion import image_to_numpy
from stereo_depth_ros.ros.model_files import bundled_model_path
from stereo_depth_ros.ros.outputs import OPENCV_DISPARITY_STEP_PX, OUTPUT_TOPICS, disparity_range_px, output_messages
from stereo_depth_ros.ros.parameters import settings_from_values

STAMP = Time(sec=1_700_000_001, nanosec=5)


def make_output() -> StereoOutput:
    model = make_model()
    disparity = np.full((HEIGHT, WIDTH), 6.0, np.float32)
    disparity[2, 3] = np.nan
    depth = disparity_to_depth(disparity, model)
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    return StereoOutput(camera=model, left_rect=rgb, disparity_px=disparity,
                        confidence=np.where(np.isfinite(disparity), 0.5, 0.0).astype(np.float32), depth_m=depth,
                        points=OrganizedPointCloud(xyz_m=points_from_depth(depth, model), rgb=rgb),
                        lr_rejected_fraction=0.0)


def test_every_output_is_built_in_publishing_order_with_the_stamp_and_left_frame() -> None:
    messages = output_messages(make_output(), stamp=STAMP, settings=settings_from_values({}),
                               disparity_range=(0.0, 64.0, OPENCV_DISPARITY_STEP_PX))
    assert list(messages) == list(OUTPUT_TOPICS.values())
    for topic, message in messages.items():
        assert (message.header.stamp, message.header.frame_id) == (STAMP, "stereo/left_optical"), topic
    depth = image_to_numpy(messages["depth"])
    assert np.isnan(depth[2, 3]) and depth[0, 0] == pytest.approx(FX * BASELINE_M / (6.0 - 2.5))
    assert messages["disparity"].max_disparity == pytest.approx(64.0 - 2.5)


def test_publish_flags_leave_out_their_topics_and_depth_encoding_is_applied() -> None:
    settings = settings_from_values({"publish_depth": False, "publish_confidence": False, "publish_points": False,
                                     "publish_rectified": False})
    messages = output_messages(make_output(), stamp=STAMP, settings=settings, disparity_range=(0.0, 64.0, 0.0))
    assert list(messages) == ["disparity"]
    millimetres = output_messages(dataclasses.replace(make_output(), points=None), stamp=STAMP,
                                  settings=settings_from_values({"depth_encoding": "16UC1"}),
                                  disparity_range=(0.0, 64.0, 0.0))
    assert "points2" not in millimetres  # no cloud computed: nothing to publish
    assert millimetres["depth"].encoding == "16UC1" and image_to_numpy(millimetres["depth"])[2, 3] == 0


def test_disparity_range_of_opencv_matchers_is_their_search_range_in_sixteenth_pixels() -> None:
    assert disparity_range_px(create_backend("sgbm", num_disparities=48), make_model()) == (0.0, 48.0, 1.0 / 16.0)


def test_disparity_step_of_the_network_is_the_finest_float32_step_over_its_range() -> None:
    rig = make_model()
    backend = create_backend("onnx", model_path=bundled_model_path())
    low, high, step = disparity_range_px(backend, rig)
    assert low == 0.0 and high == pytest.approx(backend.max_disparity_px_for((rig.height, rig.width)))
    largest = np.float32(max(abs(low - rig.cx_offset_px), abs(high - rig.cx_offset_px)))
    assert step > 0.0  # never 0 ("unknown") for a backend whose resolution is known
    assert np.float32(largest + np.float32(step)) != largest  # resolvable at the top of the range ...
    assert np.float32(largest + np.float32(step / 4)) == largest  # ... and nothing finer is
    assert step == float(np.spacing(largest))
