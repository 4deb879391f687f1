"""The moving average of the weights: its recurrence, its warm-up, resuming it (a whole run: test_train.py)."""

import pytest
import torch

from stereo_depth_ros.training.averaging import WeightAverage
from stereo_depth_ros.training.checkpoints import deployable_weights


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_the_average_is_the_mean_of_what_it_saw_then_an_exponential_average() -> None:
    net = _net()
    average = WeightAverage(net, 0.9, since_step=7)
    expected = net[0].weight.detach().clone()
    for update in range(1, 40):
        with torch.no_grad():
            net[0].weight.add_(1.0)
        average.update(net)
        rate = min(0.9, update / (update + 1))
        expected = rate * expected + (1 - rate) * net[0].weight.detach()
    torch.testing.assert_close(average.weights["0.weight"], expected)
    assert average.weights["1.num_batches_tracked"].dtype == torch.int64   # copied, not averaged
    assert (average.updates, average.since_step) == (39, 7)


def test_a_resumed_average_goes_on_as_if_never_stopped() -> None:
    straight, resumed = _net(), _net()
    straight_average = WeightAverage(straight, 0.99, since_step=0)
    average = WeightAverage(resumed, 0.99, since_step=0)
    for step in range(6):
        for net in (straight, resumed):
            with torch.no_grad():
                net[0].weight.mul_(1.1)
        straight_average.update(straight)
        average.update(resumed)
        if step == 2:   # a checkpoint, a new process
            average = WeightAverage(resumed, 0.99, since_step=99, saved=average.state())
    torch.testing.assert_close(average.weights["0.weight"], straight_average.weights["0.weight"])
    assert (average.updates, average.since_step) == (6, 0)
    with pytest.raises(ValueError, match="--average-decay 0.99"):
        WeightAverage(resumed, 0.999, since_step=0, saved=average.state())


def test_without_an_average_the_deployable_weights_are_the_model() -> None:
    state = {"model": {"w": torch.ones(2)}, "config": {}}
    assert deployable_weights(state)["w"] is state["model"]["w"]


def test_before_its_horizon_the_average_is_the_plain_mean() -> None:
    net = _net()
    seen = [net[0].weight.detach().clone()]
    average = WeightAverage(net, 0.999, since_step=0)
    for _ in range(5):
        with torch.no_grad():
            net[0].weight.add_(torch.randn_like(net[0].weight))
        seen.append(net[0].weight.detach().clone())
        average.update(net)
    torch.testing.assert_close(average.weights["0.weight"], torch.stack(seen).mean(0))
