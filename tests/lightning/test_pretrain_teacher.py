"""target=teacher in the pretraining module and the training command: one decoder per
teacher, the teachers neither trained nor saved, the checkpoint naming their files and hashes,
a killed run resumed with its teachers, and the bad input that stops it before training."""

import hashlib

import pytest
import torch
from test_cli_errors import imported, messages, train_cli
from tiny_runs import train, train_here, weights, write_clips
from tiny_sizes import OURS, RUN_NET

from videomae_ssl.checkpoints import export_lightning
from videomae_ssl.checkpoints.teachers import teacher_target
from videomae_ssl.errors import ConfigError
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.models import videomae_pretrain

# The student of tiny_runs.overrides: width 32, one block, 4 frames of 32 px, patch 8.
STUDENT = RUN_NET


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """A video teacher in our layout (width 48) and an image ViT in MAE's (width 40)."""
    from timm.models.vision_transformer import VisionTransformer

    folder = tmp_path_factory.mktemp("teachers")
    torch.manual_seed(0)
    export_lightning(videomae_pretrain("tiny", **OURS), folder / "video.ckpt")
    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=40, depth=1, num_heads=2)
    torch.save({"model": vit.state_dict()}, folder / "image.pth")
    return folder


def both(folder, **changes):
    return teacher_target(
        num_frames=4,
        input_size=32,
        patch_size=8,
        tubelet_size=2,
        video_teacher=str(folder / "video.ckpt"),
        image_teacher=str(folder / "image.pth"),
        image_teacher_heads=2,
        **changes,
    )


def batch():
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[:, ::2] = True
    return {"video": torch.randn(2, 3, 4, 32, 32, generator=g), "mask": mask}


def test_one_decoder_per_teacher_and_the_teachers_never_train(teachers):
    target = both(teachers)
    assert target.dims == (40, 48)  # the image teacher's first, as MVD's student returns
    net = videomae_pretrain("tiny", decoder_out_dim=40, extra_decoder_dims=[48], **STUDENT)
    module = VideoMAEPretrainModule(net, target=target)
    loss, pred = module.shared_step(batch())
    assert pred.shape == (2, 16, 40) and torch.isfinite(loss)
    loss.backward()
    assert net.decoder.head.weight.grad.abs().sum() > 0
    assert net.extra_decoders[0].decoder.head.weight.grad.abs().sum() > 0
    teacher_params = [p for t in target.teachers for p in t.model.parameters()]
    assert all(p.grad is None and not p.requires_grad for p in teacher_params)
    assert all(not t.model.training for t in target.teachers)
    # Not submodules: in neither the state dict nor the parameters the optimizer gets.
    assert all(k.startswith("net.") for k in module.state_dict())
    own = {id(p) for p in module.parameters()}
    assert not own & {id(p) for p in teacher_params}


def test_a_net_without_the_teachers_decoders_is_a_config_error(teachers):
    net = videomae_pretrain("tiny", decoder_out_dim=48, **STUDENT)
    with pytest.raises(ConfigError, match="image 40, video 48 wide"):
        VideoMAEPretrainModule(net, target=both(teachers))


def test_decoder_masking_keeps_working(teachers):
    net = videomae_pretrain("tiny", decoder_out_dim=40, extra_decoder_dims=[48], **STUDENT)
    module = VideoMAEPretrainModule(net, target=both(teachers), decoder_mask_ratio=0.5)
    b = batch()
    decoder_mask = torch.zeros(2, 32, dtype=torch.bool)
    decoder_mask[:, 1::4] = True
    b["decoder_mask"] = decoder_mask
    loss, pred = module.shared_step(b)
    assert pred.shape[1] == 24 and torch.isfinite(loss)  # 32 - 8 tokens decoded


def test_target_teacher_trains_end_to_end_and_records_its_teachers(teachers, tmp_path):
    data = write_clips(tmp_path / "clips", count=4)
    run = tmp_path / "run"
    video, image = teachers / "video.ckpt", teachers / "image.pth"
    train_here(
        data,
        run,
        "target=teacher",
        f"target.video_teacher={video}",
        f"target.image_teacher={image}",
        "target.image_teacher_heads=2",
        "target.norm_feature=true",
    )
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2  # 4 clips in batches of 2, one epoch
    state = ckpt["state_dict"]
    assert all(k.startswith("net.") for k in state)  # no teacher weights
    assert state["net.decoder.head.weight"].shape == (40, 16)
    assert state["net.extra_decoders.0.decoder.head.weight"].shape == (48, 16)
    record = ckpt["videomae_ssl"]
    assert record["options"]["extra_decoder_dims"] == [48]
    assert record["teachers"] == [
        {
            "role": "image",
            "file": str(image),
            "sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
        },
        {
            "role": "video",
            "file": str(video),
            "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
        },
    ]


@pytest.mark.slow
def test_a_killed_run_resumes_with_its_teacher_and_ends_as_an_uninterrupted_run(teachers, tmp_path):
    data = write_clips(tmp_path / "clips")
    common = (
        "target=teacher",
        f"target.video_teacher={teachers / 'video.ckpt'}",
        "trainer.max_epochs=2",
        "checkpoint_every_n_steps=2",
        "resume=auto",
    )
    train_here(data, tmp_path / "whole", *common)
    run = tmp_path / "outputs" / "job"
    kill = ("+callbacks.kill._target_=tiny_runs.KillAtStep", "+callbacks.kill.step=3")
    assert train(data, run, *common, *kill).returncode == -9
    train_here(data, run, *common)  # the job started again: the teacher read again
    expected, got = weights(tmp_path / "whole"), weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
    # Another teacher file under the same name: the resumed run refuses it.
    other = tmp_path / "other.ckpt"
    torch.manual_seed(1)
    export_lightning(videomae_pretrain("tiny", **OURS), other)
    with pytest.raises(ConfigError, match="the run to resume was trained with"):
        train_here(
            data,
            run,
            *common[:1],
            f"target.video_teacher={other}",
            *common[2:],
            "trainer.max_epochs=3",
        )


def test_a_missing_teacher_is_one_error_line_before_lightning(tmp_path):
    out = train_cli(
        "experiment=demo_pretrain",
        "target=teacher",
        f"target.video_teacher={tmp_path / 'nope.ckpt'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        cwd=tmp_path,
    )
    lines = messages(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: target.video_teacher"), lines
    assert "nope.ckpt" in lines[0]
    assert "lightning" not in imported(out.stderr)
