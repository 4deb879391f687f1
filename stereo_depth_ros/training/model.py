"""StereoNet: a compact Siamese cost-volume network (PyTorch, training only).

Diagram (resolutions relative to the input, H x W):

    left, right ──► shared FeatureTower ──► matching features 1/4 (32 ch, unit norm)
                                         └► context (left) 1/4, detail (both) 1/2
    correlation volume 1/4: corr[k] = <f_left(x), f_right(x - k)>, k = 0..D-1  (D = max_disp / 4)
    + hint bump:        corr[k] += alpha * mask4 * exp(-(k - hint4)^2 / (2 sigma^2))
    CostRegulariser 1/4: 2D U-Net over [corr, context] ──► logits (D ch)
    WindowSoftArgmin:   softmax restricted to +-2 bins around the peak ──► disparity4, confidence
    ConvexUpsample x2:  9-neighbour convex combination ──► disparity2
    Refinement 1/2:     residual from [disparity2, detail_left - warp(detail_right), hints]
    bilinear x2 ──► disparity (px at input resolution), confidence

Every op exports to plain ONNX: correlation is one batched matmul plus one gather,
channel sums are fixed 1x1 convolutions, there are no 3D convolutions or 5D tensors.
Disparity follows d = x_left - x_right >= 0, in pixels of the tensor it lives on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class StereoNetConfig:
    """Architecture hyper-parameters (stored in every checkpoint)."""

    max_disparity: int = 192           # px at the network input; multiple of 4
    matching_channels: int = 32
    window_radius_bins: int = 2        # soft-argmin window, bins of 4 px at 1/4
    hint_sigma_bins: float = 1.0

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class SeparableBlock(nn.Module):
    """Residual depthwise-separable block; ``stride=2`` halves the resolution."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False), nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True))
        self.pointwise = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch else
                         nn.Sequential(nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                                       nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pointwise(self.depthwise(x)) + self.shortcut(x))


