"""StereoNet's pieces: the one-pass right view, hint pooling and moving, the gather warp."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stereo_depth_ros.core.consistency import left_right_check
from stereo_depth_ros.training import model as network
from stereo_depth_ros.training.model import (
    StereoNet,
    StereoNetConfig,
    downsample_hints,
    hints_in_right_view,
    load_initial_weights,
    right_view_logits,
    sample_rows,
    warp_right_to_left,
)

BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "checkpoints" / "stereo_net.pt"


def _perturbed(config: StereoNetConfig, seed: int = 0) -> StereoNet:
    """An untrained net with non-trivial batch-norm statistics (eval mode)."""
    torch.manual_seed(seed)
    net = StereoNet(config)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _bundled() -> StereoNet:
    state = torch.load(BUNDLED_CHECKPOINT, map_location="cpu", weights_only=True)
    net = StereoNet(StereoNetConfig(**state["config"]["model"]))
    net.load_state_dict(state["model"])
    return net.eval()


def _mirror(x: torch.Tensor) -> torch.Tensor:
    return torch.flip(x, dims=[3])


def test_right_view_logits_read_the_left_volume_at_x_plus_k() -> None:
    logits = torch.randn(1, 5, 2, 9)
    right = right_view_logits(logits, fill=-99.0)
    for k in range(5):
        for x in range(9):
            expected = logits[0, k, :, x + k] if x + k < 9 else torch.full((2,), -99.0)
            assert torch.equal(right[0, k, :, x], expected), (k, x)


def test_the_right_view_equals_the_left_view_refinement_of_the_mirrored_pair() -> None:
    """No tensor is flipped at run time: flipped kernels and x + d sampling (in the refinement and the
    line-fit step) do the mirror's work."""
    net = _perturbed(StereoNetConfig(max_disparity=64))
    left = torch.rand(1, 3, 64, 96)
    right = torch.roll(left, -5, dims=3)
    hints = torch.zeros(1, 1, 64, 96)
    mask = torch.zeros(1, 1, 64, 96)
    hints[0, 0, 20:40:3, 30:70:4], mask[0, 0, 20:40:3, 30:70:4] = 5.0, 1.0
    with torch.no_grad():
        out = net(left, right, hints, mask, right_batch=1)
        detail, _, _ = net.tower((torch.cat([left, right]) - net.rgb_mean) / net.rgb_std)
        scores = network.log_probabilities(out["logits4"], net.bin_values)   # per left pixel
        disparity4, confidence4 = network.window_soft_argmin(right_view_logits(scores), net.bin_values,
                                                             net.config.window_radius_bins)
        hint2, mask2 = hints_in_right_view(*downsample_hints(hints, mask, 2, net.config.hint_pooling))
        refined = net.refinement(_mirror(2.0 * network._upsample2(disparity4)), _mirror(detail[1:]),
                                 _mirror(detail[:1]), _mirror(hint2), _mirror(mask2),
                                 _mirror(network._upsample2(confidence4)))
        edges_left, edges_right = (network.horizontal_gradient(view) for view in (left, right))
        mirrored_reference = _mirror(network.subpixel_line_fit(_mirror(edges_right), _mirror(edges_left),
                                                               2.0 * network._upsample2(refined),
                                                               net.config.subpixel_radius_px))
    # the line fit divides by a small cost rise, which lifts float rounding to about 1e-3 px
    np.testing.assert_allclose(out["disparity_right"].numpy(), mirrored_reference.numpy(), atol=3e-3)


def test_log_probabilities_are_the_log_softmax_over_the_bins() -> None:
    logits = 10.0 * torch.randn(2, 7, 3, 5)
    torch.testing.assert_close(network.log_probabilities(logits, torch.arange(7.0)), torch.log_softmax(logits, dim=1))


