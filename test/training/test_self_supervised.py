"""Self-supervised losses: the warp on a known shift, photometric minimum at the true disparity, smoothness."""

import pytest
import torch

from stereo_depth_ros.training.self_supervised import (
    SelfSupervisedWeights,
    edge_aware_smoothness,
    photometric_error,
    photometric_loss,
    reconstruct_left,
    self_supervised_loss,
    sparse_hint_loss,
)

HEIGHT, WIDTH, SHIFT_PX = 40, 72, 6     # non-square, so a transposed warp fails


def _texture(seed: int = 0) -> torch.Tensor:
    """(1, 3, H, W + SHIFT) smooth random texture in [0, 1] (blurred noise: bilinear sampling is meaningful)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, HEIGHT, WIDTH + SHIFT_PX, generator=generator)
    return torch.nn.functional.avg_pool2d(noise, 3, 1, 1, count_include_pad=False)


def _shifted_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A rectified pair with d = x_left - x_right = SHIFT_PX everywhere: right(x) = left(x + SHIFT_PX)."""
    scene = _texture()
    left = scene[..., :WIDTH]
    right = scene[..., SHIFT_PX:SHIFT_PX + WIDTH]
    return left.contiguous(), right.contiguous()


def test_warping_the_shifted_right_image_with_the_true_disparity_reproduces_the_left_one():
    left, right = _shifted_pair()
    disparity = torch.full((1, 1, HEIGHT, WIDTH), float(SHIFT_PX))
    warped, in_image = reconstruct_left(right, disparity)
    assert not in_image[..., :SHIFT_PX].any()          # x - d < 0: the match left the image
    assert in_image[..., SHIFT_PX:].all()
    torch.testing.assert_close(warped[..., SHIFT_PX:], left[..., SHIFT_PX:], atol=1e-5, rtol=0)


def test_reconstruction_samples_between_pixels_for_a_fractional_disparity():
    right = torch.arange(10.0).view(1, 1, 1, 10).repeat(1, 1, 3, 1)
    warped, in_image = reconstruct_left(right, torch.full((1, 1, 3, 10), 2.5))
    torch.testing.assert_close(warped[0, 0, 1, 3:], torch.arange(0.5, 7.5))
    assert in_image[0, 0, 1].tolist() == [False] * 3 + [True] * 7


@pytest.mark.parametrize("auto_mask", [True, False])
def test_photometric_loss_is_lowest_at_the_true_disparity(auto_mask):
    left, right = _shifted_pair()

    def loss_at(disparity_px: float) -> float:
        disparity = torch.full((1, 1, HEIGHT, WIDTH), disparity_px)
        return photometric_loss(left, right, disparity, auto_mask=auto_mask)[0].item()

    true_loss = loss_at(SHIFT_PX)
    assert true_loss < 1e-4
    assert true_loss < loss_at(SHIFT_PX - 2) and true_loss < loss_at(SHIFT_PX + 2)


def test_auto_mask_drops_pixels_the_unwarped_right_image_explains_as_well():
    flat = torch.full((1, 3, HEIGHT, WIDTH), 0.5)       # textureless: any disparity reconstructs it
    loss, used = photometric_loss(flat, flat, torch.full((1, 1, HEIGHT, WIDTH), 3.0))
    assert loss.item() == 0.0 and not used.any()
    left, right = _shifted_pair()
    _, used = photometric_loss(left, right, torch.full((1, 1, HEIGHT, WIDTH), float(SHIFT_PX)))
    assert not used[..., :SHIFT_PX + 1].any()             # match outside, or next to a pixel whose match is
    assert used[..., SHIFT_PX + 1:].float().mean() > 0.95


def test_photometric_error_is_zero_for_identical_images_and_bounded_by_one():
    left, _ = _shifted_pair()
    assert photometric_error(left, left).abs().max().item() < 1e-6
    error = photometric_error(torch.zeros_like(left), torch.ones_like(left))
    assert error.shape == (1, 1, HEIGHT, WIDTH) and error.max().item() <= 1.0


def test_a_gradient_flows_to_the_disparity():
    left, right = _shifted_pair()
    disparity = torch.full((1, 1, HEIGHT, WIDTH), SHIFT_PX - 1.5, requires_grad=True)
    photometric_loss(left, right, disparity, auto_mask=False)[0].backward()
    assert disparity.grad is not None and disparity.grad[..., SHIFT_PX + 2:].mean() < 0   # increasing d helps


def test_smoothness_is_zero_for_constant_disparity_and_larger_for_noise():
    image = _texture()[..., :WIDTH]
    constant = torch.full((1, 1, HEIGHT, WIDTH), 17.0)
    noisy = constant + torch.randn(1, 1, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(1))
    assert edge_aware_smoothness(constant, image).item() == 0.0
    assert edge_aware_smoothness(noisy, image).item() > 0.01


def test_smoothness_ignores_the_disparity_scale_and_forgives_steps_at_image_edges():
    step = torch.zeros(1, 1, HEIGHT, WIDTH)
    step[..., WIDTH // 2:] = 1.0
    disparity = 10.0 + 5.0 * step
    flat_image = torch.full((1, 3, HEIGHT, WIDTH), 0.5)
    edge_image = flat_image + 0.5 * step
    torch.testing.assert_close(edge_aware_smoothness(disparity, flat_image),
                               edge_aware_smoothness(3.0 * disparity, flat_image))
    assert edge_aware_smoothness(disparity, edge_image) < 0.7 * edge_aware_smoothness(disparity, flat_image)


def test_smoothness_of_an_all_zero_disparity_is_finite():
    assert torch.isfinite(edge_aware_smoothness(torch.zeros(1, 1, 8, 8), torch.rand(1, 3, 8, 8)))


def test_hint_loss_uses_only_pixels_with_a_target():
    prediction = torch.full((1, 1, 8, 12), 5.0)
    hints = torch.full((1, 1, 8, 12), float("nan"))
    assert sparse_hint_loss(prediction, hints).item() == 0.0
    hints[0, 0, 2, 3] = 5.0
    assert sparse_hint_loss(prediction, hints).item() == 0.0
    hints[0, 0, 4, 7] = 9.0                                # 4 px off: smooth-L1 = 3.5, mean over 2 = 1.75
    assert sparse_hint_loss(prediction, hints).item() == pytest.approx(1.75)


def test_shapes_are_checked_with_the_offending_shape_in_the_message():
    _, right = _shifted_pair()
    with pytest.raises(ValueError, match=r"\(1, 1, 40, 71\)"):
        reconstruct_left(right, torch.zeros(1, 1, HEIGHT, WIDTH - 1))


def test_the_weighted_objective_sums_its_terms():
    left, right = _shifted_pair()
    disparity = torch.full((1, 1, HEIGHT, WIDTH), float(SHIFT_PX)) + 0.1 * torch.rand(1, 1, HEIGHT, WIDTH)
    hints = torch.full((1, 1, HEIGHT, WIDTH), float("nan"))
    hints[..., ::5, ::5] = float(SHIFT_PX)
    weights = SelfSupervisedWeights(photometric=1.0, smoothness=0.5, hints=0.25)
    terms = self_supervised_loss({"disparity": disparity}, left, right, hints, weights)
    expected = terms["photometric"] + 0.5 * terms["smoothness"] + 0.25 * terms["hints"]
    torch.testing.assert_close(terms["total"], expected)
    assert 0.0 <= terms["unused"].item() <= 1.0
