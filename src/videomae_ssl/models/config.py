"""The encoder's architecture, declared once: the encoder, the pretraining model and the
classifier all take it, as an `EncoderConfig` or as its fields by keyword.

The keyword form is what configs (`_target_` + `model.net.*`) and checkpoints (`net_config`, a
flat dict of plain numbers) use, so the models' constructors accept the fields as keyword
arguments and `encoder_signature` shows them in the constructor's signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., None])
M = TypeVar("M")


@dataclass(frozen=True)
class EncoderConfig:
    """Input geometry and ViT size of a VideoMAE encoder.

    The values are stored as plain Python numbers: a weights-only load refuses numpy scalars
    in a checkpoint's `net_config`, and `operator.index` refuses a fractional size instead of
    truncating it.
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

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            plain = {"int": operator.index, "float": float, "bool": bool}[str(f.type)](value)
            object.__setattr__(self, f.name, plain)

    @classmethod
    def of(cls, config: EncoderConfig | None, arguments: Mapping[str, Any]) -> EncoderConfig:
        """`config` (default: the defaults) with `arguments` replacing its fields; an argument
        that is not a field is an error naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(arguments) - names):
            raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; the encoder's "
                            f"are {', '.join(f.name for f in dataclasses.fields(cls))}")  # fmt: skip
        return dataclasses.replace(config or cls(), **arguments)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in declaration order (how checkpoints record them)."""
        return dataclasses.asdict(self)


def encoder_signature(init: F) -> F:
    """Show `EncoderConfig`'s fields, as keyword arguments with their defaults, in place of the
    `**encoder_args` of a constructor: what `inspect.signature` of the class then gives."""
    own = list(inspect.signature(init).parameters.values())
    fields = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=f.type)
        for f in dataclasses.fields(EncoderConfig)
    ]  # fmt: skip
    keyword = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD
    positional = [p for p in own if p.kind not in keyword]
    rest = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
    init.__signature__ = inspect.Signature([*positional, *fields, *rest])  # type: ignore[attr-defined]
    return init


class FromEncoderConfig:
    """`Model.from_config(EncoderConfig(...), **other_arguments)` for the models that take one."""

    @classmethod
    def from_config(cls: type[M], config: EncoderConfig, *args: Any, **kwargs: Any) -> M:
        return cls(*args, **config.as_dict(), **kwargs)
