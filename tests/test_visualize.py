"""Reconstruction pictures and PSNR: the pure functions, the command and the training callback."""

from __future__ import annotations

import math
import re

import lightning as L
import numpy as np
import pytest
import torch
from clips import write_clip
from PIL import Image
from torch.utils.data import DataLoader

from videomae_ssl.callbacks.reconstruction import ReconstructionGrid
from videomae_ssl.callbacks.summary import RunSummary
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.models import (
    VideoMAEConfig,
    VideoMAEPretrainModel,
    videomae_classifier,
    videomae_pretrain,
)
from videomae_ssl.models.build import model_record
from videomae_ssl.visualize import frame_grid, main, masked_psnr

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
P, Q = 8, 2  # patch and tubelet of the hand-built case: a 2x2x2 token grid on 4x16x16 clips
PSNR_LINE = re.compile(
    r"^masked-patch PSNR: (\d+\.\d) dB \(predicting each clip's mean colour: (\d+\.\d) dB\)$",
    re.M,
)


def hand_case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pixels in [0.2, 0.8] (2, 3, 4, 16, 16), their normalised video, mask Bool[2, 8] with
    five hidden tokens in each clip)."""
    pixels = 0.2 + 0.6 * torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, [0, 2, 3, 5, 7]] = True
    mask[1, [1, 2, 4, 6, 7]] = True
    return pixels, (pixels - MEAN) / STD, mask


def token_pixels(pixels: torch.Tensor, b: int, n: int) -> torch.Tensor:
    """Token n of clip b, written out: its (t, h, w) cell in the 2x2x2 grid, pixels in (t, y, x)
    order with the channel fastest -> (Q * P * P * 3,)."""
    t, h, w = n // 4, (n // 2) % 2, n % 2
    cell = pixels[b, :, Q * t : Q * t + Q, P * h : P * h + P, P * w : P * w + P]  # (3, Q, P, P)
    return cell.permute(1, 2, 3, 0).reshape(-1)


def hidden_pixel_mask(mask: torch.Tensor) -> torch.Tensor:
    """Bool[2, 8] over tokens -> Bool[2, 1, 4, 16, 16] over pixels."""
    grid = mask.reshape(2, 2, 2, 2)  # (B, T', H', W')
    return grid.repeat_interleave(Q, 1).repeat_interleave(P, 2).repeat_interleave(P, 3)[:, None]


def mean_colour_psnr(pixels: torch.Tensor, mask: torch.Tensor) -> float:
    """Each clip's per-channel mean over all its pixels, as the prediction of the hidden ones."""
    hidden = hidden_pixel_mask(mask).expand_as(pixels)
    mean = pixels.mean(dim=(2, 3, 4), keepdim=True)  # (B, 3, 1, 1, 1)
    mse = ((pixels - mean) ** 2)[hidden].mean()
    return 10 * math.log10(1 / float(mse))


def test_psnr_of_a_known_error_on_the_hidden_tokens():
    pixels, video, mask = hand_case()
    # Raw-pixel predictions off by 0.05 in clip 0 and 0.15 in clip 1, on every hidden pixel.
    errors = (0.05, 0.15)
    pred = torch.stack(
        [
            torch.stack([token_pixels(pixels, b, n) + errors[b] for n in mask[b].nonzero()[:, 0]])
            for b in range(2)
        ]
    )
    masked, baseline = masked_psnr(video, mask, pred, P, Q, norm_pix=False)
    mse = (5 * 0.05**2 + 5 * 0.15**2) / 10  # equal numbers of hidden pixels per clip
    assert masked == pytest.approx(10 * math.log10(1 / mse), abs=1e-3)
    assert baseline == pytest.approx(mean_colour_psnr(pixels, mask), abs=1e-3)
    # The visible tokens play no part: a different mask gives a different baseline.
    other = mask.roll(1, dims=1)
    assert masked_psnr(video, other, pred, P, Q, norm_pix=False)[1] != pytest.approx(baseline)


def test_psnr_with_normalised_pixel_predictions():
    pixels, video, mask = hand_case(seed=1)
    # Standardised targets (unbiased std + 1e-6 per token and channel) shifted by 0.5 std:
    # mapped back with each token's own mean and std the error is 0.5 * (std + 1e-6).
    preds, squared = [], []
    for b in range(2):
        rows = []
        for n in mask[b].nonzero()[:, 0]:
            x = token_pixels(pixels, b, n).reshape(-1, 3)  # (Q*P*P, 3)
            std = x.std(dim=0, unbiased=True)
            rows.append(((x - x.mean(dim=0)) / (std + 1e-6) + 0.5).reshape(-1))
            squared.append((0.5 * (std + 1e-6)) ** 2)  # (3,), the same for all of a channel
        preds.append(torch.stack(rows))
    masked, _ = masked_psnr(video, mask, torch.stack(preds), P, Q, norm_pix=True)
    mse = float(torch.stack(squared).mean())
    assert masked == pytest.approx(10 * math.log10(1 / mse), abs=1e-3)


