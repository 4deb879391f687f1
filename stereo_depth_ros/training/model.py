"""StereoNet: a compact Siamese cost-volume network (PyTorch, training only).

Diagram (resolutions relative to the input, H x W):

    left, right ──► shared FeatureTower ──► matching features 1/4 (32 ch, unit norm)
                                         └► context (left) 1/4, detail (both) 1/2
    correlation volume 1/4: corr[k] = <f_left(x), f_right(x - k)>, k = 0..D-1  (D = max_disp / 4)
    + hint bump:        corr[k] += alpha * mask4 * exp(-(k - hint4)^2 / (2 sigma^2))
    CostRegulariser 1/4: 2D U-Net over [corr, context], down to 1/16 or 1/32 (coarsest_level) ──► logits (D ch)
    WindowSoftArgmin:   softmax restricted to +-2 bins around the peak ──► disparity4, confidence
    ConvexUpsample x2:  9-neighbour convex combination ──► disparity2
    Refinement 1/2:     residual from [disparity2, detail_left - warp(detail_right), hints]
    bilinear x2, then SubPixelLineFit at full resolution: SAD of horizontal grey-level gradients at
        d - 1, d, d + 1 px over a 5x5 window, the fitted V's minimum added (no weights)
        ──► disparity (px at input resolution), confidence
    right view (for the left-right check, on request): C_R(x, k) = C_L(x + k, k) re-indexed from
        the same logits, each left pixel's first made log-probabilities ──► window soft-argmin
        ──► bilinear x2 ──► the same refinement as a mirrored left view (flipped kernels, hints
        moved to the right view) ──► bilinear x2 ──► the line-fit step, right image as reference
        ──► disparity_right

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
    hint_pooling: str = "max"          # hints to 1/2 and 1/4: "max" (nearest surface) or "mean" (stages 1-3)
    subpixel_radius_px: int = 2        # window half-width of the full-resolution sub-pixel line fit; 0 = none
    coarsest_level: int = 16           # the regulariser's coarsest resolution: 1/16 (stages 1-4) or 1/32

    def __post_init__(self) -> None:
        if self.hint_pooling not in ("mean", "max"):
            raise ValueError(f"hint_pooling must be 'mean' or 'max', got {self.hint_pooling!r}")
        if self.coarsest_level not in (16, 32):
            raise ValueError(f"coarsest_level must be 16 or 32, got {self.coarsest_level}")

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class SeparableBlock(nn.Module):
    """Residual depthwise-separable block; ``stride=2`` halves the resolution."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False), nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True))
        self.pointwise = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch else
                         nn.Sequential(nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                                       nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)))

    def forward(self, x: torch.Tensor, *, mirrored: bool = False) -> torch.Tensor:
        """``mirrored``: run with left-right flipped 3x3 kernels, so that the block computes
        ``mirror(block(mirror(x)))`` without moving any data (stride 1 only)."""
        if mirrored and self.stride > 1:
            raise ValueError("a mirrored SeparableBlock needs stride 1")
        conv, norm, _ = self.depthwise
        depthwise = F.relu(norm(_conv2d(conv, x, mirrored=mirrored))) if mirrored else self.depthwise(x)
        return F.relu(self.pointwise(depthwise) + self.shortcut(x))


def _conv2d(conv: nn.Conv2d, x: torch.Tensor, *, mirrored: bool) -> torch.Tensor:
    """``conv(x)``, or with its kernels flipped left-right: ``mirror(conv(mirror(x)))`` for stride 1.

    The flip applies to the weights, a constant of the exported graph, so it costs nothing at run time.
    """
    weight = conv.weight.flip(-1) if mirrored else conv.weight
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


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


#: The volume (cosine similarity in [-1, 1], plus the hint bump) is added to the regulariser's logits with
#: this weight: a skip path that gives the softmax a usable peak from the first step.
_VOLUME_SKIP_WEIGHT = 4.0
#: Input normalisation: RGB in [0, 1] becomes (rgb - mean) / std, the same per channel.
_RGB_MEAN, _RGB_STD = 0.45, 0.25


