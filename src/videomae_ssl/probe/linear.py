"""The linear probe, trained on cached frozen features.

A `LinearProbe` (MAE's: a BatchNorm without affine, then Linear) trained with AdamW, a linear
warmup then a per-step cosine to 0. MAE trains it with LARS at a learning rate tuned for
batches of 16384 images (`main_linprobe.py`); LARS changes each weight matrix by a fixed
fraction of its norm per step, so with the few steps per epoch of a video dataset's features
it barely leaves its initialisation. AdamW with the BatchNorm in front does not depend on the
scale of the features either, and converges in the 90 epochs of the recipe at any dataset
size. The features are computed once, so an epoch is a few matrix products.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from videomae_ssl.optim.param_groups import weight_decay_groups
from videomae_ssl.optim.schedules import warmup_cosine
from videomae_ssl.probe.features import FeatureSet
from videomae_ssl.probe.heads import LinearProbe
from videomae_ssl.probe.settings import LinearSettings


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled epoch of row indices in batches; a last batch of one row (which BatchNorm
    cannot normalise) joins the one before it."""
    batches = list(torch.randperm(n, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def train_head(
    head: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    lr_at: Callable[[int], float] | None = None,
    progress: bool = False,
) -> torch.nn.Module:
    """`epochs` of `head` on the features x (N, D) and labels y (N,), in shuffled batches of
    `generator`'s draws (one permutation per epoch), with cross entropy; `lr_at(step)` sets the
    learning rate of every step (None: the optimizer's own). Gradients stay with the head: a
    caller passes features without a graph (`detach`). A lone row, which BatchNorm cannot
    normalise, is skipped. Returns the head in eval mode."""
    head.train()
    step = 0
    bar = tqdm(range(epochs), desc="Linear probe", unit="epoch", disable=not progress)
    with torch.enable_grad():
        for _ in bar:
            for rows in _batches(len(x), batch_size, generator):
                if len(rows) < 2:
                    continue
                if lr_at is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = lr_at(step)
                rows = rows.to(x.device)
                loss = F.cross_entropy(head(x[rows]), y[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
            if step:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
    return head.eval()


def train_linear_probe(
    train: FeatureSet,
    num_classes: int,
    settings: LinearSettings | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> LinearProbe:
    """A `LinearProbe` trained on `train`'s features (N, D) and labels; deterministic for a
    seed on the CPU. Returns it in eval mode, on `device`."""
    settings = settings or LinearSettings()
    if len(train) < 2:
        raise ValueError(f"the linear probe needs at least 2 training features, got {len(train)}")
    x = train.features.float().to(device)  # (N, D)
    y = train.labels.long().to(device)  # (N,)
    torch.manual_seed(seed)  # the head's initialisation
    head = LinearProbe(x.shape[1], num_classes).to(device)
    batch_size = min(settings.batch_size, len(x))
    lr = settings.lr
    optimizer = torch.optim.AdamW(weight_decay_groups(head, settings.weight_decay), lr=lr)
    steps_per_epoch = len(_batches(len(x), batch_size, torch.Generator().manual_seed(0)))
    total = settings.epochs * steps_per_epoch
    warmup = min(math.floor(settings.warmup_epochs * steps_per_epoch), total)
    train_head(
        head,
        optimizer,
        x,
        y,
        epochs=settings.epochs,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed),
        lr_at=lambda step: warmup_cosine(step, total, warmup, lr, 0.0),
        progress=progress,
    )
    return head


@torch.no_grad()
def probe_logits(
    head: torch.nn.Module, features: torch.Tensor, batch_size: int = 8192
) -> torch.Tensor:
    """(M, D) features -> (M, num_classes) float32 logits of a trained head (in eval mode)."""
    device = next(head.parameters()).device
    parts = [head(chunk.float().to(device)).float().cpu() for chunk in features.split(batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, head.head.out_features)
