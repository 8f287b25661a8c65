"""Frozen evaluation as one stage (`stage=probe`): the frozen encoder of `pretrained`, the
features each probe needs extracted once (`trainer.predict`), the kNN and linear probes on
them, the attentive probe trained and tested, the features drawn.

Under DDP every rank extracts its share of the videos and gets all the features; the kNN and
linear probes and the pictures then run on rank 0 alone, and the attentive probe on every rank.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from videomae_ssl.console import say
from videomae_ssl.errors import ConfigError
from videomae_ssl.models.config import GRID_FIELDS
from videomae_ssl.stages.build import (
    build_loggers,
    build_trainer,
    instantiate,
    lightning_logs_to_the_run_log,
    resume_checkpoint,
    say_on_rank_zero,
)

if TYPE_CHECKING:
    import lightning as L

    from videomae_ssl.data.datamodules import FinetuneDataModule
    from videomae_ssl.probe.encoder import FrozenEncoder
    from videomae_ssl.probe.features import FeatureSet
    from videomae_ssl.probe.settings import ProbeSettings


def probe_settings(cfg: DictConfig) -> ProbeSettings:
    """`cfg.probe` as `ProbeSettings`: the probes chosen (`probe=knn`, `probe=[knn,linear]`,
    ...: the option files of configs/probe/ add their nodes) and their settings."""
    from videomae_ssl.probe.evaluate import PROBE_NAMES
    from videomae_ssl.probe.settings import PROBE_SETTINGS, ProbeSettings

    node = cfg.probe
    probes = [name for name in PROBE_NAMES if node.get(name) is not None]
    if not probes:
        raise ConfigError(
            "stage=probe: no probe chosen; add probe=knn, probe=linear, probe=attentive or a "
            "list such as 'probe=[knn,linear]'."
        )
    built = {}
    for name in probes:
        values = OmegaConf.to_container(node[name], resolve=True)
        try:
            built[name] = PROBE_SETTINGS[name](**values)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"probe.{name}: {err}.") from None
    metadata = {
        "pretrained": str(cfg.get("pretrained") or ""),
        "num_frames": str(cfg.data.num_frames),
        "input_size": str(cfg.data.input_size),
    }
    return ProbeSettings(
        probes,
        Path(cfg.paths.output_dir),
        **built,
        embedding_points=int(node.get("embedding_points", 5000)),
        seed=int(cfg.seed),
        metadata=metadata,
    )


def run_probe(cfg: DictConfig) -> dict[str, Any]:
    """stage=probe: frozen evaluation of `cfg.pretrained` (or of random weights, a baseline)
    with the chosen probes on the fine-tuning data's lists (`run_frozen_evaluation`)."""
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_info

    from videomae_ssl.data.datamodules import FinetuneDataModule

    settings = probe_settings(cfg)
    lightning_logs_to_the_run_log()
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data, "data")
    if not isinstance(datamodule, FinetuneDataModule):
        raise ConfigError(
            "stage=probe needs labelled lists: use a probe or fine-tuning data config (e.g. "
            "experiment=ucf101_probe), not a pretraining one."
        )
    datamodule.validate_inputs("features")
    encoder = frozen_encoder_of(cfg, log=rank_zero_info)
    say_on_rank_zero(f"Run folder: {cfg.paths.output_dir}")
    if not cfg.get("pretrained"):
        say_on_rank_zero(
            "No pretrained=<checkpoint>: probing an encoder with random weights "
            "(the weights pretraining starts from), a baseline."
        )

    def extraction_trainer() -> L.Trainer:
        # The extractor keeps its features (predict_step returns nothing), by design.
        warnings.filterwarnings("ignore", message=".*predict returned None.*")
        return instantiate(
            cfg.trainer,
            "trainer",
            callbacks=[],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
        )

    # One set of loggers for the stage: the kNN and linear probes' results and pictures, then
    # the attentive probe's training and test.
    loggers = build_loggers(cfg)

    def attentive_trainer() -> L.Trainer:
        return build_trainer(cfg, loggers, max_epochs=settings.attentive.epochs)

    ckpt = resume_checkpoint(cfg) if "attentive" in settings.probes else None
    return run_frozen_evaluation(
        settings, encoder, datamodule, extraction_trainer, attentive_trainer, ckpt, loggers
    )


# The architecture keys every model config has (configs/model/*.yaml).
ARCHITECTURE_KEYS = ("size", *GRID_FIELDS)
FROZEN_ENCODER = "videomae_ssl.probe.encoder.frozen_encoder"