def test_the_right_view_weighs_what_left_pixels_believe_not_how_loud_their_scores_are() -> None:
    """Raising every score of some left pixels by a constant (what a hint bump does to their scale)
    leaves the right view unchanged: each left pixel's scores are log-probabilities before re-indexing."""
    net = _perturbed(StereoNetConfig(max_disparity=64, subpixel_radius_px=0))   # the volume's property
    torch.manual_seed(0)
    logits4 = torch.randn(1, net.num_bins, 16, 24)
    loudness = 20.0 * (torch.rand(1, 1, 16, 24) > 0.7)                # 30 % of the left pixels shout
    detail_right, detail_left = torch.randn(1, 24, 32, 48), torch.randn(1, 24, 32, 48)
    hint2, mask2 = torch.zeros(1, 1, 32, 48), torch.zeros(1, 1, 32, 48)
    greys = torch.rand(1, 1, 64, 96), torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        quiet = net._right_view(logits4, detail_right, detail_left, hint2, mask2, *greys)
        loud = net._right_view(logits4 + loudness, detail_right, detail_left, hint2, mask2, *greys)
    np.testing.assert_allclose(loud.numpy(), quiet.numpy(), atol=1e-4)


def test_the_right_view_is_computed_for_the_first_right_batch_pairs_only() -> None:
    net = _perturbed(StereoNetConfig(max_disparity=64))
    left, right, zeros = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96), torch.zeros(2, 1, 64, 96)
    with torch.no_grad():
        none, one = (net(left, right, zeros, zeros, right_batch=r) for r in (0, 1))
        both = net(left, right, zeros, zeros, right_batch=2)
    assert none["disparity_right"].shape == (0, 1, 64, 96) and one["disparity_right"].shape == (1, 1, 64, 96)
    # batch size changes float rounding, which the line-fit step's division lifts to about 1e-4 px
    np.testing.assert_allclose(one["disparity_right"].numpy(), both["disparity_right"][:1].numpy(), atol=1e-3)
    np.testing.assert_array_equal(none["disparity"].numpy(), both["disparity"].numpy())


def test_one_pass_right_view_agrees_with_a_two_pass_right_view_on_a_constructed_scene() -> None:
    """The bundled weights on a textured fronto-parallel plane at 12 px: the right view read from the
    volume agrees with the mirrored second pass it replaces, and both find the plane."""
    net = _bundled()
    rng = np.random.default_rng(1)
    texture = torch.from_numpy(cv2.GaussianBlur(rng.random((96, 300, 3), dtype=np.float32), (0, 0), 1.0))
    texture = texture.permute(2, 0, 1)[None]
    left, right = texture[..., :256], texture[..., 12:268]          # right(x) = left(x + 12): d = 12
    zeros = torch.zeros(1, 1, 96, 256)
    with torch.no_grad():
        one_pass = net(left, right, zeros, zeros, right_batch=1)["disparity_right"][0, 0].numpy()
        two_pass = _mirror(net(_mirror(right), _mirror(left), zeros, zeros)["disparity"])[0, 0].numpy()
    inside = np.s_[8:-8, 8:-40]
    assert np.median(np.abs(one_pass[inside] - 12.0)) < 0.3
    assert np.median(np.abs(one_pass[inside] - two_pass[inside])) < 0.3
    assert np.mean(np.abs(one_pass[inside] - two_pass[inside]) < 1.0) > 0.95


def test_a_1_32_level_started_from_a_1_16_network_computes_what_that_network_computes() -> None:
    """The 1/32 level's way back starts at zero, so ``--init-from`` a 1/16 checkpoint changes no output."""
    coarse = _perturbed(StereoNetConfig(max_disparity=64))
    deeper = StereoNet(StereoNetConfig(max_disparity=64, coarsest_level=32)).eval()
    load_initial_weights(deeper, coarse.state_dict())
    rng = np.random.default_rng(2)
    left, right = (torch.from_numpy(rng.random((1, 3, 64, 128), dtype=np.float32)) for _ in range(2))
    zeros = torch.zeros(1, 1, 64, 128)
    with torch.no_grad():
        expected, got = (net(left, right, zeros, zeros, right_batch=1) for net in (coarse, deeper))
    for name in ("disparity", "confidence", "disparity_right"):
        torch.testing.assert_close(got[name], expected[name], rtol=0.0, atol=1e-5)
    assert sum(p.numel() for p in deeper.regulariser.down32.parameters()) > 0


