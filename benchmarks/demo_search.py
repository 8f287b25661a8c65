"""A fast loop for tuning the demo: pretrain, then fine-tune from the pretrained encoder and from
scratch, on demo clips rendered into memory (no encoding, no decoding, no Lightning).

    uv run python benchmarks/demo_search.py --input 32 --patch 8 --frames 8 --steps 1500

Prints the validation masked-patch PSNR against predicting each clip's mean colour every 100
pretraining steps, then the validation and training accuracy of both classifiers. The model,
masks, targets and loss are the project's; the optimisation is plain AdamW with a linear warmup
and a cosine decay per step. docs/demo.md has the results of earlier runs.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from videomae_ssl.data import demo
from videomae_ssl.data.sampling import center_indices
from videomae_ssl.data.transforms import center_crop_resize, normalize
from videomae_ssl.loss import masked_targets, pixel_targets, reconstruction_loss
from videomae_ssl.masking import TubeMaskGenerator
from videomae_ssl.models import videomae_classifier, videomae_pretrain


def render(split: int, per_class: int, frames: int, rate: int, size: int, flat: bool):
    """Normalised clips (N, 3, T, S, S) and labels (N,), the demo's centre clips."""
    clips, labels = [], []
    for label in range(len(demo.DEMO_CLASSES)):
        for k in range(per_class):
            rng = np.random.default_rng([0, split, label, k])
            total = int(rng.integers(34, 41))
            if flat:  # one colour instead of the ramp: the shape is all there is to rebuild
                level = rng.uniform(30, 225, size=3).astype(np.float32)
                demo_background = demo._background
                demo._background = lambda r, h, w, c=level: np.broadcast_to(c, (h, w, 3)).copy()
            try:
                video = torch.from_numpy(demo.render_clip(rng, label, total, 128, 160))
            finally:
                if flat:
                    demo._background = demo_background
            clip = video[center_indices(total, frames, rate)].permute(0, 3, 1, 2)  # (T, 3, H, W)
            clips.append(normalize(center_crop_resize(clip, size)))  # (3, T, S, S)
            labels.append(label)
    return torch.stack(clips), torch.tensor(labels)


def cosine(step: int, steps: int, lr: float, warmup: int = 24) -> float:
    return lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", type=int, default=112)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--rate", type=int, default=2)
    p.add_argument("--per-class", type=int, default=24)
    p.add_argument("--flat", action="store_true", help="one-colour backgrounds")
    p.add_argument("--ratio", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ft-steps", type=int, default=200)
    p.add_argument("--ft-lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    torch.manual_seed(0)
    x_tr, y_tr = render(0, a.per_class, a.frames, a.rate, a.input, a.flat)
    x_va, y_va = render(1, 6, a.frames, a.rate, a.input, a.flat)
    shape = dict(img_size=a.input, num_frames=a.frames, patch_size=a.patch)
    net = videomae_pretrain(size="tiny", **shape)
    masking, grid = TubeMaskGenerator(a.ratio), net.encoder.grid

    def masks(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.stack([masking(grid, g) for _ in range(n)])  # (n, N)

    val_masks = masks(len(x_va), torch.Generator().manual_seed(1))
    raw_va = pixel_targets(x_va, a.patch, 2, False)  # (B, N, P), channel fastest
    b, n, p_ = raw_va.shape
    mean_colour = raw_va.reshape(b, n, -1, 3).mean(dim=(1, 2), keepdim=True)
    hidden = masked_targets(raw_va, val_masks).reshape(b, -1, p_ // 3, 3)
    baseline = ((hidden - mean_colour) ** 2).mean().item()
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.05)
    g, start = torch.Generator().manual_seed(0), time.time()
    for step in range(a.steps):
        idx = torch.randint(len(x_tr), (a.batch,), generator=g)
        for group in opt.param_groups:
            group["lr"] = cosine(step, a.steps, a.lr)
        m = masks(a.batch, g)
        target = masked_targets(pixel_targets(x_tr[idx], a.patch, 2, False), m)
        loss = reconstruction_loss(net(x_tr[idx], m), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            with torch.no_grad():
                net.eval()
                mse = F.mse_loss(net(x_va, val_masks), masked_targets(raw_va, val_masks)).item()
                net.train()
            print(f"step {step + 1}: masked PSNR {10 * math.log10(1 / mse):.1f} dB, mean "
                  f"colour {10 * math.log10(1 / baseline):.1f} dB ({time.time() - start:.0f} s)",
                  flush=True)  # fmt: skip

    def finetune(pretrained: bool) -> tuple[float, float]:
        torch.manual_seed(0)
        clf = videomae_classifier(len(demo.DEMO_CLASSES), size="tiny", **shape)
        if pretrained:
            encoder = {k.removeprefix("encoder."): v for k, v in net.state_dict().items()
                       if k.startswith("encoder.") and not k.startswith("encoder.norm")}  # fmt: skip
            clf.load_state_dict(encoder, strict=False)
        o = torch.optim.AdamW(clf.parameters(), lr=a.ft_lr, weight_decay=0.05)
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
            every = max(len(x_tr) // 96, 1)  # 96 training clips spread over the classes
            train = (clf(x_tr[::every]).argmax(1) == y_tr[::every]).float().mean().item()
        return val, train

    for name, pretrained in (("pretrained", True), ("scratch", False)):
        val, train = finetune(pretrained)
        print(f"{name}: val top-1 {100 * val:.1f}%, train top-1 {100 * train:.1f}%", flush=True)


if __name__ == "__main__":
    main()
