"""Model sizes: numbers only, no torch, so that configs can read them before anything is built.

One builder per size (`vit_small`, `vit_base`, ...) returns its `VideoMAEConfig` (16 frames at
224 px; a run sets its own); `SIZES` names them for `model.net.size=<name>`, and
`size_config(size, **overrides)` is a size with some fields replaced, what every model builder
starts from. The configs read a size's numbers through the `model_size` resolver, e.g.
`patch_size: ${model_size:${.size},patch_size}`: the size decides them (ViT-g: patch 14) and an
explicit `model.net.patch_size=16` still wins. The functions that turn a size into a model are
in `videomae_ssl.models.build`.
"""

from __future__ import annotations

from collections.abc import Callable

from videomae_ssl.models.config import VideoMAEConfig


def _size(
    embed_dim: int,
    depth: int,
    num_heads: int,
    decoder_embed_dim: int,
    decoder_num_heads: int,
    decoder_depth: int,
    **other: float,
) -> VideoMAEConfig:
    return VideoMAEConfig(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        decoder_embed_dim=decoder_embed_dim,
        decoder_num_heads=decoder_num_heads,
        decoder_depth=decoder_depth,
        **other,
    )


def vit_tiny() -> VideoMAEConfig:
    """For demos and tests: ViT-Ti width with a shallow encoder and decoder."""
    return _size(192, 4, 3, 96, 3, 2)


def vit_small() -> VideoMAEConfig:
    return _size(384, 12, 6, 192, 3, 4)


def vit_base() -> VideoMAEConfig:
    return _size(768, 12, 12, 384, 6, 4)


def vit_large() -> VideoMAEConfig:
    return _size(1024, 24, 16, 512, 8, 12)


def vit_huge() -> VideoMAEConfig:
    return _size(1280, 32, 16, 640, 8, 12)


def vit_giant() -> VideoMAEConfig:
    """VideoMAE V2 ViT-g: patch 14, MLP hidden 6144."""
    return _size(1408, 40, 16, 512, 8, 4, patch_size=14, mlp_ratio=6144 / 1408)


SIZES: dict[str, Callable[[], VideoMAEConfig]] = {
    "tiny": vit_tiny,
    "small": vit_small,
    "base": vit_base,
    "large": vit_large,
    "huge": vit_huge,
    "giant": vit_giant,
}
# The papers' names of the published sizes (tiny is ours: a 4-block demo, not ViT-Ti).
PAPER_NAMES = {
    "small": "ViT-S",
    "base": "ViT-B",
    "large": "ViT-L",
    "huge": "ViT-H",
    "giant": "ViT-g",
}


def get_size(name: str) -> VideoMAEConfig:
    try:
        return SIZES[name]()
    except KeyError:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(SIZES)}") from None


def size_config(size: str = "base", **overrides: object) -> VideoMAEConfig:
    """The config of a named size with `overrides` in place of its fields (None: keep the
    size's); a name that is not a field is an error naming it."""
    return get_size(size).replace(**{k: v for k, v in overrides.items() if v is not None})


def size_field(size: str, field: str) -> int | float:
    """One number of a named size: what `${model_size:<size>,<field>}` gives in a config."""
    names = list(VideoMAEConfig.field_names())
    if field not in names:
        raise ValueError(f"model sizes have no field {field!r}; they have {names}")
    return getattr(get_size(size), field)


def standard_heads() -> dict[int, int]:
    """Encoder width -> head count of every size: checkpoints record widths, not heads."""
    return {s.embed_dim: s.num_heads for s in map(get_size, SIZES)}


def standard_decoder_heads() -> dict[int, int]:
    """Decoder width -> head count of every size."""
    return {s.decoder_embed_dim: s.decoder_num_heads for s in map(get_size, SIZES)}


def paper_names() -> dict[tuple[int, int], str]:
    """(width, depth) -> the paper's name (`ViT-B`), for what a checkpoint summary prints."""
    return {(get_size(k).embed_dim, get_size(k).depth): v for k, v in PAPER_NAMES.items()}
