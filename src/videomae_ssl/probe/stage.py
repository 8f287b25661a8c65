"""Frozen evaluation as one stage (`stage=probe`): extract the features a probe needs once,
run the kNN and linear probes on them, train and test the attentive probe, draw the features.

Typed arguments only: the training command turns the config into these and builds the
Lightning trainers (`python -m videomae_ssl.train experiment=ucf101_probe pretrained=...`).
Under DDP every rank extracts its share of the videos and gets all the features; the kNN and
linear probes and the pictures then run on rank 0 alone, and the attentive probe on every rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.console import say
from videomae_ssl.data.datamodules import FinetuneDataModule
from videomae_ssl.lightning.probe import AttentiveProbeModule, FeatureExtractor
from videomae_ssl.probe.encoder import FrozenEncoder
from videomae_ssl.probe.evaluate import (
    PROBE_NAMES,
    describe_features,
    knn_probe,
    linear_probe,
    write_report,
)
from videomae_ssl.probe.features import FeatureSet
from videomae_ssl.probe.settings import AttentiveSettings, KnnSettings, LinearSettings


@dataclass(frozen=True)
class ProbeSettings:
    """Which probes run (names of `PROBE_NAMES`) and how."""

    probes: Sequence[str]
    out_dir: Path
    knn: KnnSettings = KnnSettings()
    linear: LinearSettings = LinearSettings()
    attentive: AttentiveSettings = AttentiveSettings()
    embedding_points: int = 5000
    seed: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


def feature_splits(datamodule: FinetuneDataModule, probes: Sequence[str]) -> list[str]:
    """The lists to extract features of: train and test for the kNN and linear probes, and
    val (else test) for the picture of the features."""
    splits = ["train", "test"] if {"knn", "linear"} & set(probes) else []
    picture = "val" if datamodule.val_list is not None else "test"
    return [s for s in ("train", "val", "test") if s in splits or s == picture]


def extract_features(
    trainer: L.Trainer, encoder: FrozenEncoder, datamodule: FinetuneDataModule, splits: list[str]
) -> dict[str, FeatureSet]:
    """Pooled features of every view of the `splits` lists, on every rank (`trainer.predict`)."""
    datamodule.feature_splits = tuple(splits)
    extractor = FeatureExtractor(encoder)
    trainer.predict(extractor, datamodule=datamodule, return_predictions=False)
    return extractor.features


def _records(datamodule: FinetuneDataModule, split: str) -> list[Any]:
    return getattr(datamodule, f"{split}_records")


def feature_probes(
    settings: ProbeSettings,
    features: dict[str, FeatureSet],
    datamodule: FinetuneDataModule,
    device: torch.device,
) -> tuple[dict[str, float], list[str]]:
    """The kNN and linear probes on the cached features, with their reports; -> (results keyed
    `<probe>/<metric>`, lines to print)."""
    num_classes = datamodule.num_classes
    names = datamodule.class_names
    paths = [r.path for r in _records(datamodule, "test")]
    views = (datamodule.test_clips, datamodule.test_crops)
    results: dict[str, float] = {}
    lines = [describe_features(features)]
    train, test = features.get("train"), features.get("test")
    runs: dict[str, Callable[[], Any]] = {
        "knn": lambda: knn_probe(train, test, num_classes, settings.knn),
        "linear": lambda: linear_probe(train, test, num_classes, settings.linear,
                                       seed=settings.seed, device=device),  # fmt: skip
    }
    for name in [p for p in PROBE_NAMES if p in settings.probes and p in runs]:
        scores = runs[name]()
        result, text = write_report(settings.out_dir / name, name, scores, paths, names, views)
        results.update({f"{name}/{key}": value for key, value in result.items()})
        lines.append(text)
    return results, lines


def feature_picture(
    settings: ProbeSettings, features: dict[str, FeatureSet], class_names: Sequence[str] | None
) -> str:
    """The t-SNE map of the validation features (the test's first views without a val list);
    -> the line naming it."""
    from videomae_ssl.viz.embedding import embedding_png

    split = "val" if "val" in features else "test"
    rows = features[split].first_views()
    pretrained = settings.metadata.get("pretrained")
    source = Path(pretrained).name if pretrained else "random weights"
    path = embedding_png(
        settings.out_dir / "embedding.png", rows.features, rows.labels, class_names,
        title=f"{split} features ({source})", max_points=settings.embedding_points,
        seed=settings.seed,
    )  # fmt: skip
    return f"features map: {path}"


def summary_line(results: dict[str, float]) -> str:
    """E.g. "frozen evaluation: kNN top-1 71.09%, linear top-1 87.50%" (top-5 beside)."""
    parts = [
        f"{shown} top-1 {100 * results[f'{name}/top1']:.2f}% (top-5 "
        f"{100 * results[f'{name}/top5']:.2f}%)"
        for name, shown in PROBE_NAMES.items()
        if f"{name}/top1" in results
    ]
    return "frozen evaluation: " + ", ".join(parts)


def attentive_probe(
    settings: ProbeSettings,
    trainer: L.Trainer,
    encoder: FrozenEncoder,
    datamodule: FinetuneDataModule,
    ckpt_path: str | None = None,
) -> dict[str, float]:
    """Train the attentive probe on the frozen encoder, then run the multi-view test (its
    report is the trainer's TestReport callback's)."""
    a = settings.attentive
    module = AttentiveProbeModule(
        encoder,
        datamodule.num_classes,
        num_heads=a.num_heads,
        lr=a.lr,
        min_lr=a.min_lr,
        warmup_epochs=a.warmup_epochs,
        weight_decay=a.weight_decay,
        test_views=datamodule.test_clips * datamodule.test_crops,
        class_names=datamodule.class_names,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    trainer.test(module, datamodule=datamodule)
    return {f"attentive/{key.removeprefix('test/')}": v for key, v in module.test_result.items()}


def run_frozen_evaluation(
    settings: ProbeSettings,
    encoder: FrozenEncoder,
    datamodule: FinetuneDataModule,
    extraction_trainer: Callable[[], L.Trainer],
    attentive_trainer: Callable[[], L.Trainer],
    attentive_ckpt: str | None = None,
) -> dict[str, float]:
    """The whole stage; -> results keyed `<probe>/top1` etc. (rank 0's; other ranks get the
    attentive probe's only)."""
    results: dict[str, float] = {}
    trainer = extraction_trainer()
    features = extract_features(trainer, encoder, datamodule, feature_splits(datamodule,
                                                                            settings.probes))
    if rank_zero_only.rank == 0:
        for split, rows in features.items():
            rows.save(settings.out_dir / "features" / f"{split}.safetensors", settings.metadata)
        device = trainer.strategy.root_device
        found, lines = feature_probes(settings, features, datamodule, device)
        results.update(found)
        lines.append(feature_picture(settings, features, datamodule.class_names))
        say("\n".join(lines))
    if "attentive" in settings.probes:
        results.update(attentive_probe(settings, attentive_trainer(), encoder, datamodule,
                                       attentive_ckpt))  # fmt: skip
    if rank_zero_only.rank == 0 and results:
        say("\n" + summary_line(results))
    return results
