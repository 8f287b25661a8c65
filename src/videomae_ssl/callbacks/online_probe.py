"""Online probes during pretraining: a kNN (and optionally a linear) probe of the encoder's
pooled features on a labelled subset every few epochs, so a run that learns nothing is caught
in hours, not after a fine-tune (solo-learn logs the same during training).

Every `every_n_epochs` epochs (and once before the first), the encoder encodes the centre
clip and crop of each video of `train_list` and `val_list` (all its tokens: no mask) in eval
mode and without gradients; `probe/knn_top1` is the kNN top-1 of the validation videos among
the training ones. With `linear=True`, a linear head (`LinearProbe`) with its own AdamW
optimizer trains on the training features, kept from one probe to the next, and
`probe/linear_top1` is its validation top-1. The features are detached and the head is not a
parameter of the module, so no gradient of it reaches the encoder, and the global random
generators are restored afterwards: the pretraining run is the same with or without this
callback, loss and weights alike. A picture of the curves (`<dirpath>/knn_top1.png`) is redrawn
at every probe. Under DDP every rank encodes its share and the features are gathered once per
video.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.callbacks.logger_media import log_picture
from videomae_ssl.console import say
from videomae_ssl.data.annotations import read_annotations
from videomae_ssl.data.datamodules.eval_check import EvalListCheck
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.finetune_dataset import VideoClassificationDataset
from videomae_ssl.data.frame_indices import evaluation_clip_indices
from videomae_ssl.data.readers import FRAME_TEMPLATE
from videomae_ssl.data.transforms import normalize_video
from videomae_ssl.errors import DataError
from videomae_ssl.probe.features import FeatureSet, batch_rows, gather_rows, order_rows, stack_rows
from videomae_ssl.probe.heads import LinearProbe
from videomae_ssl.probe.knn import DEFAULT_K, DEFAULT_TEMPERATURE, knn_scores, topk_accuracy
from videomae_ssl.probe.linear import train_head
from videomae_ssl.seeding import preserved_global_rngs

KEYS = {"train": "probe.train_list", "val": "probe.val_list"}


def _on_cuda(device: torch.device) -> list[torch.device]:
    """The devices whose generator `torch.random.fork_rng` must keep: a GPU's, none on a CPU."""
    return [device] if device.type == "cuda" else []