class FeatureTower(nn.Module):
    """Shared-weight features: detail at 1/2 (24 ch), context and matching at 1/4."""

    def __init__(self, matching_channels: int) -> None:
        super().__init__()
        self.stage2 = nn.Sequential(_conv_bn_relu(3, 24, stride=2), SeparableBlock(24, 24))
        self.stage4 = nn.Sequential(SeparableBlock(24, 48, stride=2), SeparableBlock(48, 48),
                                     SeparableBlock(48, 48))
        self.stage8 = nn.Sequential(SeparableBlock(48, 64, stride=2), SeparableBlock(64, 64),
                                    SeparableBlock(64, 64))
        self.lateral = nn.Conv2d(64, 48, 1)
        self.merge = SeparableBlock(48, 48)
        self.matching = nn.Conv2d(48, matching_channels, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image (N, 3, H, W) normalised -> (detail 1/2, context 1/4, unit-norm matching 1/4)."""
        half = self.stage2(image)
        quarter = self.stage4(half)
        eighth = self.stage8(quarter)
        context = self.merge(quarter + F.interpolate(self.lateral(eighth), size=quarter.shape[-2:],
                                                     mode="bilinear", align_corners=False))
        matching = F.normalize(self.matching(context), dim=1)
        return half, context, matching


def correlation_volume(left: torch.Tensor, right: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Cosine correlation over disparity bins as one matmul plus one gather.

    Args:
        left, right: (N, C, H, W) unit-norm features.
        num_bins: D; bin k compares left column x with right column x - k.
    Returns:
        (N, D, H, W); 0 where x - k < 0 (no right pixel).
    """
    n, c, h, w = left.shape
    similarity = torch.matmul(left.permute(0, 2, 3, 1), right.permute(0, 2, 1, 3))  # (N, H, W, W)
    columns = torch.arange(w, device=left.device)
    bins = torch.arange(num_bins, device=left.device)
    source = columns[:, None] - bins[None, :]                      # (W, D)
    valid = (source >= 0).to(left.dtype)
    flat_index = (columns[:, None] * w + source.clamp(min=0)).reshape(-1)
    gathered = similarity.reshape(n, h, w * w).index_select(2, flat_index).reshape(n, h, w, num_bins)
    return (gathered * valid).permute(0, 3, 1, 2)


class CostRegulariser(nn.Module):
    """2D U-Net (1/4 -> 1/8 -> 1/16 -> 1/4) over the volume, guided by left context."""

    def __init__(self, num_bins: int, context_channels: int = 48) -> None:
        super().__init__()
        self.enter = nn.Sequential(nn.Conv2d(num_bins + context_channels, 48, 1, bias=False),
                                   nn.BatchNorm2d(48), nn.ReLU(inplace=True), SeparableBlock(48, 48))
        self.down8 = nn.Sequential(_conv_bn_relu(48, 64, stride=2), _conv_bn_relu(64, 64))
        self.down16 = nn.Sequential(_conv_bn_relu(64, 96, stride=2), _conv_bn_relu(96, 96))
        self.up8 = nn.Conv2d(96, 64, 1)
        self.fuse8 = _conv_bn_relu(64, 64)
        self.up4 = nn.Conv2d(64, 48, 1)
        self.fuse4 = SeparableBlock(48, 48)
        self.logits = nn.Conv2d(48, num_bins, 1)

    def forward(self, volume: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (logits (N, D, H4, W4), decoder features (N, 48, H4, W4))."""
        x4 = self.enter(torch.cat([volume, context], dim=1))
        x8 = self.down8(x4)
        x16 = self.down16(x8)
        y8 = self.fuse8(x8 + F.interpolate(self.up8(x16), size=x8.shape[-2:], mode="bilinear",
                                           align_corners=False))
        y4 = self.fuse4(x4 + F.interpolate(self.up4(y8), size=x4.shape[-2:], mode="bilinear",
                                           align_corners=False))
        return self.logits(y4) + 4.0 * volume, y4


def _channel_sum(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum over channels as a fixed 1x1 convolution: (N, C, H, W) -> (N, 1, H, W)."""
    return F.conv2d(x, weights.view(1, -1, 1, 1))


def window_soft_argmin(logits: torch.Tensor, bin_values: torch.Tensor,
                       radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-bin disparity from a softmax restricted to +-radius bins around the peak.

    Args:
        logits: (N, D, H, W) matching scores (higher = better).
        bin_values: (D,) disparity of each bin.
        radius: half-width of the window in bins.
    Returns:
        disparity (N, 1, H, W) in bin_values' units; confidence (N, 1, H, W) = probability
        mass of the full softmax inside the window (the peak's probability).
    """
    peak = logits.argmax(dim=1, keepdim=True).to(logits.dtype)
    bins = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype).view(1, -1, 1, 1)
    window = ((bins - peak).abs() <= radius).to(logits.dtype)
    exp = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    ones = torch.ones_like(bin_values)
    windowed = exp * window
    windowed_sum = _channel_sum(windowed, ones)
    disparity = _channel_sum(windowed, bin_values) / windowed_sum
    confidence = windowed_sum / _channel_sum(exp, ones)
    return disparity, confidence


def _neighbours3x3(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 9, H, W): the 3x3 neighbourhood, replicate-padded."""
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    h, w = x.shape[-2:]
    return torch.cat([padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], dim=1)


def convex_upsample2(disparity: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """Upsample x2 as a learned convex combination of 3x3 coarse neighbours.

    Args:
        disparity: (N, 1, H, W), px at this resolution.
        mask_logits: (N, 36, H, W) ordered [neighbour j (9)][sub-pixel s (4)].
    Returns:
        (N, 1, 2H, 2W) in px of the upsampled resolution (values doubled).
    """
    n, _, h, w = disparity.shape
    logits = mask_logits.reshape(n, 9, 4 * h, w)
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))   # softmax over the 9 neighbours
    neighbours = _neighbours3x3(2.0 * disparity).repeat(1, 1, 4, 1)       # (N, 9, 4H, W)
    ones = torch.ones(9, dtype=disparity.dtype, device=disparity.device)
    upsampled = (_channel_sum(weights * neighbours, ones) / _channel_sum(weights, ones)).reshape(n, 4, h, w)
    return F.pixel_shuffle(upsampled, 2)


def warp_right_to_left(features: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """Sample right-view features at x - d: (N, C, H, W), disparity (N, 1, H, W) px."""
    n, _, h, w = features.shape
    xs = torch.arange(w, device=features.device, dtype=features.dtype).view(1, 1, w)
    ys = torch.arange(h, device=features.device, dtype=features.dtype).view(1, h, 1)
    grid_x = (xs - disparity[:, 0]) * (2.0 / (w - 1)) - 1.0
    grid_y = (ys * (2.0 / (h - 1)) - 1.0).expand(n, h, w)
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


class Refinement(nn.Module):
    """Residual disparity at 1/2 from photometric feature error and the hints.

    The right view is warped on an 8-channel projection of the detail features:
    warping (GridSample) costs in proportion to the channels it moves.
    """

    def __init__(self, detail_channels: int = 24, warp_channels: int = 8) -> None:
        super().__init__()
        self.project = nn.Conv2d(detail_channels, warp_channels, 1)
        self.body = nn.Sequential(
            nn.Conv2d(detail_channels + warp_channels + 4, 32, 1, bias=False), nn.BatchNorm2d(32),
            nn.ReLU(inplace=True), SeparableBlock(32, 32), SeparableBlock(32, 32), nn.Conv2d(32, 1, 1))

    def forward(self, disparity: torch.Tensor, detail_left: torch.Tensor, detail_right: torch.Tensor,
                hint: torch.Tensor, hint_mask: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        error = self.project(detail_left) - warp_right_to_left(self.project(detail_right), disparity)
        hint_offset = (hint - disparity) * hint_mask
        x = torch.cat([disparity / 32.0, detail_left, error, hint_offset, hint_mask, confidence], dim=1)
        return F.relu(disparity + self.body(x))


def downsample_hints(hint: torch.Tensor, mask: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse hints to 1/factor: mean of the hints in each cell, values divided by factor."""
    counts = F.avg_pool2d(mask, factor) * factor * factor
    sums = F.avg_pool2d(hint * mask, factor) * factor * factor
    mask_small = (counts > 0).to(hint.dtype)
    return sums / counts.clamp(min=1.0) / factor, mask_small


class StereoNet(nn.Module):
    """The full network; ``forward`` returns every intermediate for the losses."""

    def __init__(self, config: StereoNetConfig = StereoNetConfig()) -> None:
        super().__init__()
        if config.max_disparity % 4:
            raise ValueError(f"max_disparity must be a multiple of 4, got {config.max_disparity}")
        self.config = config
        self.num_bins = config.max_disparity // 4
        self.tower = FeatureTower(config.matching_channels)
        self.regulariser = CostRegulariser(self.num_bins)
        self.upsample_mask = nn.Conv2d(48, 36, 1)
        self.refinement = Refinement()
        self.hint_strength = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("bin_values", torch.arange(self.num_bins, dtype=torch.float32), persistent=False)
        self.register_buffer("rgb_mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)

    def forward(self, left: torch.Tensor, right: torch.Tensor, hint_disparity: torch.Tensor,
                hint_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """left/right (N, 3, H, W) RGB in [0, 1]; hints (N, 1, H, W) px, mask in {0, 1}.

        H and W must be multiples of 32. Returns a dict with ``disparity`` and
        ``confidence`` (N, 1, H, W) plus ``logits4``, ``disparity4`` (1/4 px) and
        ``disparity2`` (1/2 px, before refinement) for training.
        """
        n = left.shape[0]
        images = (torch.cat([left, right], dim=0) - self.rgb_mean) / self.rgb_std
        detail, context, matching = self.tower(images)
        volume = correlation_volume(matching[:n], matching[n:], self.num_bins)
        hint2, mask2 = downsample_hints(hint_disparity, hint_mask, 2)
        hint4, mask4 = downsample_hints(hint2, mask2, 2)
        bins = self.bin_values.view(1, -1, 1, 1)
        sigma2 = 2.0 * self.config.hint_sigma_bins ** 2
        volume = volume + self.hint_strength * mask4 * torch.exp(-(bins - hint4) ** 2 / sigma2)
        logits4, decoder4 = self.regulariser(volume, context[:n])
        disparity4, confidence4 = window_soft_argmin(logits4, self.bin_values, self.config.window_radius_bins)
        disparity2 = convex_upsample2(disparity4, self.upsample_mask(decoder4))
        confidence2 = F.interpolate(confidence4, scale_factor=2.0, mode="bilinear", align_corners=False)
        refined2 = self.refinement(disparity2, detail[:n], detail[n:], hint2, mask2, confidence2)
        disparity = 2.0 * F.interpolate(refined2, scale_factor=2.0, mode="bilinear", align_corners=False)
        confidence = F.interpolate(confidence2, scale_factor=2.0, mode="bilinear", align_corners=False)
        return {"disparity": disparity, "confidence": confidence.clamp(0.0, 1.0), "logits4": logits4,
                "disparity4": disparity4, "disparity2": disparity2}


class ExportWrapper(nn.Module):
    """The ONNX contract: (left, right, hint_disparity, hint_mask) -> (disparity, confidence)."""

    def __init__(self, net: StereoNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, left: torch.Tensor, right: torch.Tensor, hint_disparity: torch.Tensor,
                hint_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(left, right, hint_disparity, hint_mask)
        return out["disparity"], out["confidence"]
