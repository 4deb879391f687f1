"""ros.node_diagnostics: the node's four statuses from a statistics window and a state snapshot (ROS-free)."""

from __future__ import annotations

from dataclasses import replace

from stereo_depth_ros.ros.diagnostics import Level, Problem, StatisticsWindow
from stereo_depth_ros.ros.node_diagnostics import INPUT_QOS_CATEGORY, OUTPUT_QOS_CATEGORY, NodeState, node_reports
from stereo_depth_ros.ros.sync import SyncCounters

STATE = NodeState(name="stereo", sync=SyncCounters(left_images=12, right_images=11, pairs=10, unmatched=3,
                                                    without_info=1, time_jumps=2),
                  sync_description="exact", lidar_hints=False, lidar_hint_pixels_last=None, hint_fraction_last=0.125,
                  tf_static_transforms=None, backend_name="sgbm", backend_facts={"provider": "opencv"},
                  calibration={"calibration_id": "0123abcd", "baseline_m": "0.12000"}, calibration_in_use=True,
                  qos_counts={"incompatible_qos_inputs": 2, "incompatible_qos_outputs": 1, "messages_lost": 7})


def _window(**changes: object) -> StatisticsWindow:
    window = StatisticsWindow(duration_s=2.0, window_counts={"left_images": 8, "frames_published": 5},
                              totals={"frames_published": 40, "frames_failed": 1, "pairs": 44},
                              latency_ms=(100.0, 150.0, 350.0), processing_ms=(80.0, 90.0, 100.0), problems={},
                              last_error=None)
    return replace(window, **changes)


def test_the_statuses_carry_rates_over_the_window_totals_and_latency_statistics():
    input_report, output_report, backend, calibration = node_reports(_window(), STATE)
    assert [r.name for r in (input_report, output_report, backend, calibration)] == [
        "stereo: input", "stereo: output", "stereo: backend", "stereo: calibration"]
    assert all(r.level == Level.OK for r in (input_report, output_report, backend, calibration))
    assert input_report.values["left_image_rate_hz"] == "4.00" and input_report.values["pairs_total"] == "44"
    assert (input_report.values["unmatched_images_total"], input_report.values["time_jumps_total"],
            input_report.values["pairs_without_camera_info_total"]) == ("3", "2", "1")
    assert input_report.values["tf_static_transforms"] == "not read" and input_report.values["lidar_hints"] == "off"
    assert (input_report.values["incompatible_qos_publishers_total"],
            input_report.values["messages_lost_in_dds_total"]) == ("2", "7")
    assert output_report.values["incompatible_qos_subscribers_total"] == "1"
    assert output_report.values["output_rate_hz"] == "2.50" and output_report.values["frames_published_total"] == "40"
    assert (output_report.values["latency_ms_mean"], output_report.values["latency_ms_max"]) == ("200.0", "350.0")
    assert output_report.values["processing_ms_max"] == "100.0"
    assert output_report.values["hint_pixels_percent_last"] == "12.5"
    assert backend.message == "sgbm on opencv" and backend.values == {"provider": "opencv"}
    assert calibration.values == {"calibration_id": "0123abcd", "baseline_m": "0.12000"}


def test_a_window_without_frames_says_n_a_not_zero():
    output = node_reports(_window(latency_ms=(), processing_ms=()), replace(STATE, hint_fraction_last=None))[1]
    assert (output.values["latency_ms_mean"], output.values["latency_ms_max"]) == ("n/a", "n/a")
    assert output.values["hint_pixels_percent_last"] == "n/a"


def test_each_status_shows_the_worst_active_problem_of_its_categories():
    problems = {"sync": Problem("stamp went backwards", Level.WARN, 1, 10.0),
                "input": Problem("unsupported encoding 'yuv422'", Level.ERROR, 3, 5.0),
                "lidar": Problem("cloud too old", Level.WARN, 1, 20.0),
                "calibration": Problem("camera_info rejected (RotationError: ...)", Level.WARN, 2, 7.0)}
    last = problems["lidar"]
    input_report, output, _, calibration = node_reports(_window(problems=problems, last_error=last), STATE)
    assert (input_report.level, input_report.message) == (Level.ERROR, "unsupported encoding 'yuv422'")
    assert (output.level, output.message) == (Level.OK, "processing OK")
    assert output.values["last_error"] == "cloud too old"
    assert calibration.level == Level.WARN and "RotationError" in calibration.message


def test_no_calibration_yet_is_a_warning():
    calibration = node_reports(_window(), replace(STATE, calibration_in_use=False))[3]
    assert (calibration.level, calibration.message) == (Level.WARN, "no stereo pair processed yet")


def test_qos_events_show_on_the_input_and_output_statuses():
    problems = {INPUT_QOS_CATEGORY: Problem("a publisher of /left/image_raw offers a QoS incompatible", Level.WARN, 1,
                                            3.0),
                OUTPUT_QOS_CATEGORY: Problem("a subscriber of /disparity requests a QoS", Level.WARN, 1, 4.0)}
    input_report, output, _, _ = node_reports(_window(problems=problems), STATE)
    assert (input_report.level, input_report.message) == (Level.WARN, problems[INPUT_QOS_CATEGORY].message)
    assert (output.level, output.message) == (Level.WARN, problems[OUTPUT_QOS_CATEGORY].message)
