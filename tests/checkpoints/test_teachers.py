"""The frozen teachers of target=teacher: their features are the source models' own (the last
block, before any final norm, class token dropped: MVD's teachers), arranged on the student's
token grid; files that hold no teacher and grids that cannot be matched name the key."""

import pytest
import torch
import torch.nn.functional as F
from test_configs import compose_cfg
from tiny_sizes import HF_CFG, OURS

from videomae_ssl.checkpoints import export_lightning
from videomae_ssl.checkpoints.teachers import load_image_teacher, load_video_teacher
from videomae_ssl.errors import ConfigError
from videomae_ssl.models import videomae_pretrain
from videomae_ssl.stages.checks import check_config

# The student of the tiny runs: 4 frames of 32 px, patch 8, tubelet 2 (a 2x4x4 grid).
STUDENT = dict(num_frames=4, input_size=32, patch_size=8, tubelet_size=2)


def tiny_vit(**changes):
    from timm.models.vision_transformer import VisionTransformer

    args = dict(img_size=32, patch_size=8, embed_dim=40, depth=2, num_heads=2, num_classes=0)
    torch.manual_seed(0)
    return VisionTransformer(**{**args, **changes}).eval()


def clip(seed=0, size=32):
    return torch.randn(2, 3, 4, size, size, generator=torch.Generator().manual_seed(seed))


def test_a_transformers_folder_teaches_its_last_hidden_state(tmp_path):
    """transformers' VideoMAEModel run directly: its last layer's output (hidden_states[-1],
    before the final layernorm) is the video teacher's feature, token for token."""
    from transformers import VideoMAEConfig, VideoMAEModel

    torch.manual_seed(0)
    hf = VideoMAEModel(VideoMAEConfig(**HF_CFG, use_mean_pooling=False)).eval()
    hf.save_pretrained(tmp_path / "hf")
    teacher, record = load_video_teacher(str(tmp_path / "hf"), **STUDENT)
    video = clip()
    with torch.no_grad():
        want = hf(video.transpose(1, 2), output_hidden_states=True).hidden_states[-1]
        got = teacher(video)
    assert got.shape == (2, 32, 48)
    assert torch.allclose(got, want, atol=1e-5)
    assert len(record["sha256"]) == 64


def test_our_checkpoint_teaches_its_encoder_before_the_final_norm(tmp_path):
    torch.manual_seed(0)
    source = videomae_pretrain("tiny", **OURS).eval()
    export_lightning(source, tmp_path / "video.ckpt")
    teacher, _ = load_video_teacher(str(tmp_path / "video.ckpt"), **STUDENT)
    video = clip(1)
    with torch.no_grad():
        full = source.encoder(video)  # through the final LayerNorm
        got = teacher(video)
    norm = source.encoder.norm
    assert torch.allclose(
        F.layer_norm(got, (48,), norm.weight, norm.bias, norm.eps), full, atol=1e-5
    )
    assert not torch.allclose(got, full, atol=1e-2)


@pytest.mark.parametrize("layout", ["mae", "timm"])
def test_an_image_vit_teaches_every_tubelet_frame_before_its_norm(layout, tmp_path):
    """timm's forward_features run directly on frames 0 and 2: its tokens (class token dropped)
    are the final norm of the image teacher's features, frame after frame."""
    vit = tiny_vit()
    state = vit.state_dict()
    if layout == "mae":  # facebookresearch/mae: {'model': ...}, with its decoder beside
        path = tmp_path / "mae.pth"
        extra = {"mask_token": torch.zeros(1, 1, 16), "decoder_embed.weight": torch.zeros(16, 40)}
        torch.save({"model": {**state, **extra}}, path)
    else:  # timm's vit_* as safetensors
        from safetensors.torch import save_file

        path = tmp_path / "vit.safetensors"
        save_file(state, path)
    teacher, _ = load_image_teacher(str(path), num_heads=2, **STUDENT)
    video = clip(2)
    with torch.no_grad():
        got = teacher(video)  # (B, T' * 16, 40)
        frames = video[:, :, ::2].transpose(1, 2).reshape(4, 3, 32, 32)
        want = vit.forward_features(frames)[:, 1:]  # (B * T', 16, 40), normed
    assert got.shape == (2, 32, 40)
    assert torch.allclose(vit.norm(got.reshape(4, 16, 40)), want, atol=1e-5)


def test_a_teacher_at_another_input_size_sees_the_resized_clip(tmp_path):
    """An image teacher of patch 16 on a 32 px student of patch 8: 64 px input, so that its
    4x4 grid is the student's; the frames are resized bilinearly (antialiased) on the way."""
    vit = tiny_vit(img_size=64, patch_size=16)
    torch.save({"model": vit.state_dict()}, tmp_path / "vit16.pth")
    teacher, _ = load_image_teacher(str(tmp_path / "vit16.pth"), num_heads=2, **STUDENT)
    assert teacher.img_size == 64
    video = clip(3)
    frames = video[:, :, ::2].transpose(1, 2).reshape(4, 3, 32, 32)
    big = F.interpolate(frames, size=(64, 64), mode="bilinear", antialias=True)
    with torch.no_grad():
        want = vit.forward_features(big)[:, 1:]
        got = teacher(video)
    assert torch.allclose(vit.norm(got.reshape(4, 16, 40)), want, atol=1e-5)


def student_cfg(tmp_path, *extra):
    return compose_cfg(["experiment=demo_pretrain", "target=teacher", *extra], tmp_path)


def test_bad_teachers_name_the_key_before_anything_is_built(tmp_path):
    torch.manual_seed(0)
    export_lightning(videomae_pretrain("tiny", **OURS), tmp_path / "video.ckpt")
    four = {**OURS, "tubelet_size": 4}
    export_lightning(videomae_pretrain("tiny", **four), tmp_path / "tubelet4.ckpt")
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    torch.save({"model": {"decoder.weight": torch.zeros(2, 2)}}, tmp_path / "decoder.pth")
    torch.save({"model": tiny_vit().state_dict()}, tmp_path / "vit.pth")
    cases = [
        ([], "target=teacher: no teacher set"),
        ([f"target.video_teacher={tmp_path / 'missing.ckpt'}"], "target.video_teacher"),
        ([f"target.video_teacher={tmp_path / 'notes.txt'}"], "target.video_teacher: .*notes.txt"),
        ([f"target.video_teacher={tmp_path / 'decoder.pth'}"], "target.video_teacher: .*decoder"),
        ([f"target.image_teacher={tmp_path / 'decoder.pth'}"], "image_teacher=.*no image ViT"),
        (
            [f"target.image_teacher={tmp_path / 'video.ckpt'}"],
            "image_teacher=.*video.ckpt: holds no image ViT",
        ),
        ([f"target.video_teacher={tmp_path / 'tubelet4.ckpt'}"], "its tubelet is 4 frames"),
        (
            [f"target.video_teacher={tmp_path / 'video.ckpt'}", "target.video_input_size=48"],
            r"video_input_size=48 .*6x6 grid, the student's is 4x4",
        ),
        (
            [
                f"target.image_teacher={tmp_path / 'vit.pth'}",
                "target.image_teacher_heads=2",
                "target.image_input_size=40",
            ],
            r"image_input_size=40 .*5x5 grid",
        ),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_config(student_cfg(tmp_path, *extra))
