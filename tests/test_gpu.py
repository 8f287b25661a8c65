"""On a CUDA device: bf16 autocast tracks fp32, and the demo trains with `trainer=gpu`.

Run with `uv run pytest -m gpu` on a machine with a GPU; elsewhere these tests are skipped.
"""

import os
import subprocess
import sys

import pytest
import torch

from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import token_indices, tube_mask
from videomae_ssl.models import videomae_pretrain

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_bf16_autocast_tracks_fp32():
    torch.manual_seed(0)
    net = videomae_pretrain("small", img_size=112, num_frames=16).to("cuda")
    video = torch.randn(4, 3, 16, 112, 112, device="cuda")
    g = torch.Generator().manual_seed(0)
    mask = torch.stack([tube_mask((8, 7, 7), 0.9, g) for _ in range(4)]).to("cuda")
    target = pixel_targets(video, 16, 2, True, ids=token_indices(mask).decoded)
    ref = net(video, mask)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = net(video, mask)
        loss = reconstruction_loss(out, target)
    assert out.dtype == torch.bfloat16 and loss.dtype == torch.float32
    rel = (out.float() - ref).norm() / ref.norm()
    assert rel < 3e-2, rel
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_demo_trains_in_bf16_on_one_gpu(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "videomae_ssl.train",
            "experiment=demo",
            "trainer=gpu",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'run'}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=4",
            "trainer.limit_val_batches=1",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_torchcodec_decodes_on_the_gpu_like_on_the_cpu(tmp_path):
    # Needs FFmpeg with NVDEC; a machine without it gets the ConfigError naming the key.
    from clips import write_clip

    from videomae_ssl.data.readers import open_video

    path = tmp_path / "clip.mp4"
    write_clip(path, num_frames=8)
    with (
        open_video(str(path), "torchcodec") as cpu,
        open_video(str(path), "torchcodec", device="cuda") as gpu,
    ):
        on_cpu, on_gpu = cpu.read([0, 3, 7]), gpu.read([0, 3, 7])
    assert on_gpu.device.type == "cuda" and on_gpu.shape == on_cpu.shape
    # NVDEC's colour conversion rounds differently from FFmpeg's: close, not equal.
    assert (on_gpu.cpu().float() - on_cpu.float()).abs().mean() < 3