def test_initial_weights_may_lack_only_the_1_32_level() -> None:
    weights = StereoNet(StereoNetConfig(max_disparity=64)).state_dict()
    missing = next(key for key in weights if key.startswith("regulariser."))
    weights.pop(missing)
    with pytest.raises(RuntimeError, match=re.escape(missing)):
        load_initial_weights(StereoNet(StereoNetConfig(max_disparity=64, coarsest_level=32)), weights)
    with pytest.raises(ValueError, match="coarsest_level must be 16 or 32, got 8"):
        StereoNetConfig(coarsest_level=8)


def test_max_hint_pooling_keeps_a_foreground_background_edge_apart() -> None:
    """A cell with hints 40 (foreground) and 10 (background): max pooling keeps 40, mean would give 25."""
    hint = torch.zeros(1, 1, 4, 8)
    mask = torch.zeros(1, 1, 4, 8)
    hint[0, 0, :, :3], mask[0, 0, :, :3] = 40.0, 1.0     # foreground columns 0..2
    hint[0, 0, :, 3:6], mask[0, 0, :, 3:6] = 10.0, 1.0   # background columns 3..5; 6, 7 have none
    pooled, pooled_mask = downsample_hints(hint, mask, 2, pooling="max")
    assert pooled_mask[0, 0].tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
    assert pooled[0, 0, 0].tolist() == [20.0, 20.0, 5.0, 0.0]        # values / 2, never a blend
    assert set((pooled * 2)[pooled_mask > 0].tolist()) <= {40.0, 10.0}
    blended, _ = downsample_hints(hint, mask, 2, pooling="mean")
    assert blended[0, 0, 0, 1].item() == pytest.approx(12.5)         # (40 + 10) / 2 / 2: the blend it avoids


def test_hints_move_to_the_right_view_at_x_minus_d_and_the_nearest_wins() -> None:
    hint = torch.zeros(1, 1, 4, 12)
    mask = torch.zeros(1, 1, 4, 12)
    for row, column, value in ((1, 9, 3.0), (2, 8, 2.0), (2, 10, 4.0), (3, 1, 5.0)):
        hint[0, 0, row, column], mask[0, 0, row, column] = value, 1.0
    # (1, 9) -> right column 6; (2, 8) -> 6 and (2, 10) -> 6: the nearer 4 hides the 2; (3, 1) -> -4: dropped
    right, right_mask = hints_in_right_view(hint, mask)
    assert right[0, 0, 1, 6] == 3.0 and right[0, 0, 2, 6] == 4.0
    assert right_mask.sum() == 2 and torch.all(right[right_mask == 0] == 0)


