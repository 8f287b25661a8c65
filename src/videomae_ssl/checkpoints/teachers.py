"""The frozen teachers of `target=teacher` (MVD), read from the checkpoints the project loads.

- video teacher: any VideoMAE checkpoint `load_checkpoint` reads (ours, the original V1/V2
  files, Hugging Face folders, Hub ids), its encoder run on the whole clip;
- image teacher: an image ViT in facebookresearch/mae's or timm's `vit_*` layout (the same
  key names: `patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.*`), built as timm's
  `VisionTransformer` and run on every `tubelet_size`-th frame.

Both give the output of their last block, before any final LayerNorm, without the class token,
as MVD's teachers do (modeling_video_teacher.py's `forward_features`, modeling_teacher.py's
`forward_encoder`), arranged on the student's (T', H', W') token grid. A teacher whose grid
cannot be the student's, at its input size, is a ConfigError naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from videomae_ssl.checkpoints.encoder_init import load_pretrained_encoder
from videomae_ssl.checkpoints.file_hash import file_sha256
from videomae_ssl.checkpoints.hub import resolve_checkpoint
from videomae_ssl.checkpoints.load import load_checkpoint
from videomae_ssl.checkpoints.reading import CheckpointError, read_hf_dir, read_weights
from videomae_ssl.checkpoints.state_dicts import STANDARD_HEADS, strip_prefixes
from videomae_ssl.errors import ConfigError
from videomae_ssl.loss.feature_targets import Teacher, TeacherTarget
from videomae_ssl.models.config import VideoMAEConfig
from videomae_ssl.models.encoder import VideoMAEEncoder

# Image-model entries that are not the encoder: MAE's decoder, fine-tuning heads.
IMAGE_NOT_ENCODER = ("decoder", "mask_token", "head.", "fc_norm.")


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), bilinear with antialiasing (MVD resizes its crop to
    the teacher's size with PIL's bilinear filter); the same tensor when already that size."""
    if frames.shape[-2:] == (size, size):
        return frames
    return F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True)


class VideoTeacher(nn.Module):
    """A VideoMAE encoder without its final LayerNorm, on the whole clip resized to its
    `img_size`: (B, C, T, H, W) -> (B, N, D), tokens in (t, h, w) order."""

    def __init__(self, config: VideoMAEConfig) -> None:
        super().__init__()
        self.encoder = VideoMAEEncoder(config, final_norm=False)
        self.img_size = config.img_size

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = video.shape
        x = video.to(self.encoder.patch_embed.proj.weight.dtype)
        if (h, w) != (self.img_size, self.img_size):
            frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # (B*T, C, H, W)
            frames = resize_frames(frames, self.img_size)  # (B*T, C, S, S)
            x = frames.reshape(b, t, c, self.img_size, self.img_size).transpose(1, 2)
        return self.encoder(x)  # (B, N, D)


class ImageTeacher(nn.Module):
    """timm's `VisionTransformer` on every `tubelet_size`-th frame, resized to its `img_size`:
    (B, C, T, H, W) -> (B, T' * h * w, D), the last block's tokens without the class token and
    without the final norm, frame by frame in (t, h, w) order (MVD's `b (t l) c`)."""

    def __init__(self, vit: nn.Module, img_size: int, tubelet_size: int) -> None:
        super().__init__()
        self.vit = vit
        self.img_size = img_size
        self.tubelet_size = tubelet_size

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c = video.shape[:2]
        x = video[:, :, :: self.tubelet_size].transpose(1, 2)  # (B, T', C, H, W)
        t = x.shape[1]
        frames = resize_frames(x.reshape(b * t, c, *x.shape[-2:]), self.img_size)
        frames = frames.to(self.vit.patch_embed.proj.weight.dtype)  # (B*T', C, S, S)
        (tokens,) = self.vit.forward_intermediates(
            frames, indices=1, norm=False, output_fmt="NLC", intermediates_only=True
        )  # (B*T', h*w, D): the last block, prefix tokens dropped
        return tokens.reshape(b, t * tokens.shape[1], tokens.shape[2])  # (B, T'*h*w, D)


