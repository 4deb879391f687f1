"""training.checkpoints: weights-only loading refuses pickled objects unrun; worse adaptations are not exported."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from stereo_depth_ros.training.checkpoints import adaptation_regressions, check_exportable, load_checkpoint_state
from stereo_depth_ros.training.entry_points import export_main, train_main
from stereo_depth_ros.training.errors import CheckpointError, ExportRefusedError
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "checkpoints" / "stereo_net.pt"


class _Payload:
    """Unpickling it would create the file ``path`` (as a malicious checkpoint would run code)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def _evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    model = StereoNetConfig(max_disparity=32)
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    torch.save({"model": StereoNet(model).state_dict(), "step": 1, "metrics": {},
                "config": {"model": asdict(model), "note": _Payload(str(marker))}}, path)
    return path, marker


def test_a_checkpoint_carrying_a_pickled_object_is_refused_and_its_code_never_runs(tmp_path):
    path, marker = _evil_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"refused: the checkpoint holds a pickled object \(.*open.*\)") as info:
        load_checkpoint_state(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_export_and_train_refuse_it_with_one_line_and_code_5(tmp_path, capsys):
    path, marker = _evil_checkpoint(tmp_path)
    assert export_main([str(path), "--out-dir", str(tmp_path / "out")]) == 5
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"stereo_depth_export: error: {path}: refused")
    assert train_main(["--run-dir", str(tmp_path / "run"), "--steps", "1", "--init-from", str(path),
                       "--eval-every", "0", "--num-workers", "0"]) == 5
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_the_bundled_checkpoint_is_plain_data():
    state = load_checkpoint_state(BUNDLED)
    assert StereoNetConfig(**state["config"]["model"]) == StereoNetConfig(**state["config"]["model"])
    assert state["step"] > 0 and all(isinstance(value, float) for value in state["metrics"].values())


@pytest.mark.parametrize("content, message", [(b"", "not a readable PyTorch checkpoint"),
                                               (b"junk" * 10, "not a readable PyTorch checkpoint")])
def test_an_unreadable_file_is_a_checkpoint_error(tmp_path, content, message):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint_state(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint_state(tmp_path / "missing.pt")


def test_a_plain_file_that_is_not_a_checkpoint_is_named(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"not a StereoNet checkpoint .*\['weights'\]"):
        load_checkpoint_state(tmp_path / "other.pt")


def test_export_is_refused_only_for_adaptations_that_got_worse():
    worse = {"metrics": {"regressions": ["held-out frames: bad-2 % with hints 13.55 -> 89.99"]}}
    assert adaptation_regressions(worse) == ["held-out frames: bad-2 % with hints 13.55 -> 89.99"]
    with pytest.raises(ExportRefusedError, match=r"last\.pt: not exported: .*13\.55 -> 89\.99.*--export-anyway"):
        check_exportable(worse, "last.pt", export_anyway=False)
    assert check_exportable(worse, "last.pt", export_anyway=True) == [
        "last.pt: exported although adaptation made the model worse than its start "
        "(held-out frames: bad-2 % with hints 13.55 -> 89.99)"]
    for fine in ({"metrics": {"regressions": []}}, {"metrics": {"held_out_bad2": 20.6}}, {}):
        assert check_exportable(fine, "last.pt", export_anyway=False) == []