class OnlineProbe(L.Callback):
    """kNN (and linear) top-1 of the encoder's features on a labelled subset during
    pretraining; see the module docstring. Clip settings are the pretraining data's
    (`num_frames` frames `sampling_rate` apart, `input_size` px)."""

    def __init__(
        self,
        train_list: str,
        val_list: str,
        *,
        root: str | None = None,
        every_n_epochs: int = 10,
        k: int = DEFAULT_K,
        temperature: float = DEFAULT_TEMPERATURE,
        linear: bool = False,
        linear_lr: float = 1e-3,
        linear_epochs: int = 10,
        num_frames: int = 16,
        sampling_rate: int = 4,
        input_size: int = 224,
        batch_size: int = 16,
        num_workers: int = 2,
        backend: str = "auto",
        annotation_format: str = "v1",
        frame_template: str = FRAME_TEMPLATE,
        dirpath: str | None = None,
    ) -> None:
        if not train_list or not val_list:
            raise DataError(
                "callbacks=pretrain_probe needs a labelled subset: set probe.train_list and "
                "probe.val_list to annotation files with labels (e.g. a few thousand training "
                "videos and the validation list of the fine-tuning data)."
            )
        if every_n_epochs < 1:
            raise DataError(f"probe.every_n_epochs={every_n_epochs}: expected an integer >= 1.")
        self.lists = {"train": str(train_list), "val": str(val_list)}
        self.root = root
        self.every_n_epochs = every_n_epochs
        self.k, self.temperature = k, temperature
        self.linear, self.linear_lr, self.linear_epochs = linear, linear_lr, linear_epochs
        self.clip = {
            "num_frames": num_frames,
            "sampling_rate": sampling_rate,
            "input_size": input_size,
        }
        self.batch_size, self.num_workers = batch_size, num_workers
        self.annotation_format = annotation_format
        self.decode = DecodeOptions(backend=backend, frame_template=frame_template)
        self.dirpath = Path(dirpath) if dirpath else None
        self.datasets: dict[str, VideoClassificationDataset] = {}
        self.num_classes = 0
        self.head: LinearProbe | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.history: dict[str, list[tuple[int, float]]] = {"knn_top1": [], "linear_top1": []}
        self.curve: Path | None = None
        self._restored: dict[str, Any] | None = None  # the head's state from a checkpoint

    # -- setup --------------------------------------------------------------------------------

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or self.datasets:
            return
        records = {}
        for split, path in self.lists.items():
            if not Path(path).is_file():
                raise DataError(f"{KEYS[split]}={path}: no such file; give a labelled list.")
            records[split] = read_annotations(path, self.root, format=self.annotation_format)
            if unlabelled := [r.path for r in records[split] if r.label < 0]:
                raise DataError(f"{KEYS[split]}={path}: {unlabelled[0]} has no label.")
        self.num_classes = 1 + max(r.label for rows in records.values() for r in rows)
        if rank_zero_only.rank == 0:  # the check leaves the global generators as they were
            self._check_videos(records)
        for split, rows in records.items():
            self.datasets[split] = VideoClassificationDataset(
                rows, mode="val", sampling="dense", decode=self.decode, **self.clip
            )

    def _check_videos(self, records: dict[str, list[Any]]) -> None:
        """Every probe video must decode, checked as the data module checks its evaluation
        lists: evaluation never replaces a video."""
        check = EvalListCheck(self.decode, num_workers=self.num_workers)
        num_frames, rate = self.clip["num_frames"], self.clip["sampling_rate"]

        def frames(total: int) -> list[int]:
            return evaluation_clip_indices(total, num_frames, rate, "dense", 1)[0]

        for split, rows in records.items():
            try:
                check.check(split, rows, self.lists[split], frames)
            except DataError as err:
                raise DataError(f"{KEYS[split]}: {err}") from None

    # -- probing ------------------------------------------------------------------------------

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0 and not self.history["knn_top1"]:
            self.probe(trainer, pl_module, epoch=0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1  # epochs completed
        if epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs:
            self.probe(trainer, pl_module, epoch)

    def probe(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        """Encode the subset, score the probes, log them and redraw the curve."""
        encoder = pl_module.net.encoder
        videos = sum(len(d) for d in self.datasets.values())
        if rank_zero_only.rank == 0:
            # Encoding the lists can take minutes on a CPU: say what runs meanwhile.
            say(f"epoch {epoch}  online probe: encoding {videos} videos of the probe lists ...")
        started = time.monotonic()
        # Loaders draw their base seed from the global generators, the head's initialisation
        # too: all are put back, so the run is the same with or without the probe.
        with preserved_global_rngs(), torch.random.fork_rng(devices=_on_cuda(pl_module.device)):
            was_training = encoder.training
            encoder.eval()
            try:
                features = {split: self._encode(trainer, encoder, split) for split in self.datasets}
            finally:
                encoder.train(was_training)
            scores = {"knn_top1": self._knn_top1(features)}
            if self.linear:
                scores["linear_top1"] = self._linear_top1(features, pl_module.device)
        for name, value in scores.items():
            self.history[name].append((epoch, value))
            if epoch == 0:  # before training: straight to the loggers, at step 0
                for logger in trainer.loggers:
                    logger.log_metrics({f"probe/{name}": value}, step=0)
            else:
                pl_module.log(f"probe/{name}", value, on_step=False, on_epoch=True)
        if rank_zero_only.rank == 0:
            shown = "  ".join(f"probe/{k} {100 * v:.1f}%" for k, v in scores.items())
            say(f"epoch {epoch}  {shown}  ({time.monotonic() - started:.0f} s)")
            self._draw(trainer)

    @torch.no_grad()
    def _encode(self, trainer: L.Trainer, encoder: torch.nn.Module, split: str) -> FeatureSet:
        """Pooled features (mean of the encoder's tokens) of every video of a list, read by the
        data module's evaluation loader: each video once over all ranks."""
        device = next(encoder.parameters()).device
        dataset = self.datasets[split]
        loader = trainer.datamodule.evaluation_loader(
            dataset, batch_size=self.batch_size, num_workers=self.num_workers
        )
        parts = []
        with trainer.precision_plugin.forward_context():
            for batch in loader:
                video = normalize_video(batch["video"].to(device))  # (B, 3, T, S, S)
                parts.append(batch_rows(encoder(video).mean(dim=1).float(), batch))  # (B, D)
        rows = stack_rows(parts, encoder.embed_dim, device)
        return order_rows(gather_rows(trainer.strategy, rows), len(dataset))

    def _knn_top1(self, features: dict[str, FeatureSet]) -> float:
        train, val = features["train"], features["val"]
        scores = knn_scores(
            train.features, train.labels, val.features, self.num_classes, self.k, self.temperature
        )
        return topk_accuracy(scores, val.labels, (1,))[1]

    def _linear_top1(self, features: dict[str, FeatureSet], device: torch.device) -> float:
        """A few epochs of the head on the detached training features, then its val top-1."""
        train, val = features["train"], features["val"]
        if self.head is None:
            self.head = LinearProbe(train.features.shape[1], self.num_classes).to(device)
            self.optimizer = torch.optim.AdamW(self.head.parameters(), lr=self.linear_lr)
            if self._restored is not None:  # a resumed run continues the head it had
                self.head.load_state_dict(self._restored["head"])
                self.optimizer.load_state_dict(self._restored["optimizer"])
                self._restored = None
        x, y = train.features.to(device).detach(), train.labels.to(device)
        generator = torch.Generator().manual_seed(len(self.history["linear_top1"]))
        train_head(
            self.head,
            self.optimizer,
            x,
            y,
            epochs=self.linear_epochs,
            batch_size=256,
            generator=generator,
        )
        logits = self.head(val.features.to(device)).float()
        return topk_accuracy(logits, val.labels, (1,))[1]

    def _draw(self, trainer: L.Trainer) -> None:
        if self.dirpath is None:
            return
        from videomae_ssl.viz.curves import accuracy_curve_png

        names = {"knn_top1": "kNN top-1", "linear_top1": "linear top-1"}
        curves = {names[k]: v for k, v in self.history.items() if v}
        self.curve = accuracy_curve_png(
            self.dirpath / "knn_top1.png",
            curves,
            title="online probe of the encoder during pretraining",
            chance=1.0 / self.num_classes if self.num_classes else None,
        )
        log_picture(trainer.loggers, "probe/curve", self.curve, trainer.global_step)

    # -- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"history": {k: list(v) for k, v in self.history.items()}}
        if self.head is not None and self.optimizer is not None:
            state["head"] = self.head.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {k: [tuple(p) for p in v] for k, v in state_dict["history"].items()}
        self._restored = state_dict if "head" in state_dict else None
