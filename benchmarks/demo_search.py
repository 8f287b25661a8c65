"""A fast loop for tuning the demo: pretrain, then fine-tune from the pretrained encoder and from
scratch, on clips rendered into memory (no encoding, no decoding, no Lightning).

    uv run python benchmarks/demo_search.py --steps 2000 --labelled 4
    uv run python benchmarks/demo_search.py --masking tube --steps 800
    uv run python benchmarks/demo_search.py --scene camera --unlabelled 64 --labelled 8

Scenes: `ball` is the demo's own renderer (a light ball moving in one of 8 directions on a dark
background), rendered at the input size. `camera` is a field of soft colour blobs seen by a
camera that pans, rotates or zooms (8 classes of motion of the whole frame).

Pretraining uses `--unlabelled` clips per class; fine-tuning `--labelled` other clips per class;
validation 16 more. Prints the validation masked-patch PSNR against predicting each clip's mean
colour during pretraining, then the validation and training accuracy of both classifiers
(`--probe`: only fc_norm and the head are trained). The model, masks, targets and loss are the
project's; the optimisation is plain AdamW with a linear warmup and a cosine decay per step.
docs/demo.md has the results of earlier runs.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from videomae_ssl.data import demo
from videomae_ssl.data.transforms import normalize
from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import (
    RandomMaskGenerator,
    TubeMaskGenerator,
    gather_tokens,
    token_indices,
)
from videomae_ssl.models import videomae_classifier, videomae_pretrain


def render_ball(rng, label, frames, size):
    """The demo's clip of class `label` (a ball moving in one of 8 directions), rendered at the
    input size, as uint8 (T, 3, S, S)."""
    return torch.from_numpy(demo.render_clip(rng, label, frames, size, size)).permute(0, 3, 1, 2)


def render_camera(rng, label, frames, size, speed=0.15, turn=0.15, zoom=1.1, blobs=60):
    """Soft blobs (random colours, widths and places) seen by a camera moving as `label` says:
    pan right/left/up/down, rotate cw/ccw, zoom in/out. Screen coordinates span [-1, 1];
    `speed` is per frame in those units, `turn` in radians, `zoom` a factor."""
    centres = rng.uniform(-2.5, 2.5, size=(blobs, 2))
    widths = rng.uniform(0.12, 0.35, size=blobs)
    colours = rng.uniform(-1, 1, size=(blobs, 3))
    base = rng.uniform(0.2, 0.8, size=3)
    grid = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size * 2 - 1
    py, px = grid[0], grid[1]
    name = demo.DEMO_CLASSES[label]
    speed *= rng.uniform(0.7, 1.3)
    out = np.empty((frames, size, size, 3), np.float32)
    for i, t in enumerate(np.arange(frames) - (frames - 1) / 2):
        if name.startswith("move_"):  # the content moves as the class says
            dx, dy = {
                "move_right": (1, 0),
                "move_left": (-1, 0),
                "move_up": (0, -1),
                "move_down": (0, 1),
            }[name]
            x, y = px - dx * speed * t, py - dy * speed * t
        elif name.startswith("rotate_"):
            a = (1 if name == "rotate_cw" else -1) * turn * t
            x, y = math.cos(a) * px + math.sin(a) * py, -math.sin(a) * px + math.cos(a) * py
        else:
            s = zoom ** (-t if name == "grow" else t)
            x, y = px * s, py * s
        d2 = (x[..., None] - centres[:, 0]) ** 2 + (y[..., None] - centres[:, 1]) ** 2
        out[i] = np.clip(base + np.exp(-d2 / (2 * widths**2)) @ colours * 0.6, 0, 1)
    return torch.from_numpy(np.rint(out * 255)).permute(0, 3, 1, 2)


def render(a, split: int, per_class: int):
    """Normalised clips (N, 3, T, S, S) and labels (N,)."""
    clips, labels = [], []
    for label in range(len(demo.DEMO_CLASSES)):
        for k in range(per_class):
            rng = np.random.default_rng([0, split, label, k])
            if a.scene == "camera":
                clip = render_camera(rng, label, a.frames, a.input)
            else:
                clip = render_ball(rng, label, a.frames, a.input)
            clips.append(normalize(clip))
            labels.append(label)
    return torch.stack(clips), torch.tensor(labels)


def cosine(step: int, steps: int, lr: float, warmup: int = 24) -> float:
    return lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scene", choices=("ball", "camera"), default="ball")
    p.add_argument("--masking", choices=("tube", "random"), default="random")
    p.add_argument("--input", type=int, default=32)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--unlabelled", type=int, default=64, help="pretraining clips per class")
    p.add_argument("--labelled", type=int, default=8, help="fine-tuning clips per class")
    p.add_argument("--ratio", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--ft-steps", type=int, default=300)
    p.add_argument("--ft-lr", type=float, default=1e-3)
    p.add_argument("--probe", action="store_true", help="fine-tune only fc_norm and the head")
    p.add_argument("--batch", type=int, default=16)
    a = p.parse_args()
    torch.manual_seed(0)
    x_un, _ = render(a, 0, a.unlabelled)
    x_tr, y_tr = render(a, 1, a.labelled)
    x_va, y_va = render(a, 2, 16)
    shape = dict(img_size=a.input, num_frames=a.frames, patch_size=a.patch)
    net = videomae_pretrain(size="tiny", **shape)
    generator = RandomMaskGenerator if a.masking == "random" else TubeMaskGenerator
    masking, grid = generator(a.ratio), net.encoder.grid

    def masks(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.stack([masking(grid, g) for _ in range(n)])  # (n, N)

    val_masks = masks(len(x_va), torch.Generator().manual_seed(1))
    raw_va = pixel_targets(x_va, a.patch, 2, False)  # (B, N, P), channel fastest
    b, n, p_ = raw_va.shape
    mean_colour = raw_va.reshape(b, n, -1, 3).mean(dim=(1, 2), keepdim=True)
    val_hidden = token_indices(val_masks).decoded  # (B, K) the hidden tokens, ascending
    hidden = gather_tokens(raw_va, val_hidden).reshape(b, -1, p_ // 3, 3)
    baseline = 10 * math.log10(1 / ((hidden - mean_colour) ** 2).mean().item())
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.05)
    g, start = torch.Generator().manual_seed(0), time.time()
    for step in range(a.steps):
        idx = torch.randint(len(x_un), (a.batch,), generator=g)
        for group in opt.param_groups:
            group["lr"] = cosine(step, a.steps, a.lr)
        m = masks(a.batch, g)
        target = pixel_targets(x_un[idx], a.patch, 2, False, ids=token_indices(m).decoded)
        loss = reconstruction_loss(net(x_un[idx], m), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % max(a.steps // 5, 1) == 0:
            with torch.no_grad():
                net.eval()
                mse = F.mse_loss(net(x_va, val_masks), gather_tokens(raw_va, val_hidden)).item()
                net.train()
            print(
                f"step {step + 1}: masked PSNR {10 * math.log10(1 / mse):.1f} dB, mean "
                f"colour {baseline:.1f} dB ({time.time() - start:.0f} s)",
                flush=True,
            )

    def finetune(pretrained: bool) -> tuple[float, float]:
        torch.manual_seed(0)
        clf = videomae_classifier(len(demo.DEMO_CLASSES), size="tiny", **shape)
        if pretrained:
            encoder = {
                k.removeprefix("encoder."): v
                for k, v in net.state_dict().items()
                if k.startswith("encoder.") and not k.startswith("encoder.norm")
            }
            clf.load_state_dict(encoder, strict=False)
        params = (
            [*clf.fc_norm.parameters(), *clf.head.parameters()] if a.probe else clf.parameters()
        )
        o = torch.optim.AdamW(params, lr=a.ft_lr, weight_decay=0.05)
        gg = torch.Generator().manual_seed(2)
        for step in range(a.ft_steps):
            idx = torch.randint(len(x_tr), (a.batch,), generator=gg)
            for group in o.param_groups:
                group["lr"] = cosine(step, a.ft_steps, a.ft_lr)
            loss = F.cross_entropy(clf(x_tr[idx]), y_tr[idx], label_smoothing=0.1)
            o.zero_grad()
            loss.backward()
            o.step()
        clf.eval()
        with torch.no_grad():
            val = (clf(x_va).argmax(1) == y_va).float().mean().item()
            train = (clf(x_tr).argmax(1) == y_tr).float().mean().item()
        return val, train

    for name, pretrained in (("pretrained", True), ("scratch", False)):
        val, train = finetune(pretrained)
        print(f"{name}: val top-1 {100 * val:.1f}%, train top-1 {100 * train:.1f}%", flush=True)


if __name__ == "__main__":
    main()
