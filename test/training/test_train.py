"""Few-step training lowers the loss; runs resume; export matches PyTorch."""

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from stereo_depth_ros.backends.contract import read_onnx_contract
from stereo_depth_ros.core.synthetic import SceneConfig
from stereo_depth_ros.pipeline.classical_hints import ClassicalHintConfig
from stereo_depth_ros.training import export
from stereo_depth_ros.training.checkpoints import deployable_weights
from stereo_depth_ros.training.dataset import AugmentConfig, DataConfig, SyntheticStereoDataset
from stereo_depth_ros.training.errors import ExportMismatchError
from stereo_depth_ros.training.export import AGREEMENT_SHARE, agrees_with_pytorch, export_onnx, load_checkpoint
from stereo_depth_ros.training.losses import masked_smooth_l1, stereo_loss, two_hot_cross_entropy
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig
from stereo_depth_ros.training.train import TrainConfig, initial_model_config, train

TINY = TrainConfig(
    steps=4, batch_size=2, warmup_steps=1,
    model=StereoNetConfig(max_disparity=32),
    data=DataConfig(num_scenes=3, scene=SceneConfig(height=96, width=192, max_disparity_px=24, max_layers=6),
                    augment=AugmentConfig(crop_height=64, crop_width=128, scale_range=(0.9, 1.0)),
                    hints=ClassicalHintConfig(max_disparity_px=32)))


def _batch(config: TrainConfig, cache: Path) -> dict[str, torch.Tensor]:
    dataset = SyntheticStereoDataset(config.data, config.model.max_disparity, cache)
    samples = [dataset[i] for i in range(config.batch_size)]
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}