def _grid_sampled_rows(features: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Each row of ``features`` at column ``position`` (N, 1, H, W) through GridSample, zeros outside."""
    n, _, h, w = features.shape
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    grid = torch.stack([position[:, 0] * (2.0 / (w - 1)) - 1.0, (ys * (2.0 / (h - 1)) - 1.0).expand(n, h, w)], dim=-1)
    return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def test_gather_warp_matches_grid_sample_with_zero_padding() -> None:
    features = torch.rand(2, 5, 6, 20)
    disparity = torch.rand(2, 1, 6, 20) * 25 - 3                       # some samples fall outside
    columns = torch.arange(20, dtype=torch.float32).view(1, 1, 1, 20)
    np.testing.assert_allclose(warp_right_to_left(features, disparity).numpy(),
                               _grid_sampled_rows(features, columns - disparity).numpy(), atol=1e-5)


def test_row_samples_at_several_offsets_are_zero_outside_the_image_however_far() -> None:
    """What the line fit gathers: positions well past both sides must give 0, not the edge column."""
    features = torch.rand(1, 2, 3, 12)
    position = torch.linspace(-30.0, 40.0, 36).view(1, 1, 3, 12)
    samples = sample_rows(features, position, range(-1, 2))
    assert samples.shape == (1, 6, 3, 12)
    for block, offset in enumerate(range(-1, 2)):
        np.testing.assert_allclose(samples[:, 2 * block:2 * block + 2].numpy(),
                                   _grid_sampled_rows(features, position + offset).numpy(), atol=1e-5)


def test_the_network_right_view_survives_the_check_on_a_consistent_scene() -> None:
    """The bundled weights' left and right views of a textured plane agree within 1 px."""
    net = _bundled()
    texture = torch.from_numpy(cv2.GaussianBlur(np.random.default_rng(2).random((64, 180, 3), dtype=np.float32),
                                                (0, 0), 1.0)).permute(2, 0, 1)[None]
    left, right = texture[..., :160], texture[..., 12:172]
    zeros = torch.zeros(1, 1, 64, 160)
    with torch.no_grad():
        out = net(left, right, zeros, zeros, right_batch=1)
    check = left_right_check(out["disparity"][0, 0].numpy(), out["disparity_right"][0, 0].numpy(), max_diff_px=1.0)
    assert check.keep_mask[8:-8, 24:-8].mean() > 0.95


def _shifted_texture(disparity_px: float, width: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """A blurred random grey texture as a rectified pair with right(x) = left(x + d), d fractional."""
    texture = cv2.GaussianBlur(np.random.default_rng(3).random((48, width + 40), dtype=np.float32), (0, 0), 1.2)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(48, dtype=np.float32))
    left = cv2.remap(texture, xs + 10, ys, cv2.INTER_CUBIC)
    right = cv2.remap(texture, xs + 10 + disparity_px, ys, cv2.INTER_CUBIC)
    return torch.from_numpy(left)[None, None], torch.from_numpy(right)[None, None]


@pytest.mark.parametrize("error_px", [-0.45, -0.2, 0.2, 0.45])
def test_the_line_fit_takes_a_sub_pixel_error_out_in_both_views(error_px: float) -> None:
    """A textured plane at 10.3 px estimated 0.2-0.45 px off (the 4 px bins' pixel locking) comes back
    within 0.06 px, left view and right view alike."""
    left, right = _shifted_texture(10.3)
    estimate = torch.full_like(left, 10.3 + error_px)
    corrected_left = network.subpixel_line_fit(left, right, estimate, 2)
    corrected_right = network.subpixel_line_fit(right, left, estimate, 2, right_view=True)
    inside = np.s_[4:-4, 20:-20]
    for corrected in (corrected_left, corrected_right):
        assert abs(np.median(corrected[0, 0].numpy()[inside]) - 10.3) < 0.06


def test_the_line_fit_leaves_flat_regions_and_matches_outside_the_other_image_alone() -> None:
    left, right = _shifted_texture(10.3)
    left[..., 100:140] = 0.5
    right[..., 90:130] = 0.5                                        # a textureless patch in both views
    estimate = torch.full_like(left, 10.7)
    corrected = network.subpixel_line_fit(left, right, estimate, 2)[0, 0].numpy()
    assert np.all(corrected[:, :14] == np.float32(10.7))            # x - d - 3 < 0: the window leaves the image
    assert np.all(corrected[:, 106:134] == np.float32(10.7))        # no texture, no curvature, no step
    assert abs(np.median(corrected[4:-4, 20:90]) - 10.3) < 0.06


def test_the_line_fit_passes_the_gradient_to_its_input_unchanged() -> None:
    left, right = _shifted_texture(10.3)
    estimate = torch.full_like(left, 10.6, requires_grad=True)
    network.subpixel_line_fit(left, right, estimate, 2).sum().backward()
    assert torch.all(estimate.grad == 1.0)


def test_the_line_fit_on_gradients_shrugs_off_a_gain_between_the_cameras() -> None:
    """The right camera 5 % darker: on grey levels the fit would miss by more than 0.5 px on about a fifth
    of a textured plane; on horizontal gradients (what the network compares) it stays within 0.06 px."""
    left, right = _shifted_texture(10.3)
    estimate = torch.full_like(left, 10.6)
    edges = [network.horizontal_gradient(view) for view in (left, 0.95 * right)]
    corrected = network.subpixel_line_fit(*edges, estimate, 2)[0, 0].numpy()[4:-4, 20:-20]
    assert abs(np.median(corrected) - 10.3) < 0.06
    assert np.mean(np.abs(corrected - 10.3) > 0.5) < 0.02