def _grid_error(key: str, path: Any, why: str) -> ConfigError:
    return ConfigError(f"target.{key}={path}: {why}")


def _student_side(num_frames: int, input_size: int, patch_size: int, tubelet_size: int) -> int:
    """The student's tokens along a side of the frame (its `VideoMAEConfig` grid's)."""
    student = VideoMAEConfig(
        img_size=input_size, num_frames=num_frames, patch_size=patch_size, tubelet_size=tubelet_size
    )
    return student.grid[1]


def _check_side(key: str, reference: str, size: int, patch: int, side: int) -> None:
    """A ConfigError unless `size` px in patches of `patch` is the student's `side` x `side`."""
    config = VideoMAEConfig(img_size=size, patch_size=patch, num_frames=2, tubelet_size=2)
    try:
        grid = f"{config.grid[1]}x{config.grid[2]}"
    except ValueError:
        grid = "no whole"
    if grid != f"{side}x{side}":
        raise _grid_error(
            key,
            reference,
            f"at target.{key.split('_')[0]}_input_size={size} its patch {patch} gives a {grid} "
            f"grid, the student's is {side}x{side}; set "
            f"target.{key.split('_')[0]}_input_size={side * patch} (or null).",
        )


def load_video_teacher(
    reference: str,
    *,
    num_frames: int,
    input_size: int,
    patch_size: int,
    tubelet_size: int,
    teacher_input_size: int | None = None,
) -> tuple[VideoTeacher, dict[str, Any]]:
    """The frozen video teacher of `reference` for a student of that geometry, and its record
    (file, sha256). `teacher_input_size` None: the size that gives the student's patch grid."""
    key = "video_teacher"
    path = resolve_checkpoint(str(reference), f"target.{key}")
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as err:
        raise ConfigError(f"target.{key}: {err}") from None
    own = {k: v for k, v in loaded.config.items() if k in VideoMAEConfig.field_names()}
    if not own.get("num_heads"):
        raise _grid_error(key, reference, f"num_heads is unknown for width {own['embed_dim']}.")
    side = _student_side(num_frames, input_size, patch_size, tubelet_size)
    size = side * own["patch_size"] if teacher_input_size is None else int(teacher_input_size)
    if own["tubelet_size"] != tubelet_size:
        raise _grid_error(
            key,
            reference,
            f"its tubelet is {own['tubelet_size']} frames, the student's "
            f"(model.net.tubelet_size) {tubelet_size}: their tokens cover different frames and "
            "cannot be matched one to one; choose a teacher and student of the same tubelet.",
        )
    _check_side(key, reference, size, own["patch_size"], side)
    config = VideoMAEConfig(**own).replace(img_size=size, num_frames=num_frames)
    teacher = VideoTeacher(config)
    try:
        load_pretrained_encoder(teacher.encoder, path, log=None)
    except CheckpointError as err:
        raise ConfigError(f"target.{key}: {err}") from None
    return teacher, {"file": str(path), "sha256": file_sha256(path)}


def _image_state(path: Path) -> dict[str, torch.Tensor]:
    """An image ViT's encoder weights from a file (MAE's `model` entry, a bare timm state dict,
    safetensors) or a folder with `model.safetensors`; not-encoder entries left out."""
    obj = read_hf_dir(path)[0] if path.is_dir() else read_weights(path)
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("model", "state_dict", "module") if k in obj), obj)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: no state dict of tensors found.")
    state, _ = strip_prefixes({k.removeprefix("backbone."): v for k, v in obj.items()})
    return {k: v for k, v in state.items() if not k.startswith(IMAGE_NOT_ENCODER)}