@pytest.mark.parametrize("coarsest_level", [16, 32])
def test_a_few_steps_on_one_batch_lower_the_loss(tmp_path, coarsest_level):
    torch.manual_seed(0)
    net = StereoNet(StereoNetConfig(max_disparity=32, coarsest_level=coarsest_level))
    batch = _batch(TINY, tmp_path)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        out = net(batch["left"], batch["right"], batch["hint_disparity"], batch["hint_mask"])
        loss = stereo_loss(out, batch["disparity"])["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_the_smooth_l1_averages_the_known_pixels_only_and_unknown_ones_get_no_gradient():
    torch.manual_seed(0)
    prediction = (10.0 * torch.rand(2, 1, 8, 12)).requires_grad_()
    target = 10.0 * torch.rand(2, 1, 8, 12)
    target[:, :, ::3] = float("nan")
    known = torch.isfinite(target)
    loss = masked_smooth_l1(prediction, target)
    torch.testing.assert_close(loss, F.smooth_l1_loss(prediction[known], target[known]))
    loss.backward()
    assert torch.all(prediction.grad[~known] == 0.0) and torch.all(prediction.grad[known] != 0.0)
    nothing_known = masked_smooth_l1(prediction, torch.full_like(target, float("nan")))
    assert nothing_known.item() == 0.0 and nothing_known.requires_grad


def test_two_hot_cross_entropy_is_lowest_at_the_true_fractional_bin():
    target = torch.full((1, 1, 1, 1), 2.25)
    peaked = torch.full((1, 8, 1, 1), -10.0)
    peaked[0, 2], peaked[0, 3] = np.log(0.75), np.log(0.25)
    wrong = torch.roll(peaked, 3, dims=1)
    assert two_hot_cross_entropy(peaked, target) < two_hot_cross_entropy(wrong, target)
    nan_target = torch.full((1, 1, 1, 1), float("nan"))
    assert two_hot_cross_entropy(peaked, nan_target) == 0.0


def test_an_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    interrupted = tmp_path / "interrupted"
    train(TINY, interrupted, num_workers=0, eval_every=0, cache_root=tmp_path, max_minutes=0.0)
    assert torch.load(interrupted / "last.pt", weights_only=True)["step"] == 1
    train(TINY, interrupted, num_workers=0, eval_every=0, cache_root=tmp_path)
    straight = train(TINY, tmp_path / "straight", num_workers=0, eval_every=0, cache_root=tmp_path)
    resumed_state = torch.load(interrupted / "last.pt", weights_only=True)
    straight_state = torch.load(straight, weights_only=True)
    assert resumed_state["step"] == straight_state["step"] == TINY.steps
    for name, value in straight_state["model"].items():
        assert torch.allclose(resumed_state["model"][name].float(), value.float(), atol=1e-4), name


def test_a_run_with_an_average_resumes_it_and_exports_it(tmp_path) -> None:
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    train(TINY, interrupted, num_workers=0, eval_every=0, cache_root=tmp_path, max_minutes=0.0, average_decay=0.9)
    train(TINY, interrupted, num_workers=0, eval_every=0, cache_root=tmp_path, average_decay=0.9)
    train(TINY, straight, num_workers=0, eval_every=0, cache_root=tmp_path, average_decay=0.9)
    resumed_state = torch.load(interrupted / "last.pt", weights_only=True)
    straight_state = torch.load(straight / "last.pt", weights_only=True)
    assert resumed_state["average"]["updates"] == straight_state["average"]["updates"] == TINY.steps
    for name, value in straight_state["average"]["weights"].items():
        assert torch.allclose(resumed_state["average"]["weights"][name].float(), value.float(), atol=1e-4), name
    assert any(not torch.equal(straight_state["average"]["weights"][name], value)
               for name, value in straight_state["model"].items() if value.is_floating_point())
    net, _ = load_checkpoint(straight / "last.pt")   # export and --init-from read the average
    for name, value in net.state_dict().items():
        torch.testing.assert_close(value, deployable_weights(straight_state)[name])
        torch.testing.assert_close(value, straight_state["average"]["weights"][name])


def test_resuming_with_another_configuration_is_refused(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**{**TINY.__dict__, "steps": 2}), run, num_workers=0, eval_every=0, cache_root=tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        train(TINY, run, num_workers=0, eval_every=0, cache_root=tmp_path)


def test_a_run_written_before_a_model_field_existed_resumes(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**{**TINY.__dict__, "steps": 2}), run, num_workers=0, eval_every=0, cache_root=tmp_path)
    state = torch.load(run / "last.pt", weights_only=True)
    del state["config"]["model"]["coarsest_level"]      # as stages 1-4 wrote it
    state["config"]["steps"] = TINY.steps
    torch.save(state, run / "last.pt")
    resumed = torch.load(train(TINY, run, num_workers=0, eval_every=0, cache_root=tmp_path), weights_only=True)
    assert resumed["step"] == TINY.steps


def test_a_continuation_run_starts_from_the_given_weights(tmp_path):
    first = train(TINY, tmp_path / "first", num_workers=0, eval_every=0, cache_root=tmp_path)
    frozen = TrainConfig(**{**TINY.__dict__, "learning_rate": 0.0, "init_from": str(first),
                            "first_sample": TINY.steps * TINY.batch_size})
    second = train(frozen, tmp_path / "second", num_workers=0, eval_every=0, cache_root=tmp_path)
    first_state, second_state = (torch.load(path, weights_only=True) for path in (first, second))
    assert second_state["config"]["init_from"] == str(first)
    learnable = [name for name, _ in StereoNet(TINY.model).named_parameters()]  # batch-norm statistics still move
    for name in learnable:
        assert torch.equal(second_state["model"][name], first_state["model"][name]), name


def test_training_to_the_end_writes_checkpoint_and_log(tmp_path):
    path = train(TINY, tmp_path / "run", num_workers=0, eval_every=0, log_every=1, cache_root=tmp_path)
    state = torch.load(path, weights_only=True)
    assert state["step"] == TINY.steps
    assert state["config"]["model"]["max_disparity"] == 32
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert all(np.isfinite(line["total"]) for line in lines)
    assert all(0.0 <= line["loader_wait_fraction"] <= 1.0 for line in lines)   # the share of time spent waiting