# Frames 96 px high are drawn as they are; 32 px high ones three times larger.
@pytest.mark.parametrize(("h", "w", "scale"), [(96, 72, 1), (32, 24, 3)])
def test_frame_grid_draws_every_frame_once_in_labelled_rows(h, w, scale):
    b, t = 2, 6
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]  # original, masked, recon
    clips = [torch.tensor(c).view(1, 3, 1, 1, 1).expand(b, 3, t, h, w) for c in colours]
    mask = torch.zeros(b, 12, dtype=torch.bool)
    mask[:, :9] = True
    image = frame_grid(*clips, num_frames=4, mask=mask)
    pixels = torch.from_numpy(np.array(image.convert("RGB")))  # (H, W, 3)
    h, w = h * scale, w * scale  # as drawn
    rows = []
    for c in colours:
        hit = (pixels == torch.tensor(c).mul(255).to(torch.uint8)).all(dim=-1)  # (H, W)
        assert int(hit.sum()) == b * 4 * h * w  # two clips x four frames, none cut or doubled
        rows.append(hit.nonzero()[:, 0].float().mean())
    assert rows[0] < rows[1] < rows[2]  # original above masked above reconstruction
    # Three rows of frames per clip, a header and names beside them, but not much more.
    assert b * 3 * h < image.height < b * 3 * h + 80
    assert 4 * w < image.width < 4 * w + 160
    dark = pixels.int().sum(dim=-1) < 200  # text
    assert dark[:, : image.width - 4 * (w + 2)].any()  # the row names at the left
    assert dark[: int(rows[0]) - h // 2].any()  # the frame numbers on top


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_clip(path, num_frames=24, size=(64, 48))
    return path


def save_pretrain(path, norm_pix_loss: bool = True):
    torch.manual_seed(0)
    model = videomae_pretrain(size="tiny", img_size=32, patch_size=8, num_frames=4)
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
            "videomae_ssl": model_record(model),
            "hyper_parameters": {"norm_pix_loss": norm_pix_loss},
        },
        path,
    )
    return path