def load_image_teacher(
    reference: str,
    *,
    num_frames: int,
    input_size: int,
    patch_size: int,
    tubelet_size: int,
    teacher_input_size: int | None = None,
    num_heads: int | None = None,
) -> tuple[ImageTeacher, dict[str, Any]]:
    """The frozen image teacher of `reference` (MAE or timm `vit_*` layout) for a student of
    that geometry, and its record (file, sha256)."""
    from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

    key = "image_teacher"
    path = resolve_checkpoint(str(reference), f"target.{key}")
    try:
        state = _image_state(path)
    except CheckpointError as err:
        raise ConfigError(f"target.{key}: {err}") from None
    proj = state.get("patch_embed.proj.weight")
    if proj is None or proj.ndim != 4:
        found = "a video model's (5-D) tubelet embedding" if proj is not None else "none"
        raise _grid_error(
            key,
            reference,
            f"holds no image ViT encoder (patch_embed.proj.weight of shape (D, C, p, p): "
            f"{found}; keys: {', '.join(sorted(state)[:6]) or 'none'}). A VideoMAE checkpoint "
            "is a target.video_teacher.",
        )
    width, patch = proj.shape[0], proj.shape[-1]
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    heads = num_heads or STANDARD_HEADS.get(width)  # the weights do not say
    if not heads:
        raise _grid_error(
            key,
            reference,
            f"num_heads is unknown for width {width}; set target.image_teacher_heads.",
        )
    side = _student_side(num_frames, input_size, patch_size, tubelet_size)
    size = side * patch if teacher_input_size is None else int(teacher_input_size)
    _check_side(key, reference, size, patch, side)
    vit = VisionTransformer(
        img_size=size,
        patch_size=patch,
        in_chans=proj.shape[1],
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        class_token="cls_token" in state,
        global_pool="token" if "cls_token" in state else "avg",
        num_classes=0,
    )
    # timm's own filter resamples the position table to this grid (bicubic) and renames old keys.
    state = checkpoint_filter_fn(state, vit)
    result = vit.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("norm.")]
    if missing or result.unexpected_keys:
        raise _grid_error(
            key,
            reference,
            f"not an image ViT of timm's layout (missing {', '.join(missing[:4]) or 'none'}; "
            f"unexpected {', '.join(result.unexpected_keys[:4]) or 'none'}).",
        )
    return ImageTeacher(vit, size, tubelet_size), {"file": str(path), "sha256": file_sha256(path)}


def teacher_target(
    *,
    num_frames: int,
    input_size: int,
    patch_size: int,
    tubelet_size: int,
    video_teacher: str | None = None,
    image_teacher: str | None = None,
    loss: str = "smooth_l1",
    video_weight: float = 1.0,
    image_weight: float = 1.0,
    norm_feature: bool = False,
    video_input_size: int | None = None,
    image_input_size: int | None = None,
    image_teacher_heads: int | None = None,
) -> TeacherTarget:
    """`target=teacher` (configs/target/teacher.yaml): the frozen teachers for a student of
    `num_frames` frames at `input_size` px in `patch_size` x `tubelet_size` tokens, the image
    teacher's first (MVD's order)."""
    if not video_teacher and not image_teacher:
        raise ConfigError(
            "target=teacher: no teacher set; give target.video_teacher (a VideoMAE checkpoint) "
            "and/or target.image_teacher (an image MAE or timm ViT checkpoint)."
        )
    student = dict(
        num_frames=num_frames,
        input_size=input_size,
        patch_size=patch_size,
        tubelet_size=tubelet_size,
    )
    teachers = []
    if image_teacher:
        model, record = load_image_teacher(
            image_teacher,
            teacher_input_size=image_input_size,
            num_heads=image_teacher_heads,
            **student,
        )
        teachers.append(Teacher("image", model, float(image_weight), model.vit.embed_dim, record))
    if video_teacher:
        model, record = load_video_teacher(
            video_teacher, teacher_input_size=video_input_size, **student
        )
        teachers.append(
            Teacher("video", model, float(video_weight), model.encoder.embed_dim, record)
        )
    return TeacherTarget(teachers, loss=loss, norm_feature=norm_feature)