class CostRegulariser(nn.Module):
    """2D U-Net (1/4 -> 1/8 -> 1/16 [-> 1/32] -> 1/4) over the volume, guided by left context.

    ``coarsest_level`` 32 adds a 1/32 level whose way back (``up16``) starts at zero, so a network of
    the 1/16 design loaded into it computes what it computed (the new weights are then trained).
    """

    def __init__(self, num_bins: int, context_channels: int = 48, coarsest_level: int = 16) -> None:
        super().__init__()
        self.down32 = self.up16 = None
        if coarsest_level == 32:
            self.down32 = nn.Sequential(_conv_bn_relu(96, 96, stride=2), _conv_bn_relu(96, 96))
            self.up16 = nn.Conv2d(96, 96, 1)
            nn.init.zeros_(self.up16.weight)
            nn.init.zeros_(self.up16.bias)
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
        if self.down32 is not None:
            x16 = x16 + F.interpolate(self.up16(self.down32(x16)), size=x16.shape[-2:], mode="bilinear",
                                      align_corners=False)
        y8 = self.fuse8(x8 + F.interpolate(self.up8(x16), size=x8.shape[-2:], mode="bilinear",
                                           align_corners=False))
        y4 = self.fuse4(x4 + F.interpolate(self.up4(y8), size=x4.shape[-2:], mode="bilinear",
                                           align_corners=False))
        return self.logits(y4) + _VOLUME_SKIP_WEIGHT * volume, y4


