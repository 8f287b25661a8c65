"""Speed of the model path, measured against transformers' VideoMAE on the same machine.

    python benchmarks/model_speed.py [--quick] [--json FILE] [--sizes small,base] [--batches 1,2]

Rows, for ViT-S and ViT-B at 16x224x224:

- `pretrain_step`: one training step, forward, backward and AdamW step (torch's fused AdamW,
  betas 0.9/0.95, weight decay 0.05 on the weight matrices), at mask ratios 0.9 and 0.95,
  without and with VideoMAE V2's decoder masking (0.5). Ours includes turning the masks into
  indices; theirs (`VideoMAEForPreTraining`) computes its loss inside `forward`. Both compute
  the normalised pixel target.
- `classify`: inference of the classifier (`VideoMAEForVideoClassification`), 400 classes.

Both libraries build the same configuration with the same weights (ours converted with
`to_hf`), take the same inputs and run the same optimizer; transformers uses its SDPA
attention. The first step's losses (logits for `classify`) are compared before timing: equal
math, not just equal shapes. Repeats are interleaved (ours, theirs, ours with decoder masking,
in rotating order) and the median is reported; clips/s = batch / median step time (wall clock,
with device synchronisation on CUDA; `--clock cpu`: the process's CPU time). transformers has no decoder masking: those rows have
`hf_clips_per_s` null and their `ratio` is against transformers' step without it (the same
encoder mask), the speed-up the option buys over it.

Achieved FLOP/s use the analytic counts of `videomae_ssl.flops` (one count for both libraries:
the model's matrix products) and are given as a fraction of the machine's matmul rate,
measured at the start and at the end as the best of several square products in the chosen
dtype.
Peak memory is that of the live tensors in a steady-state step: parameters, inputs and AdamW
state plus the peak of what the step allocates (the torch profiler's memory events on the
CPU, `max_memory_allocated` on CUDA); the allocator's caching is not included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from timm.optim import param_groups_weight_decay
from torch import nn

from videomae_ssl import flops
from videomae_ssl.checkpoints.hf_config import hf_config_for
from videomae_ssl.checkpoints.hf_keys import to_hf
from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import RunningCellMaskGenerator, token_indices, tube_mask
from videomae_ssl.models import videomae_classifier, videomae_pretrain

NUM_CLASSES = 400
DECODER_MASK_RATIO = 0.5
MODEL_NAMES = {"small": "ViT-S", "base": "ViT-B", "tiny": "ViT-Ti (4 blocks)"}

Step = Callable[[], torch.Tensor]


@dataclass
class Row:
    what: str
    model: str
    batch: int
    mask_ratio: float | None
    decoder_mask_ratio: float
    ours_clips_per_s: float
    hf_clips_per_s: float | None
    ratio: float | None
    flops_fraction: float
    hf_flops_fraction: float | None
    gflop_per_clip: float
    ours_peak_mib: float
    hf_peak_mib: float | None
    ours_step_s: list[float] = field(default_factory=list)
    hf_step_s: list[float] | None = None
    hf_reference: str | None = None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Wall-clock time, or the process's CPU time: on a machine shared with other jobs, a
# single-threaded run timed in CPU seconds is not slowed down by them being scheduled instead.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of an (n x n) @ (n x n) product, best of `repeats` after one warm-up."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for i in range(repeats + 1):
        synchronize(device)
        start = clock()
        a @ b
        synchronize(device)
        if i:
            times.append(clock() - start)
    return 2 * n**3 / min(times)


def adamw(model: nn.Module) -> torch.optim.Optimizer:
    """The pretraining optimizer of both libraries: AdamW with no decay on 1-D parameters and
    the mask token, in torch's fused implementation (transformers' `Trainer` default and this
    project's `optim` configs)."""
    groups = param_groups_weight_decay(model, 0.05, no_weight_decay_list={"mask_token"})
    optimizer = torch.optim.AdamW(groups, lr=1.5e-4, betas=(0.9, 0.95), fused=True)
    # Create the optimizer state (a zero-lr step on zero gradients leaves the weights as they
    # are), so that the first measured step is already a steady-state one.
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    lrs = [g["lr"] for g in optimizer.param_groups]
    for g in optimizer.param_groups:
        g["lr"] = 0.0
    optimizer.step()
    for g, lr in zip(optimizer.param_groups, lrs, strict=True):
        g["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    return optimizer


def tensor_bytes(*objs: Any) -> int:
    """Bytes of the tensors in `objs` (tensors, modules, optimizers, lists), each storage once."""
    seen: dict[int, int] = {}

    def visit(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            seen[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        elif isinstance(x, nn.Module):
            for t in (*x.parameters(), *x.buffers()):
                visit(t)
        elif isinstance(x, torch.optim.Optimizer):
            for state in x.state.values():
                for v in state.values():
                    visit(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                visit(v)

    for obj in objs:
        visit(obj)
    return sum(seen.values())


def peak_step_bytes(step: Step, device: torch.device) -> tuple[int, torch.Tensor]:
    """Run `step` once; the peak of the bytes it allocates beyond what was live before, and
    its output."""
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before, out
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = step()
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak, out


@dataclass
class Variant:
    """One thing to time: a step function and what it keeps alive between steps."""

    name: str
    step: Step
    state: tuple[Any, ...]
    times: list[float] = field(default_factory=list)
    peak_bytes: int = 0
    first_output: torch.Tensor | None = None


def prepare(variant: Variant, device: torch.device) -> None:
    """Warm-up step, which also measures the memory and keeps the output for the check."""
    extra, out = peak_step_bytes(variant.step, device)
    variant.peak_bytes = tensor_bytes(*variant.state) + extra
    variant.first_output = out.detach().float().cpu()


def time_interleaved(variants: Sequence[Variant], repeats: int, device: torch.device) -> None:
    for r in range(repeats):
        k = r % len(variants)
        for v in (*variants[k:], *variants[:k]):
            synchronize(device)
            start = clock()
            v.step()
            synchronize(device)
            v.times.append(clock() - start)


def tolerance(dtype: torch.dtype) -> float:
    """How far the two libraries' first outputs may differ, relative to their size."""
    return 1e-3 if dtype == torch.float32 else 5e-2


def check_same(ours: Variant, theirs: Variant, what: str, tol: float) -> None:
    """Equal math: the warm-up outputs (loss or logits) of both libraries agree."""
    a, b = ours.first_output, theirs.first_output
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-12)
    if err > tol:
        raise RuntimeError(f"{what}: ours and transformers disagree (relative error {err:.2e})")


def clips_per_s(v: Variant, batch: int) -> float:
    return batch / statistics.median(v.times)


def hf_model(net: nn.Module, kind: str, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """transformers' model of the same configuration, with our weights, SDPA attention."""
    import transformers

    hf_kwargs = hf_config_for({**net.config.as_dict(), **net.options}, kind)
    for key in ("model_type", "architectures", "torch_dtype"):
        hf_kwargs.pop(key)
    config = transformers.VideoMAEConfig(**hf_kwargs, attn_implementation="sdpa")
    cls = (
        transformers.VideoMAEForPreTraining
        if kind == "pretrain"
        else transformers.VideoMAEForVideoClassification
    )
    model = cls(config)
    model.load_state_dict(to_hf(net.state_dict()), strict=True)
    # transformers leaves these two LayerNorms at torch's eps 1e-5; ours (the original) use 1e-6.
    for module in (
        getattr(getattr(model, "decoder", None), "norm", None),
        getattr(model, "fc_norm", None),
    ):
        if isinstance(module, nn.LayerNorm):
            module.eps = 1e-6
    return model.to(device, dtype)


def batch_masks(batch: int, grid: tuple[int, int, int], ratio: float, seed: int) -> torch.Tensor:
    """Bool[B, N] tube masks, as the data loader draws them."""
    gens = (torch.Generator().manual_seed(seed + i) for i in range(batch))
    return torch.stack([tube_mask(grid, ratio, g) for g in gens])


@dataclass
class Models:
    """Ours and transformers' model of one size with their optimizers, built once per size."""

    net: nn.Module
    opt: torch.optim.Optimizer | None = None
    hf: nn.Module | None = None
    hf_opt: torch.optim.Optimizer | None = None


def pretrain_models(
    size: str, clip: tuple[int, int], device: torch.device, dtype: torch.dtype, with_hf: bool
) -> Models:
    torch.manual_seed(0)
    net = videomae_pretrain(size, img_size=clip[1], num_frames=clip[0]).to(device, dtype)
    models = Models(net.train(), adamw(net))
    if with_hf:
        models.hf = hf_model(net, "pretrain", device, dtype).train()
        models.hf_opt = adamw(models.hf)
    return models


def classify_models(
    size: str, clip: tuple[int, int], device: torch.device, dtype: torch.dtype, with_hf: bool
) -> Models:
    torch.manual_seed(0)
    net = videomae_classifier(NUM_CLASSES, size, img_size=clip[1], num_frames=clip[0])
    net = net.to(device, dtype).eval()
    return Models(net, hf=hf_model(net, "classify", device, dtype).eval() if with_hf else None)


def bench_pretrain(
    models: Models,
    size: str,
    batch: int,
    mask_ratio: float,
    repeats: int,
    device: torch.device,
    dtype: torch.dtype,
) -> list[Row]:
    net, opt, hf, hf_opt = models.net, models.opt, models.hf, models.hf_opt
    if hf is not None:  # the same weights again after the steps of earlier rows
        hf.load_state_dict(to_hf(net.state_dict()))
    frames, px = net.encoder.num_frames, net.encoder.img_size
    torch.manual_seed(0)
    video = torch.randn(batch, 3, frames, px, px).to(device, dtype)
    mask = batch_masks(batch, net.grid, mask_ratio, seed=0)  # on the host, as from the loader
    decoder_masking = RunningCellMaskGenerator(DECODER_MASK_RATIO)
    g = torch.Generator().manual_seed(0)
    decoder_mask = torch.stack([decoder_masking(net.grid, g) for _ in range(batch)])
    patch, tubelet = net.patch_size, net.tubelet_size

    def our_step(dmask: torch.Tensor | None) -> Step:
        def step() -> torch.Tensor:
            ids = token_indices(mask, dmask)  # the step's one look at the masks, on the host
            ids = type(ids)(*(None if t is None else t.to(device) for t in ids))
            pred = net(video, ids)  # (B, K, P)
            target = pixel_targets(video, patch, tubelet, ids=ids.decoded)  # (B, K, P)
            loss = reconstruction_loss(pred, target, ids.loss_mask)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

        return step

    variants = [Variant("ours", our_step(None), (net, opt, video))]
    variants.append(Variant("ours_dm", our_step(decoder_mask), (net, opt, video)))
    if hf is not None:
        hf_video, hf_mask = video.transpose(1, 2), mask.to(device)  # theirs: (B, T, C, H, W)

        def hf_step() -> torch.Tensor:
            loss = hf(pixel_values=hf_video, bool_masked_pos=hf_mask).loss
            loss.backward()
            hf_opt.step()
            hf_opt.zero_grad(set_to_none=True)
            return loss

        variants.insert(1, Variant("hf", hf_step, (hf, hf_opt, video)))
    for v in variants:
        prepare(v, device)
    ours, dm = variants[0], variants[-1]
    theirs = variants[1] if hf is not None else None
    if theirs is not None:
        check_same(ours, theirs, f"{size} pretrain_step", tolerance(dtype))
    time_interleaved(variants, repeats, device)

    n = net.config.num_tokens
    n_masked = int(mask[0].sum())
    n_kept = n - int(decoder_mask[0].sum())
    rows = []
    for v, dm_ratio, n_dec in ((ours, 0.0, n_masked), (dm, DECODER_MASK_RATIO, n_kept)):
        step_flops = flops.pretrain_step_flops(net.config, n - n_masked, n_dec)
        speed = clips_per_s(v, batch)
        hf_speed = clips_per_s(theirs, batch) if theirs else None
        rows.append(
            Row(
                what="pretrain_step",
                model=MODEL_NAMES.get(size, size),
                batch=batch,
                mask_ratio=mask_ratio,
                decoder_mask_ratio=dm_ratio,
                ours_clips_per_s=speed,
                hf_clips_per_s=hf_speed if dm_ratio == 0 else None,
                ratio=speed / hf_speed if hf_speed else None,
                flops_fraction=0.0,  # set by `set_fractions` once the rate is known
                hf_flops_fraction=None,
                gflop_per_clip=step_flops / 1e9,
                ours_peak_mib=v.peak_bytes / 2**20,
                hf_peak_mib=theirs.peak_bytes / 2**20 if theirs and not dm_ratio else None,
                ours_step_s=v.times,
                hf_step_s=theirs.times if theirs and not dm_ratio else None,
                hf_reference=(
                    None
                    if not theirs
                    else "VideoMAEForPreTraining"
                    if not dm_ratio
                    else "VideoMAEForPreTraining without decoder masking (it has none)"
                ),
            )
        )
    return rows


def bench_classify(
    models: Models,
    size: str,
    batch: int,
    repeats: int,
    device: torch.device,
    dtype: torch.dtype,
) -> list[Row]:
    net, hf = models.net, models.hf
    torch.manual_seed(0)
    video = torch.randn(batch, 3, net.num_frames, net.img_size, net.img_size).to(device, dtype)

    def inference(fn: Step) -> Step:
        def step() -> torch.Tensor:
            with torch.inference_mode():
                return fn()

        return step

    variants = [Variant("ours", inference(lambda: net(video)), (net, video))]
    if hf is not None:
        hf_video = video.transpose(1, 2)
        variants.append(
            Variant("hf", inference(lambda: hf(pixel_values=hf_video).logits), (hf, video))
        )
    for v in variants:
        prepare(v, device)
    ours = variants[0]
    theirs = variants[1] if hf is not None else None
    if theirs is not None:
        check_same(ours, theirs, f"{size} classify", tolerance(dtype))
    time_interleaved(variants, repeats, device)
    fl = flops.classify_flops(net.config, net.num_classes)
    speed = clips_per_s(ours, batch)
    hf_speed = clips_per_s(theirs, batch) if theirs else None
    return [
        Row(
            what="classify",
            model=MODEL_NAMES.get(size, size),
            batch=batch,
            mask_ratio=None,
            decoder_mask_ratio=0.0,
            ours_clips_per_s=speed,
            hf_clips_per_s=hf_speed,
            ratio=speed / hf_speed if hf_speed else None,
            flops_fraction=0.0,
            hf_flops_fraction=None,
            gflop_per_clip=fl / 1e9,
            ours_peak_mib=ours.peak_bytes / 2**20,
            hf_peak_mib=theirs.peak_bytes / 2**20 if theirs else None,
            ours_step_s=ours.times,
            hf_step_s=theirs.times if theirs else None,
            hf_reference="VideoMAEForVideoClassification" if theirs else None,
        )
    ]


def machine(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    try:
        import timm

        info["timm"] = timm.__version__
    except ImportError:
        info["timm"] = None
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = (
        f"{cpu}, {os.cpu_count()} logical cores, {torch.backends.cpu.get_cpu_capability()}"
    )
    return info


def set_fractions(rows: Sequence[Row], rate: float) -> None:
    """Achieved FLOP/s (analytic FLOPs per clip x clips/s) as a fraction of `rate`."""
    for r in rows:
        r.flops_fraction = r.gflop_per_clip * 1e9 * r.ours_clips_per_s / rate
        if r.hf_clips_per_s is not None:
            r.hf_flops_fraction = r.gflop_per_clip * 1e9 * r.hf_clips_per_s / rate


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    head = (
        "| what | model | batch | mask | dec. mask | ours clips/s | HF clips/s | ours / HF "
        "| ours FLOP frac. | HF FLOP frac. | GFLOP/clip | ours peak MiB | HF peak MiB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        hf = _fmt(r.hf_clips_per_s, 3)
        if r.hf_clips_per_s is None and r.ratio is not None:
            hf = "(no equivalent)"
        lines.append(
            f"| {r.what} | {r.model} | {r.batch} | {_fmt(r.mask_ratio)} | "
            f"{_fmt(r.decoder_mask_ratio)} | {r.ours_clips_per_s:.3f} | {hf} | "
            f"{_fmt(r.ratio)} | {r.flops_fraction:.2f} | {_fmt(r.hf_flops_fraction)} | "
            f"{r.gflop_per_clip:.1f} | {r.ours_peak_mib:.0f} | {_fmt(r.hf_peak_mib, 0)} |"
        )
    return head + "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python benchmarks/model_speed.py",
        description="Pretraining step and inference speed, ours against transformers' VideoMAE.",
    )
    p.add_argument("--quick", action="store_true", help="batch 1 (8 on CUDA), 2 repeats")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--sizes", default="small,base", help="model sizes (default: small,base)")
    p.add_argument("--batches", type=_ints, help="batch sizes (default: 1,2,4; CUDA 8,16,32)")
    p.add_argument("--mask-ratios", type=_floats, default=[0.9, 0.95])
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--img-size", type=int, default=224, help="frame side in pixels (default 224)")
    p.add_argument("--repeats", type=int, help="timed steps per variant (default 5, quick 2)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall clock, or the process's CPU time (meaningful with --threads 1 on a busy CPU)",
    )
    p.add_argument("--no-hf", action="store_true", help="ours only")
    p.add_argument("--no-classify", action="store_true", help="pretraining rows only")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    global clock
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    clock = CLOCKS[args.clock]
    if args.clock == "cpu" and device.type != "cpu":
        raise SystemExit("--clock cpu times the CPU: use it with --device cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    batches = args.batches or ([8] if cuda else [1]) if args.quick else args.batches
    batches = batches or ([8, 16, 32] if cuda else [1, 2, 4])
    repeats = args.repeats or (2 if args.quick else 5)
    sizes = [s for s in args.sizes.split(",") if s]
    clip = (args.frames, args.img_size)
    with_hf = not args.no_hf
    if with_hf:
        try:
            import transformers  # noqa: F401
        except ImportError:
            print("transformers is not installed: measuring ours only", file=sys.stderr)
            with_hf = False

    load_before = load_average()
    cores = os.cpu_count() or 1
    if load_before and load_before[0] > cores / 2 and not cuda and args.clock == "wall":
        print(
            f"note: load average {load_before[0]} on {cores} cores: other processes compete for "
            "the CPU and wall-clock step times will swing; --threads 1 --clock cpu is steadier",
            file=sys.stderr,
        )
    started = time.perf_counter()
    n, k = (4096 if cuda else 2048), (5 if args.quick else 10)
    rate_before = matmul_rate(device, dtype, n, k)
    print(f"matmul rate: {rate_before / 1e9:.1f} GFLOP/s ({args.dtype})", file=sys.stderr)
    rows: list[Row] = []
    for size in sizes:
        models = pretrain_models(size, clip, device, dtype, with_hf)
        for batch in batches:
            for ratio in args.mask_ratios:
                print(f"pretrain_step {size} batch {batch} mask {ratio}", file=sys.stderr)
                rows += bench_pretrain(models, size, batch, ratio, repeats, device, dtype)
        del models
        if not args.no_classify:
            models = classify_models(size, clip, device, dtype, with_hf)
            for batch in batches:
                print(f"classify {size} batch {batch}", file=sys.stderr)
                rows += bench_classify(models, size, batch, repeats, device, dtype)
            del models
    # Measured again at the end: the better of the two is the machine's rate, whatever else
    # ran at the start.
    rate_after = matmul_rate(device, dtype, n, k)
    rate = max(rate_before, rate_after)
    set_fractions(rows, rate)
    return {
        "command": "python benchmarks/model_speed.py " + shlex.join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(device),
        "clip": f"{args.frames}x{args.img_size}x{args.img_size}",
        "dtype": args.dtype,
        "clock": args.clock,
        "matmul_gflops": rate / 1e9,
        "matmul_gflops_start_end": [rate_before / 1e9, rate_after / 1e9],
        "repeats": repeats,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": [asdict(r) for r in rows],
        "table": table(rows),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    m = result["machine"]
    print(
        f"{result['clip']} clips; {m['cpu']}; torch {m['torch']} ({m['torch_threads']} threads), transformers "
        f"{m['transformers']}; {result['dtype']}, {result['clock']} clock, matmul {result['matmul_gflops']:.1f} GFLOP/s; "
        f"median of {result['repeats']} interleaved repeats; load average "
        f"{result['load_average_before']} -> {result['load_average_after']}; "
        f"{result['seconds']} s"
    )
    print(result["table"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
