"""stereo_depth_adapt: a tiny run on a synthetic bag lowers the loss and exports; bad input exits clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from adapt_bags import FRAMES, bag_with_bad_calibration, bag_with_clouds

from stereo_depth_ros.tools.adapt import main
from stereo_depth_ros.tools.errors import EXIT_CODES
from stereo_depth_ros.training.entry_points import export_main
from stereo_depth_ros.training.export import export_onnx, load_checkpoint


def _args(bag: Path, run_dir: Path, init: Path, *extra: str) -> list[str]:
    return [str(bag), "--run-dir", str(run_dir), "--init-from", str(init), "--crop", "256x128", "--batch-size", "2",
            "--learning-rate", "1e-3", "--eval-frames", "4", "--threads", "1", *extra]


def test_a_tiny_run_lowers_the_loss_on_its_frames_and_exports(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(_args(synthetic_bag, run_dir, tiny_checkpoint, "--steps", "30")) == EXIT_CODES["ok"]
    printed = capsys.readouterr().out
    assert "4 frame(s) of 4 pairs" in printed and "ground truth (4 frame(s))" in printed
    state = torch.load(run_dir / "last.pt", weights_only=True)  # plain data: loads without pickled objects
    assert state["step"] == 30
    assert set(state) >= {"model", "optimizer", "step", "config", "metrics"}
    before, after = state["metrics"]["before"]["train"], state["metrics"]["after"]["train"]
    assert after["loss"] < 0.8 * before["loss"]
    assert state["metrics"]["before"]["held_out"] == {}           # 4 frames: none of every 10th held out
    for metrics in (before, after):
        assert np.isfinite([metrics["bad2_no_hints"], metrics["epe_no_hints"], metrics["bad2_classical_hints"],
                            metrics["epe_classical_hints"]]).all()
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [entry["eval"] for entry in log if "eval" in entry] == ["before", "after"]
    assert [entry["step"] for entry in log if "eval" not in entry] == [10, 20, 30]
    net, _ = load_checkpoint(run_dir / "last.pt")                  # as stereo_depth_export loads it
    export_onnx(net, 128, 96, tmp_path / "adapted.onnx", "adapted")   # raises unless ONNX Runtime agrees


def test_an_interrupted_run_resumes_with_the_same_command(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    args = _args(synthetic_bag, tmp_path / "run", tiny_checkpoint, "--steps", "3", "--holdout-every", "2")
    assert main([*args, "--max-minutes", "0"]) == EXIT_CODES["ok"]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 1
    assert main(args) == EXIT_CODES["ok"]
    printed = capsys.readouterr().out
    assert "resumed at step 1" in printed and "2 for training, 2 held out" in printed
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 3 and state["metrics"]["after"]["held_out"]["frames"] == 2
    other = _args(synthetic_bag, tmp_path / "run", tiny_checkpoint, "--steps", "4", "--holdout-every", "2")
    assert main(other) == EXIT_CODES["usage"]
    assert "another configuration" in capsys.readouterr().err


def test_the_lidar_options_reach_the_run_and_its_summary(synthetic_bag, tiny_checkpoint, tmp_path, capsys):
    bag = tmp_path / "bag"
    bag_with_clouds(bag, synthetic_bag, stale_frame=3)
    args = _args(bag, tmp_path / "run", tiny_checkpoint, "--steps", "1", "--lidar-topic", "points",
                 "--lidar_stamp_tolerance_s", "0.5")
    assert main(args) == EXIT_CODES["ok"]
    assert "LiDAR hints from /points: 4 frame(s)" in capsys.readouterr().out  # 0.3 s late is within 0.5 s
    source = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]["source"]
    assert (source["lidar_topic"], source["lidar_stamp_tolerance_s"]) == ("points", 0.5)
    assert main(_args(bag, tmp_path / "bad", tiny_checkpoint, "--lidar-topic", "nope")) == EXIT_CODES["missing_input"]
    assert "/nope" in capsys.readouterr().err


def test_a_bag_whose_every_frame_has_a_bad_calibration_exits_with_bad_input(tmp_path, tiny_checkpoint, capsys):
    bag_with_bad_calibration(tmp_path / "bag", set(range(FRAMES)))
    code = main(_args(tmp_path / "bag", tmp_path / "run", tiny_checkpoint, "--steps", "1"))
    assert code == EXIT_CODES["bad_input"]
    error = capsys.readouterr().err
    assert "none of the 4 stereo pairs could be used" in error and "left/camera_info: K[0,0] (fx)" in error


@pytest.mark.parametrize("make", [
    pytest.param(lambda path: path, id="missing"),
    pytest.param(lambda path: (path.with_suffix(".db3").write_bytes(b"not a bag" * 100), path.with_suffix(".db3"))[1],
                 id="garbage-db3"),
])
def test_an_unreadable_bag_exits_with_one_line_and_code_3(tmp_path, tiny_checkpoint, capsys, make):
    bag = make(tmp_path / "bag")
    assert main(_args(bag, tmp_path / "run", tiny_checkpoint)) == EXIT_CODES["bag_unreadable"]
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("stereo_depth_adapt: error:") and str(bag) in error[0]


def test_a_missing_checkpoint_or_a_bad_crop_is_a_usage_error(synthetic_bag, tmp_path, capsys):
    assert main([str(synthetic_bag), "--init-from", str(tmp_path / "none.pt")]) == EXIT_CODES["usage"]
    assert "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(synthetic_bag), "--crop", "500x256"])
    assert exit_info.value.code == EXIT_CODES["usage"]


def test_a_run_that_makes_the_model_worse_says_so_and_its_export_is_refused(synthetic_bag, tiny_checkpoint,
                                                                             tmp_path, capsys):
    run_dir = tmp_path / "run"
    # Three steps at a learning rate 300x the default wreck the tiny network; 2 of the 4 frames are held out.
    args = _args(synthetic_bag, run_dir, tiny_checkpoint, "--steps", "3", "--holdout-every", "2")
    args[args.index("--learning-rate") + 1] = "0.3"
    assert main(args) == EXIT_CODES["ok"]
    captured = capsys.readouterr()
    assert "worse than at the start: held-out frames: bad-2 % with hints" in captured.out
    assert "stereo_depth_export refuses" in captured.err and "--export-anyway" in captured.err
    metrics = torch.load(run_dir / "last.pt", weights_only=True)["metrics"]
    assert metrics["checked_split"] == "held_out"
    held_before, held_after = metrics["before"]["held_out"], metrics["after"]["held_out"]
    assert held_after["bad2_classical_hints"] > held_before["bad2_classical_hints"]
    assert any(line.startswith("held-out frames: bad-2 % with hints") for line in metrics["regressions"])

    out_dir = tmp_path / "models"
    export = [str(run_dir / "last.pt"), "--sizes", "128x96", "--out-dir", str(out_dir)]
    assert export_main(export) == 5
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("stereo_depth_export: error:") and "--export-anyway" in error[0]
    assert not (out_dir / "stereo_net_128x96.onnx").exists()
    assert export_main([*export, "--export-anyway"]) == 0
    assert "exported although adaptation made the model worse" in capsys.readouterr().err
    assert (out_dir / "stereo_net_128x96.onnx").is_file()


def test_an_init_checkpoint_carrying_a_pickled_object_is_refused_unrun(synthetic_bag, tmp_path, capsys):
    marker = tmp_path / "ran"
    torch.save({"model": {}, "config": {"model": {}}, "payload": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert main(_args(synthetic_bag, tmp_path / "run", tmp_path / "evil.pt")) == EXIT_CODES["bad_input"]
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "refused" in error[0] and "pickled object" in error[0]
    assert not marker.exists()


class _Payload:
    """Unpickling it would create the file ``path`` (as a malicious checkpoint would run code)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))
