"""What the data modules share: the annotation lists each stage reads, the datasets built from
them, the rank-sharded loaders, and the batch hooks around the transfer to the device."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from videomae_ssl.data.annotations import ANNOTATION_FORMATS, VideoRecord, read_annotations
from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.datamodules.eval_check import EvalListCheck
from videomae_ssl.data.datamodules.loaders import ShardedLoaders, check_own_samplers
from videomae_ssl.data.datamodules.settings import (
    BrokenVideoSettings,
    ClipSettings,
    ListSettings,
    LoaderSettings,
    SettingView,
    check_settings,
    group_keys,
)
from videomae_ssl.data.datamodules.streams import StreamOptions
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.data.on_device import prepare_batch
from videomae_ssl.data.quarantine import BrokenVideoTracker, count_broken_over_ranks
from videomae_ssl.errors import ConfigError, DataError

# The lists frozen evaluation extracts features from, in this order (val when listed).
FEATURE_SPLITS = ("train", "val", "test")


class VideoDataModule(L.LightningDataModule):
    """What the pretraining and fine-tuning data modules share.

    The settings come as the flat keys of configs/data/*.yaml (`batch_size=16`,
    `num_frames=16`, `backend="pyav"`, ...) and are kept in typed groups
    (`datamodules.settings`): `lists` (ListSettings: the annotation files, root, format),
    `clips` (ClipSettings: frames, frame step, size, views per video), `loader`
    (LoaderSettings: batch size, workers, pinned memory, seed), `broken`
    (BrokenVideoSettings), `decode` (DecodeOptions) and `stream` (StreamOptions, or None).
    The fields the stages and datasets read are also attributes (`dm.batch_size`,
    `dm.val_list`, `dm.num_frames`, ...), read-only.

    `batch_size` is per device and counts videos: with `num_sample` views per video a batch
    holds batch_size * num_sample clips. The loaders shard every epoch by the trainer's rank
    (`loaders.ShardedLoaders`), so a multi-device trainer must run with
    `use_distributed_sampler=False` (our trainer configs do; others get a ConfigError). Call
    `validate_inputs(stage)` before building the trainer to fail early, with the config key to
    fix, on missing files, bad settings or (with `eval_broken="fail"`) unreadable evaluation
    videos (`eval_check`).

    Broken training videos are replaced, listed in `quarantine_file` and counted; each training
    batch gets "broken_total" (distinct broken training videos so far) and the run stops with a
    DataError once that exceeds `max_broken_fraction` of the training list. The decode settings
    (`backend`, `frame_template`, `short_side`, `decode_device`, `decode_skip_loop_filter`)
    become one `DecodeOptions`.

    With `stream` (`data.stream`, a folder or s3:// URL of lists packed by
    `videomae_ssl.prep.pack`), each list is read from its shards (`datamodules.streams`): the
    same clips, samplers and resume, the bytes read from the shards (remote ones cached in
    `stream_cache_dir`, up to `stream_cache_size`).
    """

    train_list = SettingView("lists")
    val_list = SettingView("lists")
    test_list = SettingView("lists")
    root = SettingView("lists")
    num_classes = SettingView("lists")
    num_frames = SettingView("clips")
    sampling_rate = SettingView("clips")
    input_size = SettingView("clips")
    num_sample = SettingView("clips")
    batch_size = SettingView("loader")
    seed = SettingView("loader")
    quarantine_file = SettingView("broken")

    def __init__(self, **keys: Any) -> None:
        """`keys`: the data config's keys (`settings.KEYS`); each one left out keeps the
        default of its settings group."""
        super().__init__()
        groups = group_keys(keys)
        self.lists: ListSettings = groups["lists"]
        self.clips: ClipSettings = groups["clips"]
        self.loader: LoaderSettings = groups["loader"]
        self.broken: BrokenVideoSettings = groups["broken"]
        self.decode: DecodeOptions = groups["decode"]
        self.stream: StreamOptions | None = groups["stream"]
        self.shard_splits: dict[str, Any] = {}
        self.eval_check = EvalListCheck(
            self.decode,
            eval_broken=self.broken.eval_broken,
            quarantine_file=self.broken.quarantine_file,
            num_workers=self.loader.num_workers,
            root=self.lists.root,
        )
        self.loaders = ShardedLoaders(
            batch_size=self.loader.batch_size,
            num_workers=self.loader.num_workers,
            pin_memory=self.loader.pin_memory,
            seed=self.loader.seed,
            on_gpu=self.decode.on_gpu,
        )
        self.train_records: list[VideoRecord] | None = None
        self.val_records: list[VideoRecord] | None = None
        self.test_records: list[VideoRecord] | None = None
        self.train_dataset: Any = None
        self.val_dataset: Any = None
        self.test_dataset: Any = None
        # Frozen evaluation: the lists `setup("predict")` makes feature datasets of.
        self.feature_splits: tuple[str, ...] = FEATURE_SPLITS
        self.feature_datasets: dict[str, Any] = {}
        self.broken_tracker: BrokenVideoTracker | None = None

    @property
    def excluded_eval(self) -> list[tuple[str, str]]:
        """(path, reason) of the evaluation videos `data.eval_broken=exclude` left out."""
        return self.eval_check.excluded

    @property
    def train_loader(self) -> Any:
        return self.loaders.train_loader

    def _check_settings(self) -> None:
        """ConfigError naming the key for settings no file can fix."""
        check_settings(self.decode, self.clips, self.broken)
        if self.stream is not None:
            self.stream.check()

    # -- the lists ----------------------------------------------------------------------------

    def lists_for(self, stage: str) -> list[tuple[str, str]]:
        """(config key, path) of the annotation files a stage reads: "fit" the training and
        validation lists, "test" the test list, "features" (frozen evaluation) all three."""
        lists = self.lists
        test = [("data.test_list", lists.test_list)]
        if stage in ("test", "features") and lists.test_list is None:
            raise ConfigError("data.test_list is not set: give the list of test videos.")
        if stage == "test":
            return test
        if lists.train_list is None:
            raise ConfigError("data.train_list is not set: give the list of training videos.")
        found = [("data.train_list", lists.train_list)]
        if lists.val_list is not None:
            found.append(("data.val_list", lists.val_list))
        return found + test if stage == "features" else found

    def validate_inputs(self, stage: str = "fit") -> None:
        """Check settings, files and annotation lines, and the evaluation videos, before any
        training work.

        Raises DataError naming the file and the config key (`data.train_list`, ...) to set,
        or ConfigError naming the key of an impossible setting.
        """
        self._check_settings()
        if self.stream is not None:
            self._read_streams(stage)
            return
        fmt, root = self.lists.annotation_format, self.lists.root
        help_text = (
            f"an annotation file in the {fmt} format "
            f"('{ANNOTATION_FORMATS.get(fmt, '?')}' per line, paths relative "
            f"to data.root); data.annotation_format selects v1, v2 or frames"
        )
        lists = self.lists_for(stage)
        for key, path in lists:
            if os.path.isdir(path):
                raise DataError(
                    f"{key}={path}: is a folder; set {key} to the annotation file itself "
                    f"({help_text}), e.g. {os.path.join(path, 'train.csv')}."
                )
            if not os.path.isfile(path):
                raise DataError(f"{key}={path}: no such file; set {key} to {help_text}.")
        if root is not None and not os.path.isdir(root):
            raise DataError(
                f"data.root={root}: no such folder; set data.root to the folder the "
                f"annotation paths are relative to, or to null."
            )
        for key, path in lists:
            records = self._read(path)
            mode = {"data.train_list": "train", "data.val_list": "val"}.get(key, "test")
            # Frozen evaluation reads the training videos like evaluation ones: never replaced.
            if mode == "train" and stage != "features":
                self.train_records = records
                continue
            kept = self.eval_check.check(mode, records, path, self.eval_frames(mode))
            setattr(self, f"{mode}_records", kept)

    def _read_streams(self, stage: str) -> None:
        """The records of each list from its shards' manifest (see `datamodules.streams`)."""
        for key, path in self.lists_for(stage):
            mode = {"data.train_list": "train", "data.val_list": "val"}.get(key, "test")
            self.shard_splits[mode] = self.stream.split(path, key)
            setattr(self, f"{mode}_records", self.shard_splits[mode].records)

    def _reading(self, dataset: Any, split: str) -> Any:
        """`dataset` reading the shards of `split` when the lists are streamed."""
        if self.stream is not None:
            dataset.shards = self.shard_splits[split]
        return dataset

    def eval_frames(self, mode: str) -> Callable[[int], list[int]]:
        """The frames the `mode` ("train", "val" or "test") evaluation reads from a video of a
        given frame count: the check decodes them before the run. Training videos are read as
        evaluation ones only by frozen evaluation, on their validation view."""
        raise NotImplementedError

    def _read(self, path: str) -> list[VideoRecord]:
        lists = self.lists
        return read_annotations(
            path,
            lists.root,
            format=lists.annotation_format,
            num_classes=lists.num_classes,
            check_files=lists.check_files,
            names=self.class_count_file(),
        )

    def class_count_file(self) -> str | None:
        """The classes.txt the class count comes from, if any (fine-tuning's)."""
        return None

    def _agree_on_eval_records(self, mode: str) -> None:
        """Under DDP, every rank keeps the evaluation records that rank 0's check kept."""
        kept = self.eval_check.agree(self.trainer, mode)
        if kept is not None:
            setattr(self, f"{mode}_records", kept)

    # -- the datasets -------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Parse the annotation files (once) and build the datasets: "fit" the training and
        validation ones, "test" the multi-view test, "predict" the evaluation views of every
        list for frozen evaluation (`feature_datasets`)."""
        if stage == "predict":
            self._setup_features()
            return
        stage = "test" if stage == "test" else "fit"
        records = self.test_records if stage == "test" else self.train_records
        if records is None:
            self.validate_inputs(stage)
        for mode in ("train", "val") if stage == "fit" else ("test",):
            self._agree_on_eval_records(mode)
        if stage == "fit":
            self.train_dataset = self._reading(
                self.build_dataset("train", self.train_records), "train"
            )
            self.broken_tracker = BrokenVideoTracker(
                [r.path for r in self.train_records],
                max_fraction=self.broken.max_broken_fraction,
                quarantine_file=self.broken.quarantine_file,
                list_name=self.lists.train_list,
            )
            if self.val_records is not None:
                self.val_dataset = self._reading(self.build_dataset("val", self.val_records), "val")
        else:
            self.test_dataset = self._reading(self.build_dataset("test", self.test_records), "test")

    def _setup_features(self) -> None:
        if self.test_records is None or self.train_records is None:
            self.validate_inputs("features")
        for mode in FEATURE_SPLITS:
            self._agree_on_eval_records(mode)
        # Training videos on their validation view: one centred clip and crop each.
        records = {"train": self.train_records, "val": self.val_records, "test": self.test_records}
        self.feature_datasets = {
            split: self._reading(
                self.build_dataset("test" if split == "test" else "val", records[split]), split
            )
            for split in FEATURE_SPLITS
            if split in self.feature_splits and records[split] is not None
        }

    def feature_views(self) -> dict[str, int]:
        """The views each list of `feature_datasets` gives over all ranks (a test video has
        `test_crops` views per item), by list name: what frozen evaluation must gather."""
        return {
            split: len(d) * (d.test_crops if d.mode == "test" else 1)
            for split, d in self.feature_datasets.items()
        }

    def build_dataset(self, mode: str, records: list[VideoRecord]) -> Any:
        """The dataset for `mode` ("train", "val" or "test") over `records`."""
        raise NotImplementedError

    def train_collate(self) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        """How training items become a batch (evaluation batches use `collate_views`)."""
        return collate_views

    @property
    def num_train_samples(self) -> int:
        """Videos listed in `train_list` (over all ranks), known after `setup()`."""
        if self.train_records is None:
            raise RuntimeError("num_train_samples is known only after setup()")
        return len(self.train_records)

    # -- the loaders --------------------------------------------------------------------------

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        return self.loaders.train(
            self.train_dataset, self.trainer, self.train_collate(), self.lists.train_list
        )

    def val_dataloader(self) -> DataLoader | list:
        """The validation loader, or an empty list (Lightning then skips validation)."""
        if self.val_dataset is None and self.lists.val_list is not None:
            self.setup("fit")
        if self.val_dataset is None:
            return []
        return self.loaders.evaluation(self.val_dataset, self.trainer)

    def test_dataloader(self) -> DataLoader:
        if self.test_dataset is None:
            self.setup("test")
        return self.loaders.evaluation(self.test_dataset, self.trainer)

    def evaluation_loader(
        self, dataset: Any, *, batch_size: int | None = None, num_workers: int | None = None
    ) -> DataLoader:
        """A loader of another dataset read like the evaluation lists (the online probe's):
        in order, each item once over all ranks; `batch_size` and `num_workers` replace the
        data module's own."""
        return self.loaders.evaluation(
            dataset, self.trainer, batch_size=batch_size, num_workers=num_workers
        )

    def predict_dataloader(self) -> list[DataLoader]:
        """One loader per list of `feature_datasets` (frozen evaluation), in that order: every
        view of every video once over all ranks."""
        if not self.feature_datasets:
            self.setup("predict")
        return [self.loaders.evaluation(d, self.trainer) for d in self.feature_datasets.values()]

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: where the training sampler is in its epoch (see EpochSampler)."""
        return self.loaders.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.loaders.load_state_dict(state_dict)

    # -- the batch hooks ----------------------------------------------------------------------

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Count the training batch as consumed (its position is saved in checkpoints), count
        its replaced videos and add "broken_total" (a 0-dim tensor); raises DataError past
        `max_broken_fraction`. Runs in the main process, for the batches the loop trains on."""
        check_own_samplers(self.trainer)  # a few attribute reads, under DDP only
        training = self.trainer is None or self.trainer.training
        if training:
            self.loaders.advance()
        if (
            isinstance(batch, dict)
            and "broken" in batch
            and self.broken_tracker is not None
            and training
        ):
            rows = batch["requested"][batch["broken"] > 0].tolist()
            if self.trainer is not None and self.trainer.world_size > 1:
                total = count_broken_over_ranks(self.trainer.strategy, self.broken_tracker, rows)
            else:
                total = self.broken_tracker.update(rows)
            self.broken_tracker.report_new(rank_zero_info)
            batch["broken_total"] = torch.tensor(total)
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 clips travel to the device and are normalised (and augmented) there, for
        every module this data module feeds (see `on_device.prepare_batch`)."""
        return prepare_batch(batch) if isinstance(batch, dict) and "video" in batch else batch
