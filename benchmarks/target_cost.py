"""Cost of target=teacher (MVD) against target=pixel: step time and peak memory, as ratios.

One training step is the module's loss (`VideoMAEPretrainModule.shared_step`: the student, and
for target=teacher the frozen teachers under no_grad), backward and an AdamW step. Each target
runs in a fresh child process of this script, so that its peak memory is its own: on CUDA
`torch.cuda.max_memory_allocated`, on the CPU the process's peak resident set (`ru_maxrss`,
weights, activations and the Python runtime together). The teachers have random weights: the
cost does not depend on them. Prints a Markdown table; `--results` appends it with the machine
and the command.

    python benchmarks/target_cost.py [--student small] [--teacher base] [--batch 2]
        [--frames 16] [--img-size 224] [--steps 3] [--results benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import torch


def build(target: str, args: argparse.Namespace):
    """The pretraining module of `target` (pixel or teacher) and its device."""
    from timm.models.vision_transformer import VisionTransformer

    from videomae_ssl.checkpoints.teachers import ImageTeacher, VideoTeacher
    from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
    from videomae_ssl.loss.feature_targets import Teacher, TeacherTarget
    from videomae_ssl.models import videomae_pretrain
    from videomae_ssl.models.sizes import size_config

    geometry = dict(img_size=args.img_size, num_frames=args.frames, patch_size=16, tubelet_size=2)
    if target == "pixel":
        return VideoMAEPretrainModule(videomae_pretrain(args.student, **geometry))
    config = size_config(args.teacher, **geometry)
    video = VideoTeacher(config)
    vit = VisionTransformer(
        img_size=args.img_size,
        patch_size=16,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        num_classes=0,
    )
    image = ImageTeacher(vit, args.img_size, 2)
    width = config.embed_dim
    teachers = TeacherTarget(
        [Teacher("image", image, 1.0, width, {}), Teacher("video", video, 1.0, width, {})],
        loss="smooth_l1",
    )
    net = videomae_pretrain(
        args.student, decoder_out_dim=width, extra_decoder_dims=[width], **geometry
    )
    return VideoMAEPretrainModule(net, target=teachers)


def measure(target: str, args: argparse.Namespace) -> dict:
    """Median seconds per step (after one warm-up step) and peak memory in MiB."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    module = build(target, args).to(device)
    module.place_target()
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    tokens = (args.frames // 2) * (args.img_size // 16) ** 2
    mask = torch.zeros(args.batch, tokens, dtype=torch.bool)
    mask[:, : int(tokens * 0.9)] = True  # tube-like count; positions do not change the cost
    batch = {
        "video": torch.randn(args.batch, 3, args.frames, args.img_size, args.img_size),
        "mask": mask[:, torch.randperm(tokens)],
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    times = []
    for step in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss, _ = module.shared_step(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        what = "CUDA max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        what = "peak RSS of the process"
    return {
        "step_s": statistics.median(times),
        "peak_mib": peak,
        "memory": what,
        "device": str(device),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {torch.get_num_threads()} threads{gpu}; torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default="small")
    parser.add_argument("--teacher", default="base")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--only", choices=["pixel", "teacher"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:  # the child process: one target, its numbers as JSON on the last line
        print(json.dumps(measure(args.only, args)))
        return 0
    command = [sys.executable, str(Path(__file__).resolve()), *(argv or sys.argv[1:])]
    command = [c for c in command if not c.startswith("--results")]
    rows = {}
    for target in ("pixel", "teacher"):
        child = [a for a in command if a != str(args.results)] + ["--only", target]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        rows[target] = json.loads(out.stdout.strip().splitlines()[-1])
    pixel, teacher = rows["pixel"], rows["teacher"]
    table = [
        f"Student ViT-{args.student}, teachers ViT-{args.teacher} (video + image), batch "
        f"{args.batch}, {args.frames} frames at {args.img_size} px, mask 0.9, median of "
        f"{args.steps} steps after one warm-up, on {pixel['device']}; memory: {pixel['memory']}.",
        "",
        "| target | s / step | peak MiB |",
        "|---|---:|---:|",
        f"| pixel | {pixel['step_s']:.3f} | {pixel['peak_mib']:.0f} |",
        f"| teacher | {teacher['step_s']:.3f} | {teacher['peak_mib']:.0f} |",
        f"| ratio teacher / pixel | {teacher['step_s'] / pixel['step_s']:.2f} | "
        f"{teacher['peak_mib'] / pixel['peak_mib']:.2f} |",
    ]
    text = "\n".join(table)
    print(text)
    if args.results:
        shown = " ".join(["python benchmarks/target_cost.py", *(argv or sys.argv[1:])])
        with open(args.results, "a") as f:
            f.write(
                f"\n## Cost of target=teacher, {datetime.now():%Y-%m-%d %H:%M}\n\n"
                f"Machine: {machine()}.\nCommand: `{shown}`.\n\n{text}\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
