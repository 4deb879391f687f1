"""Ablations of the right view (2026-12-04; models/README.md, "The network"), from the bundled weights.

A right-view refinement of its own, trained alone (everything else frozen) on the right view's ground
truth, against the shared, mirrored refinement (arm "shared", not trained); scored by the left-right check
on held-out scenes (kept %, bad-2 among kept %, the right view's own bad-2 %), Motorcycle reported, never
chosen on. And which maps the check compares: the left and right views with or without the line fit.

    python scripts/ablate_right_view.py train ARM STEPS OUT.pt   ARM: copy (the shared refinement's weights,
                                                                  trained on) | thin (width 16, one block)
    python scripts/ablate_right_view.py eval ARM [OUT.pt]        ARM: shared | copy | thin
    python scripts/ablate_right_view.py fit-variants
"""
import copy, json, sys, time
from pathlib import Path
import numpy as np, torch, skimage.data
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stereo_depth_ros.training.checkpoints import load_checkpoint_state, deployable_weights
from stereo_depth_ros.training.model import StereoNet, StereoNetConfig, Refinement, window_soft_argmin, \
    right_view_logits, log_probabilities, hints_in_right_view, _upsample2
from stereo_depth_ros.training.dataset import SyntheticStereoDataset, DataConfig
from stereo_depth_ros.training.losses import masked_smooth_l1, downsample_disparity, HALF_WEIGHT, HALF_SCALE
from stereo_depth_ros.training.train import _pad_to_multiple
from stereo_depth_ros.pipeline.classical_hints import classical_hints
from stereo_depth_ros.core.consistency import left_right_check
from stereo_depth_ros.core.synthetic import HELD_OUT_KINDS, held_out_scenes

BUNDLED = Path(__file__).resolve().parents[1] / "models/checkpoints/stereo_net.pt"
state = load_checkpoint_state(BUNDLED)
net = StereoNet(StereoNetConfig(**state["config"]["model"]))
net.load_state_dict(deployable_weights(state))
net.eval()
for p in net.parameters():
    p.requires_grad_(False)


def make_head(arm):
    if arm == "copy":
        head = copy.deepcopy(net.refinement)
        for p in head.parameters():
            p.requires_grad_(True)
        return head
    head = Refinement(width=16, blocks=1)
    torch.nn.init.zeros_(head.body[-1].weight); torch.nn.init.zeros_(head.body[-1].bias)
    return head


def install(head, record=None):
    """Route the right view through ``head`` (None: the shared one); keep the intermediate maps."""
    def right_view(logits4, detail_right, detail_left, hint2, mask2, edges_right, edges_left):
        disparity4, confidence4 = window_soft_argmin(right_view_logits(log_probabilities(logits4, net.bin_values)),
                                                     net.bin_values, net.config.window_radius_bins)
        hint2_right, mask2_right = hints_in_right_view(hint2, mask2)
        refine = net.refinement if head is None else head
        refined2 = refine(2.0 * _upsample2(disparity4), detail_right, detail_left, hint2_right, mask2_right,
                          _upsample2(confidence4), right_view=True)
        if record is not None:
            record["right2"] = refined2
        return net._subpixel(edges_right, edges_left, 2.0 * _upsample2(refined2), right_view=True)
    net._right_view = right_view


def train(arm, steps, out):
    torch.manual_seed(0)
    head = make_head(arm)
    head.train()
    record = {}
    install(head, record)
    lr = 1e-4 if arm == "copy" else 1e-3
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    data = DataConfig(num_scenes=600)
    dataset = SyntheticStereoDataset(data, net.config.max_disparity)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=range(600000, 600000 + 4 * steps),
                                         num_workers=1, persistent_workers=True, prefetch_factor=4)
    started = time.monotonic()
    log = open(out + ".log.jsonl", "w")
    for step, batch in enumerate(loader):
        for group in optimiser.param_groups:
            group["lr"] = lr * (min(1.0, (step + 1) / 50) * 0.5 * (1 + np.cos(np.pi * step / steps)))
        outputs = net(batch["left"], batch["right"], batch["hint_disparity"], batch["hint_mask"], right_batch=4)
        target = batch["disparity_right"]
        full = masked_smooth_l1(outputs["disparity_right"], target)
        half = masked_smooth_l1(record["right2"], downsample_disparity(target, 2))
        loss = full + HALF_WEIGHT * HALF_SCALE * half
        optimiser.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            optimiser.step()
        if (step + 1) % 25 == 0:
            line = {"step": step + 1, "full": float(full), "half": float(half), "minutes": (time.monotonic() - started) / 60}
            log.write(json.dumps(line) + "\n"); log.flush(); print(line, flush=True)
        if (step + 1) % 250 == 0 or step + 1 == steps:
            torch.save(head.state_dict(), out)


