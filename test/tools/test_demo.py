"""stereo_depth_demo: bags, previews and a scored summary for onnx and sgbm, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stereo_depth_ros.ros.bag_io import BagReader
from stereo_depth_ros.tools.demo import main


def test_demo_writes_bags_previews_and_a_summary_for_both_backends(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "demo_output"
    assert main(["--output", str(output), "--synthetic-frames", "2"]) == 0
    table = capsys.readouterr().out
    assert "dataset     backend  frames  bad-2 %  EPE px  density %  ms/frame" in table
    rows = {(row["dataset"], row["backend"]): row for row in json.loads((output / "summary.json").read_text())}
    assert set(rows) == {("motorcycle", "onnx"), ("synthetic", "onnx"), ("motorcycle", "sgbm"), ("synthetic", "sgbm")}
    assert rows[("synthetic", "onnx")]["frames"] == 2 and rows[("motorcycle", "onnx")]["note"] == ""
    # SGBM on Motorcycle measured 15.1 % bad-2, 0.81 px EPE, 89 % density (deterministic).
    assert rows[("motorcycle", "sgbm")]["bad2_percent"] < 20.0
    assert rows[("motorcycle", "sgbm")]["density_percent"] > 80.0
    for (dataset, backend), row in rows.items():
        with BagReader(row["output"]) as reader:
            assert reader.topics["/disparity"].message_count == row["frames"]
        assert (output / "previews" / f"{dataset}_{backend}" / "frame_00000_depth.png").is_file()
    assert (output / "previews" / "motorcycle_ground_truth_disparity.png").is_file()
    # A second run replaces the first.
    assert main(["--output", str(output), "--synthetic-frames", "1", "--backends", "sgbm"]) == 0
    assert len(json.loads((output / "summary.json").read_text())) == 2