def frozen_encoder_of(cfg: DictConfig, log: Callable[[str], None]) -> FrozenEncoder:
    """The frozen encoder of `pretrained`: built by the probe's model config, or, under a
    fine-tuning or pretraining experiment, from that model config's architecture keys (the
    probe reads no classifier or decoder settings)."""
    net = cfg.model.net
    if net.get("_target_") != FROZEN_ENCODER:
        fields = {key: net[key] for key in ARCHITECTURE_KEYS if key in net}
        net = OmegaConf.create({"_target_": FROZEN_ENCODER, **fields})
    return instantiate(net, "model.net", pretrained=cfg.get("pretrained"), log=log)


def feature_splits(datamodule: FinetuneDataModule, probes: Sequence[str]) -> list[str]:
    """The lists to extract features of: train and test for the kNN and linear probes, and
    val (else test) for the picture of the features."""
    splits = ["train", "test"] if {"knn", "linear"} & set(probes) else []
    picture = "val" if datamodule.val_list is not None else "test"
    return [s for s in ("train", "val", "test") if s in splits or s == picture]


def extract_features(
    trainer: L.Trainer, encoder: FrozenEncoder, datamodule: FinetuneDataModule, splits: list[str]
) -> dict[str, FeatureSet]:
    """Pooled features of every view of the `splits` lists, on every rank (`trainer.predict`),
    each view exactly once (a check run, which reads some batches only, is not counted)."""
    from videomae_ssl.lightning.probe_modules import FeatureExtractor
    from videomae_ssl.probe.features import check_count

    datamodule.feature_splits = tuple(splits)
    extractor = FeatureExtractor(encoder, splits)
    trainer.predict(extractor, datamodule=datamodule, return_predictions=False)
    if not trainer.fast_dev_run and trainer.limit_predict_batches in (None, 1.0):
        for split, views in datamodule.feature_views().items():
            check_count(len(extractor.features[split]), views)
    return extractor.features


def attentive_probe(
    settings: ProbeSettings,
    trainer: L.Trainer,
    encoder: FrozenEncoder,
    datamodule: FinetuneDataModule,
    ckpt_path: str | None = None,
) -> dict[str, float]:
    """Train the attentive probe on the frozen encoder, then run the multi-view test (its
    report is the trainer's TestReport callback's)."""
    from videomae_ssl.lightning.probe_modules import AttentiveProbeModule

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
    loggers: Sequence[Any] = (),
) -> dict[str, float]:
    """The whole stage; -> results keyed `<probe>/top1` etc. (rank 0's; other ranks get the
    attentive probe's only). The kNN and linear probes' results, confusion matrices and the
    feature map also go to `loggers` (the files stay)."""
    from lightning.pytorch.utilities import rank_zero_only

    from videomae_ssl.probe.evaluate import feature_picture, feature_probes, summary_line

    results: dict[str, float] = {}
    trainer = extraction_trainer()
    splits = feature_splits(datamodule, settings.probes)
    features = extract_features(trainer, encoder, datamodule, splits)
    if rank_zero_only.rank == 0:
        for split, rows in features.items():
            rows.save(settings.out_dir / "features" / f"{split}.safetensors", settings.metadata)
        found, lines = feature_probes(
            settings,
            features,
            datamodule.num_classes,
            datamodule.class_names,
            [r.path for r in datamodule.test_records],
            (datamodule.test_clips, datamodule.test_crops),
            trainer.strategy.root_device,
        )
        results.update(found)
        lines.append(feature_picture(settings, features, datamodule.class_names))
        say("\n".join(lines))
        send_to_loggers(loggers, settings, found)
    if "attentive" in settings.probes:
        results.update(
            attentive_probe(settings, attentive_trainer(), encoder, datamodule, attentive_ckpt)
        )
    else:
        for logger in loggers:  # the attentive probe's trainer finalizes them otherwise
            logger.finalize("success")
    if rank_zero_only.rank == 0 and results:
        say("\n" + summary_line(results))
    return results


def send_to_loggers(
    loggers: Sequence[Any], settings: ProbeSettings, found: dict[str, float]
) -> None:
    """The kNN and linear probes' numbers and the pictures beside them (each probe's confusion
    matrix, the feature map), at step 0: they describe the frozen encoder, before any training."""
    from videomae_ssl.callbacks.logger_media import log_numbers, log_picture

    if not loggers:
        return
    log_numbers(loggers, found, step=0)
    pictures = {
        f"{name}/confusion": settings.out_dir / name / "confusion.png"
        for name in ("knn", "linear")
        if name in settings.probes
    }
    pictures["features/embedding"] = settings.out_dir / "embedding.png"
    for key, path in pictures.items():
        if path.is_file():
            log_picture(loggers, key, path, step=0)