def run(left, right, hints):
    h, w = left.shape[:2]
    t = [torch.from_numpy(_pad_to_multiple(im).astype(np.float32) / 255).permute(2, 0, 1)[None] for im in (left, right)]
    mask = np.isfinite(hints) if hints is not None else np.zeros((h, w), bool)
    hint = np.where(mask, hints, 0).astype(np.float32) if hints is not None else np.zeros((h, w), np.float32)
    out = net(*t, torch.from_numpy(_pad_to_multiple(hint))[None, None],
              torch.from_numpy(_pad_to_multiple(mask.astype(np.float32)))[None, None], right_batch=1)
    return out["disparity"][0, 0, :h, :w].numpy(), out["disparity_right"][0, 0, :h, :w].numpy()


def score(left, right, truth, truth_right, hints):
    dl, dr = run(left, right, hints)
    valid = np.isfinite(truth)
    kept = left_right_check(dl, dr).keep_mask & valid
    right_valid = np.isfinite(truth_right)
    return (100 * kept.sum() / valid.sum(), 100 * (np.abs(dl - truth)[kept] > 2).mean(),
            100 * (np.abs(dr - truth_right)[right_valid] > 2).mean())


@torch.no_grad()
def evaluate(arm, path):
    head = None
    if arm != "shared":
        head = make_head(arm); head.load_state_dict(torch.load(path)); head.eval()
    install(head)
    groups = {"layered": held_out_scenes("layered", count=6),
              "robot": [s for k in HELD_OUT_KINDS for s in held_out_scenes(k, count=2)]}
    result = {}
    for name, scenes in groups.items():
        for label in ("none", "classical"):
            rows = [score(s.left, s.right, s.disparity_px, s.disparity_right_px,
                          None if label == "none" else classical_hints(s.left, s.right)) for s in scenes]
            result[f"{name}_{label}"] = [round(float(v), 2) for v in np.mean(rows, axis=0)]
    left, right, truth = skimage.data.stereo_motorcycle()
    truth = np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)
    for label in ("none", "classical"):
        dl, dr = run(left, right, None if label == "none" else classical_hints(left, right))
        valid = np.isfinite(truth); kept = left_right_check(dl, dr).keep_mask & valid
        result[f"motorcycle_{label}"] = [round(100 * kept.sum() / valid.sum(), 2),
                                         round(100 * float((np.abs(dl - truth)[kept] > 2).mean()), 2)]
    print(arm, path, "kept %, bad-2 among kept %, (synthetic) right-view bad-2 %:", json.dumps(result), flush=True)


@torch.no_grad()
def fit_variants():
    """The check on (left, right) with the line fit on both (as bundled), on the left only, on neither."""
    record = {}
    subpixel = net._subpixel

    def spy(reference, other, disparity, *, right_view=False):
        out = subpixel(reference, other, disparity, right_view=right_view)
        record["right" if right_view else "left"] = (disparity[0, 0].numpy(), out[0, 0].numpy())
        return out
    net._subpixel = spy
    left, right, truth = skimage.data.stereo_motorcycle()
    truth = np.where(np.isfinite(truth), truth, np.nan).astype(np.float32)
    h, w = truth.shape
    valid = np.isfinite(truth)
    for label in ("none", "classical"):
        run(left, right, None if label == "none" else classical_hints(left, right))
        (left_unfit, left_fit), (right_unfit, right_fit) = (
            tuple(a[:h, :w] for a in record[view]) for view in ("left", "right"))
        for name, checked_left, checked_right in (("fit/fit", left_fit, right_fit), ("fit/unfit", left_fit, right_unfit),
                                                  ("unfit/unfit", left_unfit, right_unfit)):
            kept = left_right_check(checked_left, checked_right).keep_mask & valid
            print(f"motorcycle, hints {label}, check on {name}: kept {100 * kept.sum() / valid.sum():.1f} %, "
                  f"bad-2 among kept {100 * (np.abs(left_fit - truth)[kept] > 2).mean():.2f} %")


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "train":
        train(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "fit-variants":
        fit_variants()
    else:
        evaluate(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