def test_command_writes_the_picture_the_animation_and_the_psnr(tmp_path, video, capsys):
    ckpt = save_pretrain(tmp_path / "pre.ckpt")
    out = tmp_path / "pictures" / "recon.png"
    args = [str(ckpt), str(video), "--out", str(out), "--backend", "pyav", "--device", "cpu"]
    assert main([*args, "--gif", "--mask-ratio", "0.75"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and f"wrote {out.with_suffix('.gif')}" in printed
    # 24 frames, a window of 4 x 4: starts 0..8, the middle one is 4; int(0.75 * 16) of 16.
    assert "frames 4-16 (4 frames 4 apart)" in printed and "tube mask 75%" in printed
    assert PSNR_LINE.search(printed) and "normalised-pixel target" in printed
    with Image.open(out) as image:
        # One clip: rows original, masked, reconstruction of the model's 4 frames at 32 px,
        # drawn 3 times larger.
        assert 3 * 96 < image.height < 3 * 96 + 60 and 4 * 96 < image.width < 4 * 96 + 160
        first = image.convert("RGB").copy()
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 4 and gif.width > 3 * 32 and gif.height > 32
    # The mask is drawn from the seed: the same seed gives the same picture, another does not.
    assert main([*args, "--mask-ratio", "0.75"]) == 0
    with Image.open(out) as image:
        assert image.convert("RGB").tobytes() == first.tobytes()
    assert main([*args, "--mask-ratio", "0.75", "--seed", "1"]) == 0
    with Image.open(out) as image:
        assert image.convert("RGB").tobytes() != first.tobytes()


def test_command_takes_the_centre_clip_and_raw_pixels(tmp_path, video, capsys):
    ckpt = save_pretrain(tmp_path / "raw.ckpt", norm_pix_loss=False)
    out = tmp_path / "raw.png"
    argv = [
        str(ckpt),
        str(video),
        "--out",
        str(out),
        "--backend",
        "pyav",
        "--device",
        "cpu",
        "--sampling-rate",
        "2",
        "--masking",
        "random",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    # 24 frames, a window of 4 x 2: starts 0..16, the middle one is 8.
    # int(0.9 * 32) of 32 tokens hidden: 88%.
    assert "frames 8-14 (4 frames 2 apart)" in printed and "random mask 88%" in printed
    assert "raw pixels" in printed and "normalised-pixel target" not in printed
    assert PSNR_LINE.search(printed)


def test_command_refuses_a_classifier_and_bad_flags(tmp_path, video, capsys):
    model = videomae_classifier(num_classes=3, size="tiny", img_size=32, patch_size=8, num_frames=4)
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
            "videomae_ssl": model_record(model),
        },
        tmp_path / "cls.ckpt",
    )
    out = str(tmp_path / "x.png")
    assert main([str(tmp_path / "cls.ckpt"), str(video), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "no decoder to reconstruct pixels; use a pretraining checkpoint" in err
    assert err.count("\n") == 1
    ckpt = str(save_pretrain(tmp_path / "pre.ckpt"))
    assert main([ckpt, str(video), "--out", out, "--frames", "8"]) == 2
    assert capsys.readouterr().err.startswith("error: --frames 8: the model in")
    assert main([ckpt, str(video), "--out", out, "--mask-ratio", "1.5"]) == 2
    assert "--mask-ratio=1.5" in capsys.readouterr().err
    assert main([ckpt, str(video), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "ending in .png" in capsys.readouterr().err
    assert main([ckpt, str(tmp_path / "missing.mp4"), "--out", out]) == 2
    assert f"{tmp_path / 'missing.mp4'}: no such video file" in capsys.readouterr().err


class Clips(torch.utils.data.Dataset):
    """Random clips (3, 4, 32, 32) with a fixed 75% mask."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        mask = torch.zeros(32, dtype=torch.bool)
        mask[torch.randperm(32, generator=g)[:24]] = True
        return {"video": torch.randn(3, 4, 32, 32, generator=g), "mask": mask}


class Data(L.LightningDataModule):
    batch_size = 2

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Clips(), batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(Clips(), batch_size=self.batch_size)


def test_callback_writes_pictures_logs_psnr_and_the_summary_prints_it(tmp_path, capsys):
    net = VideoMAEPretrainModel(
        VideoMAEConfig(
            img_size=32,
            patch_size=8,
            num_frames=4,
            embed_dim=48,
            depth=1,
            num_heads=4,
            decoder_embed_dim=32,
            decoder_depth=1,
            decoder_num_heads=2,
        )
    )
    module = VideoMAEPretrainModule(net, warmup_epochs=0, norm_pix_loss=False)
    grid = ReconstructionGrid(str(tmp_path / "recon"), num_clips=2, num_frames=3)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[grid, RunSummary()],
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=Data())
    names = sorted(p.name for p in (tmp_path / "recon").iterdir())
    assert names == ["epoch_000.png", "epoch_001.png", "latest.png"]
    with Image.open(tmp_path / "recon" / "latest.png") as image:
        # Two clips of three rows of 32 px frames, drawn 3 times larger.
        assert 2 * 3 * 96 < image.height < 2 * 3 * 96 + 80
    metrics = trainer.callback_metrics
    assert float(metrics["val/psnr_masked"]) == pytest.approx(grid.psnr[0])
    assert float(metrics["val/psnr_mean_colour"]) == pytest.approx(grid.psnr[1])
    out = capsys.readouterr().out
    m = PSNR_LINE.search(out.replace("  masked-patch", "masked-patch"))
    assert m and float(m[1]) == pytest.approx(grid.psnr[0], abs=0.05)
    assert f"reconstructions: {tmp_path / 'recon' / 'latest.png'}" in out


def test_command_with_motion_masking_adds_the_motion_row(tmp_path, capsys):
    from clips import write_square_clip

    square = tmp_path / "square.mp4"
    write_square_clip(square, num_frames=24, size=(96, 64))
    ckpt = save_pretrain(tmp_path / "pre.ckpt")
    out = tmp_path / "motion.png"
    args = [str(ckpt), str(square), "--out", str(out), "--device", "cpu", "--sampling-rate", "2"]
    assert main([*args, "--masking", "motion", "--mask-ratio", "0.75"]) == 0
    assert "motion mask 75%" in capsys.readouterr().out  # tube masking's count
    with Image.open(out) as image:
        # Four rows: original, masked, reconstruction and the motion map, drawn 3 times larger.
        assert 4 * 96 < image.height < 4 * 96 + 60


def test_motion_overlay_tints_moving_tokens_and_greys_slices_without_vectors():
    from videomae_ssl.viz.reconstruction import motion_overlay

    original = torch.full((1, 3, 4, 16, 16), 0.5)
    motion = torch.zeros(1, 2, 2, 2)
    motion[0, 0, 1, 0] = 3.0  # slice 0: the bottom-left token moves
    motion[0, 1] = math.nan  # slice 1: no vectors
    picture = motion_overlay(original, motion)
    assert picture.shape == original.shape
    red, green = picture[0, 0], picture[0, 1]  # (T, H, W)
    assert torch.allclose(red[:2, 8:, :8], torch.tensor(0.35 * 0.5 + 0.65))
    assert torch.allclose(red[:2, :8], torch.tensor(0.35 * 0.5))  # still tokens: dimmed
    assert torch.allclose(green[:2, 8:, :8], torch.tensor(0.35 * 0.5))
    assert torch.all(picture[0, :, 2:] == 0.5)  # the slice without vectors, grey