def _channel_sum(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum over channels as a fixed 1x1 convolution: (N, C, H, W) -> (N, 1, H, W)."""
    return F.conv2d(x, weights.view(1, -1, 1, 1))


def log_probabilities(logits: torch.Tensor, bin_values: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the D bins of (N, D, H, W) scores (``bin_values``: (D,), only its size is used),
    written with a max, an exp, a channel sum (a fixed 1x1 convolution) and a log: ONNX Runtime's
    LogSoftmax over axis 1 of NCHW transposes the volume twice (about 28 ms at 640x480 on two cores)."""
    shifted = logits - logits.amax(dim=1, keepdim=True)
    return shifted - torch.log(_channel_sum(torch.exp(shifted), torch.ones_like(bin_values)))


def window_soft_argmin(logits: torch.Tensor, bin_values: torch.Tensor,
                       radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-bin disparity from a softmax restricted to +-radius bins around the peak.

    Args:
        logits: (N, D, H, W) matching scores (higher = better).
        bin_values: (D,) disparity of each bin.
        radius: half-width of the window in bins.
    Returns:
        disparity (N, 1, H, W) in bin_values' units; confidence (N, 1, H, W) = the share of the
        full softmax's mass inside the window (1 for one clear peak, low where the scores are flat
        or have a rival peak outside the window).
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


def column_coordinates(x: torch.Tensor) -> torch.Tensor:
    """(1, 1, 1, W): the x coordinate (column index, px) of each column of an (N, C, H, W) map, in its
    dtype and on its device."""
    width = x.shape[-1]
    return torch.arange(width, device=x.device, dtype=x.dtype).view(1, 1, 1, width)


def sample_rows(features: torch.Tensor, position: torch.Tensor, offsets: range) -> torch.Tensor:
    """Sample each row of ``features`` at ``position + o`` for the integer offsets o, linearly between columns.

    Written as gathers instead of GridSample: rectified rows need no vertical interpolation, and ONNX
    Runtime's CPU GridSample takes 2.4x the time of the gathers (measured on (1, 8, 240, 320) features).
    Values match ``grid_sample(..., align_corners=True, padding_mode="zeros")`` at each offset. The
    columns floor(position) + offsets.start .. floor(position) + offsets.stop are gathered once from the
    features zero-padded on both sides (so columns outside the image contribute 0 without a mask), and
    each offset's sample mixes two neighbouring ones.

    Args:
        features: (N, C, H, W) features to sample.
        position: (N, 1, H, W) column to sample at, px of this resolution (any value; outside the image
            the sample is 0).
        offsets: consecutive integer offsets, px (``range(0, 1)``: the position only).
    Returns:
        (N, len(offsets) * C, H, W): channels j * C .. (j + 1) * C - 1 hold the samples at
        ``position + offsets[j]``.
    """
    if offsets.step != 1 or len(offsets) == 0:
        raise ValueError(f"offsets must be a non-empty range of step 1, got {offsets}")
    n, c, h, w = features.shape
    columns = len(offsets) + 1                 # gathered per pixel: floor + start .. floor + stop
    pad = columns                              # enough that a clamped floor gathers zeros only
    floor = torch.floor(position)
    fraction = position - floor
    lowest, highest = -pad - offsets.start, w - 1 + pad - offsets.stop
    index = (floor.clamp(float(lowest), float(highest)) + float(pad + offsets.start)).to(torch.int64)
    index = index.expand(n, c, h, w)
    padded = F.pad(features, (pad, pad))
    gathered = torch.cat([torch.gather(padded, 3, index + shift) for shift in range(columns)], dim=1)
    return gathered[:, :-c] * (1.0 - fraction) + gathered[:, c:] * fraction


def warp_right_to_left(features: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """Sample right-view features at x - d along the row (:func:`sample_rows`), linearly between columns.

    A negative disparity samples at x + |d| (the left view seen from the right one).

    Args:
        features: (N, C, H, W) features to sample.
        disparity: (N, 1, H, W) px of this resolution.
    Returns:
        (N, C, H, W); columns outside the image contribute 0.
    """
    return sample_rows(features, column_coordinates(features) - disparity, range(0, 1))


#: The line fit divides by the SAD's rise around the estimate (gradient of grey levels in [0, 1] per px)
#: clamped to at least this.
_MIN_COST_RISE = 1e-4
#: Horizontal Sobel kernel; divided by its weight sum 8 it gives the grey-level difference per px.
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def horizontal_gradient(image: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) image in [0, 1] -> (N, 1, H, W) horizontal Sobel gradient of its grey level (the mean of
    its C channels), grey levels per px, replicate-padded; one convolution, the channel mean folded in.

    What the sub-pixel line fit compares: unlike grey levels it hardly changes with a gain or an offset
    between the two cameras (a 5 % gain made the grey-level fit miss by more than 1 px on 16-22 % of a
    textured plane, the gradient fit on 0.5-6 %; models/README.md "Depth bias").
    """
    channels = image.shape[1]
    kernel = torch.tensor(_SOBEL_X, dtype=image.dtype, device=image.device).view(1, 1, 3, 3) / (8.0 * channels)
    return F.conv2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), kernel.expand(1, channels, 3, 3))


def subpixel_line_fit(reference: torch.Tensor, other: torch.Tensor, disparity: torch.Tensor, radius: int, *,
                      right_view: bool = False) -> torch.Tensor:
    """Sub-pixel correction from three local matching costs at full resolution (equiangular line fit).

    The 1/4 volume's 4 px bins leave a sub-pixel error that swings with the true disparity's place
    inside its bin ("pixel locking", up to +-0.45 px on a textured plane; models/README.md "Depth
    bias"), and the steps after it hardly change it. This step measures the match directly, as a
    classical matcher's sub-pixel interpolation does: the mean absolute difference (SAD) between
    ``reference`` and ``other`` sampled at x - (d + o) (x + (d + o) with ``right_view``),
    o = -1, 0, +1 px, over a (2 radius + 1)^2 window, and the minimum m of the symmetric V through the
    three costs, m = (c(-1) - c(+1)) / (2 (max(c(-1), c(+1)) - c(0))): the fit that suits SAD's
    V-shaped cost (Shimizu and Okutomi, 2005), on which a parabola leaves a fifth to a half of the
    error. No weights.

    The step is m where |m| <= 1 px, tapers linearly to 0 at |m| = 2 px (so flat costs, whose m is
    large and meaningless, change nothing, and the output is continuous in the costs), and is 0 where
    the window's samples at d +- 1 leave ``other``. It is detached: the loss sees the corrected
    disparity and its gradient reaches ``disparity`` as if the step were a constant.

    Args:
        reference, other: (N, 1, H, W) images to compare (the network passes
            :func:`horizontal_gradient` of both images); ``reference`` is the view the disparity
            is indexed by (the left one, or the right one with ``right_view``).
        disparity: (N, 1, H, W) px, >= 0.
        radius: window half-width, px (> 0).
    Returns:
        (N, 1, H, W) px, >= 0.
    """
    width = reference.shape[-1]
    # the match's column in ``other``
    source = column_coordinates(reference) - (-1.0 if right_view else 1.0) * disparity.detach()
    # ``other`` at source - 1, source and source + 1: d + 1, d, d - 1 (d - 1, d, d + 1 for the right view)
    samples = sample_rows(other, source, range(-1, 2))
    costs = F.avg_pool2d((reference - samples).abs(), 2 * radius + 1, stride=1, padding=radius,
                         count_include_pad=False)
    above, centre, below = costs[:, 0:1], costs[:, 1:2], costs[:, 2:3]
    if right_view:
        above, below = below, above
    minimum = (below - above) / (2.0 * (torch.maximum(below, above) - centre).clamp(min=_MIN_COST_RISE))
    inside = ((source - (radius + 1) >= 0) & (source + (radius + 1) <= width - 1)).to(reference.dtype)
    step = minimum * (2.0 - minimum.abs()).clamp(0.0, 1.0) * inside
    return (disparity + step.detach()).clamp(min=0.0)


def right_view_logits(logits: torch.Tensor, fill: float = -1.0e4) -> torch.Tensor:
    """Re-index a left-view cost volume into the right view: C_R(x, k) = C_L(x + k, k).

    A right pixel x with disparity k sees the left pixel x + k, so the right
    view's scores are read from the same volume (as OpenCV's SGBM does for its
    disp12MaxDiff check); no second network pass is needed.

    Args:
        logits: (N, D, H, W) left-view scores, bin k = disparity k bins.
        fill: score where x + k falls outside the image (no left pixel).
    Returns:
        (N, D, H, W) right-view scores.
    """
    n, d, h, w = logits.shape
    source = (torch.arange(w, device=logits.device).view(1, 1, 1, w)
              + torch.arange(d, device=logits.device).view(1, d, 1, 1))     # (1, D, 1, W), < W + D
    # D columns of ``fill`` right of the image hold what x + k >= W reads: no mask to apply after the gather
    return torch.gather(F.pad(logits, (0, d), value=fill), 3, source.expand(n, d, h, w))


#: The refinement sees disparity divided by this (px at 1/2), so its input is of order 1.
_DISPARITY_INPUT_SCALE_PX = 32.0


class Refinement(nn.Module):
    """Residual disparity at 1/2 from photometric feature error and the hints.

    The other view is warped on an 8-channel projection of the detail features
    (warping costs in proportion to the channels it moves).
    """

    def __init__(self, detail_channels: int = 24, warp_channels: int = 8, width: int = 32) -> None:
        super().__init__()
        self.project = nn.Conv2d(detail_channels, warp_channels, 1)
        self.body = nn.Sequential(
            nn.Conv2d(detail_channels + warp_channels + 4, width, 1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True), SeparableBlock(width, width),
            SeparableBlock(width, width), nn.Conv2d(width, 1, 1))   # the last layer gives the residual

    def forward(self, disparity: torch.Tensor, detail_reference: torch.Tensor, detail_other: torch.Tensor,
                hint: torch.Tensor, hint_mask: torch.Tensor, confidence: torch.Tensor, *,
                right_view: bool = False) -> torch.Tensor:
        """Refine the reference view's disparity.

        All maps are (N, C, H2, W2) at 1/2, disparity and hint in px of 1/2. The
        reference view is the left one, or with ``right_view`` the right one: then
        the other view is sampled at x + d and the 3x3 kernels run flipped, which
        computes exactly what the left-view refinement computes on the mirrored
        pair (a mirrored right view is a left view) without flipping any tensor.
        """
        warped = warp_right_to_left(self.project(detail_other), -disparity if right_view else disparity)
        error = self.project(detail_reference) - warped
        hint_offset = (hint - disparity) * hint_mask
        x = torch.cat([disparity / _DISPARITY_INPUT_SCALE_PX, detail_reference, error, hint_offset, hint_mask,
                       confidence], dim=1)
        enter, norm, relu, block_a, block_b, residual = self.body
        features = block_b(block_a(relu(norm(enter(x))), mirrored=right_view), mirrored=right_view)
        return F.relu(disparity + residual(features))


def downsample_hints(hint: torch.Tensor, mask: torch.Tensor, factor: int,
                     pooling: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse hints to 1/factor, values divided by factor.

    Args:
        hint: (N, 1, H, W) px; mask: (N, 1, H, W) in {0, 1}.
        pooling: "mean" averages the hints of a cell (blends surfaces at depth
            edges); "max" keeps the largest, i.e. the nearest surface's, so a
            coarse hint is always one real measurement, never a blend.
    Returns:
        (hint, mask) at (H / factor, W / factor); hint 0 where the mask is 0.
    """
    if pooling == "max":
        pooled = F.max_pool2d(torch.where(mask > 0, hint, torch.full_like(hint, -1.0)), factor)
        mask_small = (pooled >= 0).to(hint.dtype)
        return pooled.clamp(min=0.0) * mask_small / factor, mask_small
    counts = F.avg_pool2d(mask, factor) * factor * factor
    sums = F.avg_pool2d(hint * mask, factor) * factor * factor
    mask_small = (counts > 0).to(hint.dtype)
    return sums / counts.clamp(min=1.0) / factor, mask_small


def hints_in_right_view(hint: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move left-view hints to the right view: a hint d at left pixel x lands on right pixel round(x - d).

    Where several land on one right pixel the largest (the nearest surface, which hides the others)
    wins; hints that fall outside the right image are dropped. One scatter with a max reduction.

    Args:
        hint: (N, 1, H, W) left-view disparity, px of this resolution; mask: (N, 1, H, W) in {0, 1}.
    Returns:
        (hint, mask) of the right view, same shapes; hint 0 where the mask is 0.
    """
    width = hint.shape[-1]
    target = torch.round(column_coordinates(hint) - hint)
    keep = (mask > 0) & (target >= 0)
    index = target.clamp(0, width - 1).to(torch.int64)
    values = torch.where(keep, hint, torch.full_like(hint, -1.0))
    right = torch.full_like(hint, -1.0).scatter_reduce(3, index, values, reduce="amax", include_self=True)
    right_mask = (right >= 0).to(hint.dtype)
    return right.clamp(min=0.0) * right_mask, right_mask


class StereoNet(nn.Module):
    """The full network; ``forward`` returns every intermediate for the losses."""

    def __init__(self, config: StereoNetConfig = StereoNetConfig()) -> None:
        super().__init__()
        if config.max_disparity % 4:
            raise ValueError(f"max_disparity must be a multiple of 4, got {config.max_disparity}")
        self.config = config
        self.num_bins = config.max_disparity // 4
        self.tower = FeatureTower(config.matching_channels)
        self.regulariser = CostRegulariser(self.num_bins, coarsest_level=config.coarsest_level)
        self.upsample_mask = nn.Conv2d(48, 36, 1)
        self.refinement = Refinement()
        self.hint_strength = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("bin_values", torch.arange(self.num_bins, dtype=torch.float32), persistent=False)
        self.register_buffer("rgb_mean", torch.full((1, 3, 1, 1), _RGB_MEAN), persistent=False)
        self.register_buffer("rgb_std", torch.full((1, 3, 1, 1), _RGB_STD), persistent=False)

    def forward(self, left: torch.Tensor, right: torch.Tensor, hint_disparity: torch.Tensor,
                hint_mask: torch.Tensor, *, right_batch: int | torch.Tensor = 0) -> dict[str, torch.Tensor]:
        """left/right (N, 3, H, W) RGB in [0, 1]; hints (N, 1, H, W) px, mask in {0, 1}.

        H and W must be multiples of 32. Returns a dict with ``disparity`` and
        ``confidence`` (N, 1, H, W) plus ``logits4``, ``disparity4`` (1/4 px) and
        ``disparity2`` (1/2 px, before refinement) for training, and
        ``disparity_right`` (R, 1, H, W) for the first R = ``right_batch`` pairs:
        the right view's disparity (px, d = x_left - x_right, indexed by
        right-image pixels) for the left-right check. R = 0 costs nothing; in the
        exported graph R is the length of the ``right_view`` input, so one file
        serves with and without the check.
        """
        n = left.shape[0]
        images = (torch.cat([left, right], dim=0) - self.rgb_mean) / self.rgb_std
        detail, context, matching = self.tower(images)
        volume = correlation_volume(matching[:n], matching[n:], self.num_bins)
        hint2, mask2 = downsample_hints(hint_disparity, hint_mask, 2, self.config.hint_pooling)
        hint4, mask4 = downsample_hints(hint2, mask2, 2, self.config.hint_pooling)
        bins = self.bin_values.view(1, -1, 1, 1)
        sigma2 = 2.0 * self.config.hint_sigma_bins ** 2
        volume = volume + self.hint_strength * mask4 * torch.exp(-(bins - hint4) ** 2 / sigma2)
        logits4, decoder4 = self.regulariser(volume, context[:n])
        disparity4, confidence4 = window_soft_argmin(logits4, self.bin_values, self.config.window_radius_bins)
        disparity2 = convex_upsample2(disparity4, self.upsample_mask(decoder4))
        confidence2 = _upsample2(confidence4)
        detail_left, detail_right = detail[:n], detail[n:]
        refined2 = self.refinement(disparity2, detail_left, detail_right, hint2, mask2, confidence2)
        edges_left, edges_right = horizontal_gradient(torch.cat([left, right], dim=0)).split(n)
        return {"disparity": self._subpixel(edges_left, edges_right, 2.0 * _upsample2(refined2)),
                "confidence": _upsample2(confidence2).clamp(0.0, 1.0),
                "logits4": logits4, "disparity4": disparity4, "disparity2": disparity2,
                "disparity_right": self._right_view(logits4[:right_batch], detail_right[:right_batch],
                                                    detail_left[:right_batch], hint2[:right_batch],
                                                    mask2[:right_batch], edges_right[:right_batch],
                                                    edges_left[:right_batch])}

    def _subpixel(self, reference: torch.Tensor, other: torch.Tensor, disparity: torch.Tensor, *,
                  right_view: bool = False) -> torch.Tensor:
        """The full-resolution sub-pixel step (:func:`subpixel_line_fit`), if the config has one."""
        if self.config.subpixel_radius_px <= 0:
            return disparity
        return subpixel_line_fit(reference, other, disparity, self.config.subpixel_radius_px, right_view=right_view)

    def _right_view(self, logits4: torch.Tensor, detail_right: torch.Tensor, detail_left: torch.Tensor,
                    hint2: torch.Tensor, mask2: torch.Tensor, edges_right: torch.Tensor,
                    edges_left: torch.Tensor) -> torch.Tensor:
        """The right view from the left view's volume (the hints shaped it), refined as a mirrored left
        view (same weights) with the hints moved into the right view, then the line fit with the right
        view's gradients (``edges_right``, (R, 1, H, W)) as reference; (R, 1, H, W) px at input size.

        The right pixel x reads bin k from the left pixel x + k, so its scores come from different
        left pixels; each left pixel's scores are first normalised to log-probabilities over k, so a
        right pixel weighs what its candidate left pixels believe, not how loud their raw scores are
        (a hinted left pixel's are raised and sharpened by the hint bump and would pull the right
        pixels around it to itself). Measured on Motorcycle with the LR check and 2 % LiDAR-like
        hints: 71 % of the pixels kept instead of 49 %, at 3.5 % bad-2 among them (models/README.md).
        """
        disparity4, confidence4 = window_soft_argmin(right_view_logits(log_probabilities(logits4, self.bin_values)),
                                                     self.bin_values, self.config.window_radius_bins)
        hint2_right, mask2_right = hints_in_right_view(hint2, mask2)
        refined2 = self.refinement(2.0 * _upsample2(disparity4), detail_right, detail_left, hint2_right,
                                   mask2_right, _upsample2(confidence4), right_view=True)
        return self._subpixel(edges_right, edges_left, 2.0 * _upsample2(refined2), right_view=True)


#: Weights a checkpoint of the 1/16 design lacks when it starts a 1/32 network (``CostRegulariser``).
_COARSE_LEVEL_PREFIXES = ("regulariser.down32.", "regulariser.up16.")


def load_initial_weights(net: StereoNet, weights: dict[str, torch.Tensor]) -> None:
    """Load ``weights`` into ``net``; only the 1/32 level, which starts at zero, may be missing from them.

    Raises:
        RuntimeError: other weights are missing, or some are unexpected or of another shape.
    """
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [key for key in missing if not key.startswith(_COARSE_LEVEL_PREFIXES)]
    if missing or unexpected:
        raise RuntimeError(f"the weights do not fit the network: missing {missing}, unexpected {unexpected}")


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 of an (N, C, H, W) map (values unchanged)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _mirror(x: torch.Tensor) -> torch.Tensor:
    """Flip an (N, C, H, W) map left-right: the right view of a pair becomes a left view."""
    return torch.flip(x, dims=[3])


class ExportWrapper(nn.Module):
    """The ONNX contract: (left, right, hint_disparity, hint_mask, right_view) -> (disparity, confidence,
    disparity_right); ``right_view`` is (R,) with R = 0 (no right view) or N (``backends.contract``)."""

    def __init__(self, net: StereoNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, left: torch.Tensor, right: torch.Tensor, hint_disparity: torch.Tensor,
                hint_mask: torch.Tensor, right_view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net(left, right, hint_disparity, hint_mask, right_batch=right_view.shape[0])
        return out["disparity"], out["confidence"], out["disparity_right"]
