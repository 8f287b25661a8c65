"""Settings of each probe, with the defaults of the method each one follows; a value out of
range is a ValueError naming the field (the training command adds the config key's prefix)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path


def _check(settings: object, minimum: dict[str, float], positive: tuple[str, ...] = ()) -> None:
    """Each field of `minimum` must be a number >= its minimum (an integer where the default
    is one); the fields of `positive` must be > 0."""
    for f in fields(settings):  # type: ignore[arg-type]
        if f.name not in minimum and f.name not in positive:
            continue
        value = getattr(settings, f.name)
        integer = isinstance(f.default, int)
        kinds = (int,) if integer else (int, float)
        low = minimum.get(f.name, 0)
        if isinstance(value, bool) or not isinstance(value, kinds):
            wrong = True
        else:
            wrong = value <= 0 if f.name in positive else value < low
        if wrong:
            kind = "an integer" if integer else "a number"
            bound = "> 0" if f.name in positive else f">= {low:g}"
            raise ValueError(f"{f.name}={value!r}: expected {kind} {bound}")


@dataclass(frozen=True)
class KnnSettings:
    """DINO's and solo-learn's: the 20 nearest neighbours, weights exp(cosine / 0.07)."""

    k: int = 20
    temperature: float = 0.07

    def __post_init__(self) -> None:
        _check(self, {"k": 1}, positive=("temperature",))


@dataclass(frozen=True)
class LinearSettings:
    """The linear probe on cached features: MAE's schedule (90 epochs, 10 of warmup, cosine to
    0, no weight decay) with AdamW at `lr` (see `probe.linear` for why not LARS)."""

    epochs: int = 90
    batch_size: int = 256
    lr: float = 1e-3
    warmup_epochs: float = 10.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check(
            self,
            {"epochs": 1, "batch_size": 2, "warmup_epochs": 0, "weight_decay": 0},
            positive=("lr",),
        )


@dataclass(frozen=True)
class AttentiveSettings:
    """V-JEPA's frozen evaluation: 20 epochs, AdamW lr 1e-3 (not scaled by the batch), weight
    decay 0.01, no warmup, cosine to 0; `num_heads` None takes the encoder's."""

    epochs: int = 20
    lr: float = 1e-3
    min_lr: float = 0.0
    warmup_epochs: float = 0.0
    weight_decay: float = 0.01
    num_heads: int | None = None

    def __post_init__(self) -> None:
        _check(
            self,
            {"epochs": 1, "min_lr": 0, "warmup_epochs": 0, "weight_decay": 0},
            positive=("lr",),
        )
        if self.num_heads is not None and (
            isinstance(self.num_heads, bool)
            or not isinstance(self.num_heads, int)
            or self.num_heads < 1
        ):
            raise ValueError(f"num_heads={self.num_heads!r}: expected an integer >= 1 or null")


PROBE_SETTINGS = {"knn": KnnSettings, "linear": LinearSettings, "attentive": AttentiveSettings}


@dataclass(frozen=True)
class ProbeSettings:
    """Which probes run (names of `probe.evaluate.PROBE_NAMES`) and how; `out_dir` receives
    their reports, the features and the picture."""

    probes: Sequence[str]
    out_dir: Path
    knn: KnnSettings = KnnSettings()
    linear: LinearSettings = LinearSettings()
    attentive: AttentiveSettings = AttentiveSettings()
    embedding_points: int = 5000
    seed: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
