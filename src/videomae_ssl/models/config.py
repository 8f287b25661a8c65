"""A VideoMAE model's architecture, declared once: `VideoMAEConfig`.

The named sizes (`videomae_ssl.models.sizes`) return one, the models take one
(`VideoMAEPretrainModel(config)`, as nanoGPT's `GPT(GPTConfig(...))`), and checkpoints store
it as a plain dict (`model_args`) from which the model is rebuilt without Hydra:
`VideoMAEPretrainModel(VideoMAEConfig(**meta["model_args"]), **meta["options"])`. The token grid
(T', H', W') is computed here and nowhere else. Numbers only, no torch: configs and the data
path read it before anything is built.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The fields only the pretraining model's decoder reads (a classifier ignores them).
DECODER_FIELDS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads")
# The fields the token grid depends on.
GRID_FIELDS = ("img_size", "patch_size", "num_frames", "tubelet_size")


@dataclass(frozen=True)
class VideoMAEConfig:
    """Input geometry, encoder and decoder of a VideoMAE model (the defaults: ViT-B, 16 frames
    at 224 px). The decoder fields matter to the pretraining model only.

    The values are stored as plain Python numbers: a weights-only load refuses numpy scalars
    in a checkpoint, and `operator.index` refuses a fractional size instead of truncating it.
    """

    img_size: int = 224
    patch_size: int = 16
    num_frames: int = 16
    tubelet_size: int = 2
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    decoder_embed_dim: int = 384
    decoder_depth: int = 4
    decoder_num_heads: int = 6

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            plain = {"int": operator.index, "float": float, "bool": bool}[str(f.type)](value)
            object.__setattr__(self, f.name, plain)

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', H', W'): the number of tokens along time, height and width."""
        t, s, q, p = self.num_frames, self.img_size, self.tubelet_size, self.patch_size
        if t % q or s % p:
            raise ValueError(
                f"num_frames={t} must be a multiple of tubelet_size={q} and img_size={s} a "
                f"multiple of patch_size={p}"
            )
        return t // q, s // p, s // p

    @property
    def num_tokens(self) -> int:
        """Tokens of the full grid, T' * H' * W'."""
        t, h, w = self.grid
        return t * h * w

    @property
    def tubelet_values(self) -> int:
        """Pixel values in one token: tubelet * patch**2 * channels (the decoder's output)."""
        return self.in_chans * self.tubelet_size * self.patch_size**2

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> VideoMAEConfig:
        """This config with `changes` in place of its fields; a name that is not a field is an
        error naming it (and the fields)."""
        if unknown := sorted(set(changes) - set(self.field_names())):
            raise TypeError(
                f"unexpected keyword argument(s) {', '.join(unknown)}; the model's "
                f"architecture fields are {', '.join(self.field_names())}"
            )
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order: what checkpoints store (`model_args`)."""
        return dataclasses.asdict(self)

    @classmethod
    def split(cls, arguments: Mapping[str, Any]) -> tuple[VideoMAEConfig, dict[str, Any]]:
        """A flat dict of a model's arguments (earlier checkpoints' `net_config`) -> (the
        config of its architecture fields, the other arguments)."""
        names = set(cls.field_names())
        config = cls(**{k: v for k, v in arguments.items() if k in names})
        return config, {k: v for k, v in arguments.items() if k not in names}