@pytest.mark.parametrize("model", [TINY.model, StereoNetConfig(max_disparity=32, hint_pooling="mean"),
                                   StereoNetConfig(max_disparity=32, coarsest_level=32)],
                         ids=["max-hint-pooling", "mean-hint-pooling", "1/32-level"])
def test_export_follows_the_contract_and_matches_pytorch(tmp_path, model):
    config = TrainConfig(**{**TINY.__dict__, "model": model})
    path = train(config, tmp_path / "run", num_workers=0, eval_every=0, cache_root=tmp_path)
    net, _ = load_checkpoint(path)
    onnx_path = tmp_path / "net.onnx"
    report = export_onnx(net, 128, 96, onnx_path, "test")   # raises unless ONNX Runtime agrees with PyTorch
    assert report["fraction_within_1e-3_px"] > AGREEMENT_SHARE
    metadata, _, _ = read_onnx_contract(onnx_path)      # raises unless the contract holds
    assert metadata.input_hw == (96, 128)
    assert metadata.max_disparity_px == 32
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [tuple(i.shape) for i in session.get_inputs()][0] == (1, 3, 96, 128)   # one pair per run: N fixed at 1
    zeros = np.zeros((1, 1, 96, 128), np.float32)
    left, right = np.random.default_rng(0).random((2, 1, 3, 96, 128), dtype=np.float32)
    feeds = {"left": left, "right": right, "hint_disparity": zeros, "hint_mask": zeros,
             "right_view": np.ones(1, np.float32)}
    disparity, confidence, disparity_right = session.run(["disparity", "confidence", "disparity_right"], feeds)
    assert disparity.shape == confidence.shape == disparity_right.shape == (1, 1, 96, 128)
    assert np.all(disparity >= 0) and np.all(disparity_right >= 0) and np.all((confidence >= 0) & (confidence <= 1))
    with torch.no_grad():
        torch_right = net(*(torch.from_numpy(feeds[name]) for name in ("left", "right", "hint_disparity",
                                                                          "hint_mask")), right_batch=1)
    right_error = np.abs(disparity_right - torch_right["disparity_right"].numpy())   # other images than the export's
    assert agrees_with_pytorch(right_error) and right_error.max() < 0.05
    left_only = session.run(["disparity", "disparity_right"], {**feeds, "right_view": np.ones(0, np.float32)})
    np.testing.assert_array_equal(left_only[0], disparity)
    assert left_only[1].shape == (0, 1, 96, 128)


def test_an_export_that_disagrees_with_pytorch_fails_and_leaves_no_file(tmp_path, monkeypatch):
    net, _ = load_checkpoint(train(TINY, tmp_path / "run", num_workers=0, eval_every=0, cache_root=tmp_path))
    monkeypatch.setattr(export, "AGREEMENT_SHARE", 1.0)   # no share of the pixels can exceed all of them
    with pytest.raises(ExportMismatchError, match=r"net.onnx: ONNX Runtime's disparities differ from PyTorch's"):
        export_onnx(net, 128, 96, tmp_path / "net.onnx", "test")
    assert not (tmp_path / "net.onnx").exists()


def test_a_run_started_from_a_checkpoint_takes_its_architecture_unless_told() -> None:
    checkpoints = Path(__file__).resolve().parents[2] / "models" / "checkpoints"
    assert initial_model_config(str(checkpoints / "stereo_net.pt")).coarsest_level == 32           # bundled: 5g
    assert initial_model_config(str(checkpoints / "stereo_net_stage4.pt")).coarsest_level == 16    # predates it
    assert initial_model_config(None).coarsest_level == 16
    assert initial_model_config(str(checkpoints / "stereo_net_stage3.pt")).hint_pooling == "mean"  # stage 3's
    told = initial_model_config(str(checkpoints / "stereo_net_stage4.pt"), coarsest_level=32, hint_pooling=None)
    assert (told.coarsest_level, told.hint_pooling) == (32, "max")                              # stage 5g's start
