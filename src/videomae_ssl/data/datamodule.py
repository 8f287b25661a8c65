"""Lightning data modules for videos listed in annotation files: the shared base (settings,
file checks, the evaluation probe, broken-video counting, rank-sharded loaders) and pretraining.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch.utils.data import DataLoader

from videomae_ssl.data.annotations import ANNOTATION_FORMATS, VideoRecord, read_annotations
from videomae_ssl.data.clip_dataset import collate_views
from videomae_ssl.data.on_device import prepare_batch
from videomae_ssl.data.pretrain import VideoPretrainDataset
from videomae_ssl.data.probe import probe_records
from videomae_ssl.data.quarantine import (
    EVAL_BROKEN_KEY,
    EVAL_BROKEN_MODES,
    EVAL_TAG,
    MAX_BROKEN_KEY,
    BrokenVideoTracker,
    broken_list_message,
    record_broken,
)
from videomae_ssl.data.readers import (
    FRAME_TEMPLATE,
    check_decode_device,
    open_record,
    resolve_backend,
)
from videomae_ssl.data.sampler import EpochSampler, ResumableDataLoader
from videomae_ssl.data.sampling import center_indices
from videomae_ssl.data.workers import worker_init
from videomae_ssl.errors import ConfigError, DataError
from videomae_ssl.masking import MaskGenerator, RunningCellMaskGenerator, check_decoder_ratio

# The lists frozen evaluation extracts features from, in this order (val when listed).
FEATURE_SPLITS = ("train", "val", "test")


class VideoDataModule(L.LightningDataModule):
    """What the pretraining and fine-tuning data modules share.

    `batch_size` is per device and counts videos: with `num_sample` views per video a batch
    holds batch_size * num_sample clips. The loaders use `EpochSampler` with this process's
    rank and world size from the trainer, so a multi-device trainer must run with
    `use_distributed_sampler=False` (our trainer configs do; others get a ConfigError). Call
    `validate_inputs(stage)` before building the trainer to fail early, with the config key to
    fix, on missing files, bad settings or (with `eval_broken="fail"`) unreadable evaluation
    videos.

    Broken training videos are replaced, listed in `quarantine_file` and counted; each training
    batch gets "broken_total" (distinct broken training videos so far) and the run stops with a
    DataError once that exceeds `max_broken_fraction` of the training list.
    """

    def __init__(
        self,
        *,
        train_list: str | None,
        val_list: str | None = None,
        test_list: str | None = None,
        root: str | None = None,
        num_frames: int = 16,
        sampling_rate: int = 4,
        input_size: int = 224,
        batch_size: int = 8,
        num_workers: int = 8,
        pin_memory: bool = True,
        seed: int = 0,
        backend: str = "auto",
        frame_template: str = FRAME_TEMPLATE,
        short_side: int | None = None,
        annotation_format: str = "v1",
        num_classes: int | None = None,
        check_files: bool = False,
        num_sample: int = 1,
        quarantine_file: str | None = None,
        max_broken_fraction: float = 0.01,
        eval_broken: str = "fail",
        decode_device: str = "cpu",
    ) -> None:
        super().__init__()
        self.train_list = None if train_list is None else str(train_list)
        self.val_list = None if val_list is None else str(val_list)
        self.test_list = None if test_list is None else str(test_list)
        self.root = None if root is None else str(root)
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.input_size = input_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.backend = backend
        self.frame_template = frame_template
        self.short_side = short_side
        self.annotation_format = annotation_format
        self.num_classes = num_classes
        self.check_files = check_files
        self.num_sample = num_sample
        self.quarantine_file = None if quarantine_file is None else str(quarantine_file)
        self.max_broken_fraction = max_broken_fraction
        self.eval_broken = eval_broken
        self.decode_device = decode_device
        self.train_records: list[VideoRecord] | None = None
        self.val_records: list[VideoRecord] | None = None
        self.test_records: list[VideoRecord] | None = None
        self.excluded_eval: list[tuple[str, str]] = []
        # Per evaluation mode ("val", "test"; "train" in frozen evaluation): every listed record,
        # and the rows the probe left out (None where this process did not probe: ranks > 0).
        self.listed_eval: dict[str, list[VideoRecord]] = {}
        self.excluded_rows: dict[str, list[int] | None] = {}
        self.train_dataset: Any = None
        # Frozen evaluation: the lists `setup("predict")` makes feature datasets of.
        self.feature_splits: tuple[str, ...] = FEATURE_SPLITS
        self.feature_datasets: dict[str, Any] = {}
        self.val_dataset: Any = None
        self.test_dataset: Any = None
        self.broken_tracker: BrokenVideoTracker | None = None
        self.train_loader: ResumableDataLoader | None = None
        self._sampler_state: dict[str, int] | None = None

    def _check_settings(self) -> None:
        """ConfigError naming the key for settings no file can fix."""
        backend = resolve_backend(self.backend, key="data.backend")
        check_decode_device(self.decode_device, backend)
        if not isinstance(self.num_sample, int) or self.num_sample < 1:
            raise ConfigError(f"data.num_sample={self.num_sample} must be a positive integer.")
        if not 0 <= self.max_broken_fraction <= 1:
            raise ConfigError(
                f"{MAX_BROKEN_KEY}={self.max_broken_fraction} must be a fraction in [0, 1]."
            )
        if self.eval_broken not in EVAL_BROKEN_MODES:
            raise ConfigError(
                f"{EVAL_BROKEN_KEY}={self.eval_broken!r}: choose fail (stop, listing the "
                f"unreadable evaluation videos) or exclude (leave them out)."
            )
        if self.short_side is not None and (
            not isinstance(self.short_side, int) or self.short_side < 1
        ):
            raise ConfigError(
                f"data.short_side={self.short_side} must be a positive pixel count, or null to "
                f"decode at full size."
            )
        if not isinstance(self.sampling_rate, int) or self.sampling_rate < 1:
            raise ConfigError(
                f"data.sampling_rate={self.sampling_rate} must be a positive integer (frames "
                f"between the clip's frames: 4 for Kinetics, UCF101 and HMDB51, 2 for SSv2)."
            )
        try:
            distinct = self.frame_template.format(1) != self.frame_template.format(2)
        except (IndexError, KeyError, ValueError):
            distinct = False
        if not distinct:
            raise ConfigError(
                f"data.frame_template={self.frame_template!r} must name frame files by one "
                f"integer field, e.g. 'img_{{:05d}}.jpg' for img_00001.jpg."
            )

    def lists_for(self, stage: str) -> list[tuple[str, str]]:
        """(config key, path) of the annotation files a stage reads: "fit" the training and
        validation lists, "test" the test list, "features" (frozen evaluation) all three."""
        test = [("data.test_list", self.test_list)]
        if stage in ("test", "features") and self.test_list is None:
            raise ConfigError("data.test_list is not set: give the list of test videos.")
        if stage == "test":
            return test
        if self.train_list is None:
            raise ConfigError("data.train_list is not set: give the list of training videos.")
        lists = [("data.train_list", self.train_list)]
        if self.val_list is not None:
            lists.append(("data.val_list", self.val_list))
        return lists + test if stage == "features" else lists

    def validate_inputs(self, stage: str = "fit") -> None:
        """Check settings, files and annotation lines, and probe the evaluation videos, before
        any training work.

        Raises DataError naming the file and the config key (`data.train_list`, ...) to set,
        or ConfigError naming the key of an impossible setting.
        """
        self._check_settings()
        help_text = (
            f"an annotation file in the {self.annotation_format} format "
            f"('{ANNOTATION_FORMATS.get(self.annotation_format, '?')}' per line, paths relative "
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
        if self.root is not None and not os.path.isdir(self.root):
            raise DataError(
                f"data.root={self.root}: no such folder; set data.root to the folder the "
                f"annotation paths are relative to, or to null."
            )
        for key, path in lists:
            records = self._read(path)
            mode = {"data.train_list": "train", "data.val_list": "val"}.get(key, "test")
            # Frozen evaluation reads the training videos like evaluation ones: never replaced.
            if mode == "train" and stage != "features":
                self.train_records = records
                continue
            self.listed_eval[mode] = records
            kept = self._probe_eval(records, path, self.eval_frames(mode), mode)
            setattr(self, f"{mode}_records", kept)

    def eval_frames(self, mode: str) -> Callable[[int], list[int]]:
        """The frames the `mode` ("train", "val" or "test") evaluation reads from a video of a
        given frame count: the probe decodes them before the run. Training videos are read
        as evaluation ones only by frozen evaluation, on their validation view."""
        raise NotImplementedError

    def _read(self, path: str) -> list[VideoRecord]:
        return read_annotations(
            path,
            self.root,
            format=self.annotation_format,
            num_classes=self.num_classes,
            check_files=self.check_files,
        )

    def _opener(self) -> partial:
        return partial(
            open_record,
            backend=resolve_backend(self.backend),
            frame_template=self.frame_template,
            short_side=self.short_side,
        )

    def _probe_eval(
        self,
        records: list[VideoRecord],
        list_path: str,
        frames: Callable[[int], list[int]],
        mode: str,
    ) -> list[VideoRecord]:
        """Open every evaluation video once and decode its validation clip: stop on bad ones
        ("fail") or drop them ("exclude", printed once and listed in the quarantine file under
        "eval").

        Only rank 0 (by the launcher's environment) probes: the other ranks would decode the
        same list again. They keep every record until `setup`, where rank 0's verdict reaches
        them (`_agree_on_eval_records`); where rank 0 stops, the launcher ends the others.
        """
        self.excluded_rows[mode] = None
        if rank_zero_only.rank != 0:
            return records
        bad = probe_records(
            records,
            self._opener(),
            # The frames evaluation will read: a video that opens but does not decode fails here.
            frames=frames,
            num_workers=self.num_workers,
            desc=f"Checking {os.path.basename(list_path)}",
            progress=rank_zero_only.rank == 0,
        )
        self.excluded_rows[mode] = [row for row, _ in bad]
        if not bad:
            return records
        named = [(records[row].path, error) for row, error in bad]
        if self.eval_broken == "fail":
            raise DataError(broken_list_message(named, len(records), list_path))
        if len(bad) == len(records):
            raise DataError(
                f"{list_path}: none of its {len(records)} evaluation videos can be opened, e.g. "
                f"{named[0][0]}: {named[0][1]}; check data.root={self.root}."
            )
        if self.quarantine_file is not None:
            for path, error in named:
                record_broken(self.quarantine_file, path, error, tag=EVAL_TAG)
        listed = f", listed in {self.quarantine_file}" if self.quarantine_file else ""
        rank_zero_info(
            f"{EVAL_BROKEN_KEY}=exclude: left out {len(bad)} of {len(records)} evaluation "
            f"videos of {list_path} that cannot be opened{listed}."
        )
        self.excluded_eval = named
        dropped = {row for row, _ in bad}
        return [r for row, r in enumerate(records) if row not in dropped]

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
            self.train_dataset = self.build_dataset("train", self.train_records)
            self.broken_tracker = BrokenVideoTracker(
                [r.path for r in self.train_records],
                max_fraction=self.max_broken_fraction,
                quarantine_file=self.quarantine_file,
                list_name=self.train_list,
            )
            if self.val_records is not None:
                self.val_dataset = self.build_dataset("val", self.val_records)
        else:
            self.test_dataset = self.build_dataset("test", self.test_records)

    def _setup_features(self) -> None:
        if self.test_records is None or self.train_records is None:
            self.validate_inputs("features")
        for mode in FEATURE_SPLITS:
            self._agree_on_eval_records(mode)
        # Training videos on their validation view: one centred clip and crop each.
        records = {"train": self.train_records, "val": self.val_records, "test": self.test_records}
        self.feature_datasets = {
            split: self.build_dataset("test" if split == "test" else "val", records[split])
            for split in FEATURE_SPLITS
            if split in self.feature_splits and records[split] is not None
        }

    def predict_dataloader(self) -> list[DataLoader]:
        """One loader per list of `feature_datasets` (frozen evaluation), in that order: every
        view of every video once over all ranks."""
        if not self.feature_datasets:
            self.setup("predict")
        return [self._eval_loader(dataset) for dataset in self.feature_datasets.values()]

    def _agree_on_eval_records(self, mode: str) -> None:
        """Under DDP, every rank keeps the evaluation records that rank 0's probe kept."""
        trainer = self.trainer
        if mode not in self.listed_eval or trainer is None or trainer.world_size == 1:
            return
        excluded = trainer.strategy.broadcast(self.excluded_rows.get(mode), src=0)
        if excluded is None:
            return  # rank 0 did not probe either (a list set after validate_inputs)
        self.excluded_rows[mode] = excluded
        dropped = set(excluded)
        kept = [r for row, r in enumerate(self.listed_eval[mode]) if row not in dropped]
        setattr(self, f"{mode}_records", kept)

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

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Count the training batch as consumed (its position is saved in checkpoints), count
        its replaced videos and add "broken_total" (a 0-dim tensor); raises DataError past
        `max_broken_fraction`. Runs in the main process, for the batches the loop trains on."""
        training = self.trainer is None or self.trainer.training
        if training and self.train_loader is not None:
            self.train_loader.advance()
        if (
            isinstance(batch, dict)
            and "broken" in batch
            and self.broken_tracker is not None
            and training
        ):
            rows = batch["requested"][batch["broken"] > 0].tolist()
            if self.trainer is not None and self.trainer.world_size > 1:
                total = self._count_broken_over_ranks(rows)
            else:
                total = self.broken_tracker.update(rows)
            batch["broken_total"] = torch.tensor(total)
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 clips travel to the device and are normalised (and augmented) there, for
        every module this data module feeds (see `on_device.prepare_batch`)."""
        return prepare_batch(batch) if isinstance(batch, dict) and "video" in batch else batch

    def _count_broken_over_ranks(self, rows: list[int]) -> int:
        """The tracker's count over all ranks, the same on every rank.

        Every rank takes part in the same collectives at every training batch (one all-reduce,
        plus a gather and another all-reduce at batches where some rank met a new broken video),
        so the budget is checked against the videos of every shard and, when it is exceeded,
        every rank raises at the same step instead of one raising and the others waiting in
        the next collective until the timeout.
        """
        strategy, tracker = self.trainer.strategy, self.broken_tracker
        device = strategy.root_device
        most = int(strategy.reduce(torch.tensor(len(rows), device=device), reduce_op="max"))
        if most == 0:
            return tracker.count
        padded = torch.full((most,), -1, dtype=torch.long, device=device)
        padded[: len(rows)] = torch.tensor(rows, dtype=torch.long)
        gathered = strategy.all_gather(padded)  # (world, most), -1 = no row
        tracker.add(gathered[gathered >= 0].tolist())
        # The quarantine file grows while the ranks read it: agree on the largest count.
        total = torch.tensor(tracker.total(), device=device)
        count = int(strategy.reduce(total, reduce_op="max"))
        tracker.check(count)
        return count

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: where the training sampler is in its epoch (see EpochSampler)."""
        if self.train_loader is None:
            return {}
        return {"train_sampler": self.train_loader.sampler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Applied when the training loader is built. Lightning also restores a stateful loader
        # itself, but only one built after its loops are restored, and configure_optimizers
        # (reading trainer.estimated_stepping_batches) builds it before.
        self._sampler_state = state_dict.get("train_sampler")

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        # Lightning would wrap our already sharded sampler in a second distributed sampler,
        # silently training on 1/world of the data. It keeps the flag on a private connector.
        connector = getattr(trainer, "_accelerator_connector", None)
        if trainer.world_size > 1 and getattr(connector, "use_distributed_sampler", False):
            raise ConfigError(
                "trainer.use_distributed_sampler must be false: the data module shards the "
                "clips itself, so that every sample knows its epoch."
            )
        return trainer.global_rank, trainer.world_size

    def _loader(
        self,
        dataset: Any,
        sampler: EpochSampler,
        collate: Callable[[list[dict[str, Any]]], dict[str, Any]] = collate_views,
        kind: type[DataLoader] = DataLoader,
    ) -> DataLoader:
        on_gpu = self.decode_device != "cpu"
        return kind(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=sampler.drop_last,
            num_workers=self.num_workers,
            # Clips decoded on the GPU are there already; CUDA cannot start in a forked worker.
            pin_memory=self.pin_memory and not on_gpu,
            multiprocessing_context="spawn" if on_gpu and self.num_workers > 0 else None,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate,
            worker_init_fn=worker_init,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        rank, world = self._rank_and_world()
        sampler = EpochSampler(
            len(self.train_dataset),
            shuffle=True,
            seed=self.seed,
            drop_last=True,
            num_replicas=world,
            rank=rank,
        )
        if self._sampler_state is not None:
            # A run restarted mid-epoch continues the epoch instead of replaying its start.
            sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        if len(sampler) < self.batch_size:
            raise DataError(
                f"{self.train_list}: {len(self.train_dataset)} clips give {len(sampler)} per "
                f"device on {world} device(s), fewer than one batch of data.batch_size="
                f"{self.batch_size}; lower data.batch_size or list more clips."
            )
        self.train_loader = self._loader(
            self.train_dataset, sampler, self.train_collate(), kind=ResumableDataLoader
        )
        return self.train_loader

    def _eval_loader(self, dataset: Any) -> DataLoader:
        rank, world = self._rank_and_world()
        sampler = EpochSampler(
            len(dataset),
            shuffle=False,
            seed=self.seed,
            drop_last=False,
            pad=False,  # each evaluation clip counted once, also under DDP
            num_replicas=world,
            rank=rank,
        )
        return self._loader(dataset, sampler)

    def val_dataloader(self) -> DataLoader | list:
        """The validation loader, or an empty list (Lightning then skips validation)."""
        if self.val_dataset is None and self.val_list is not None:
            self.setup("fit")
        if self.val_dataset is None:
            return []
        return self._eval_loader(self.val_dataset)

    def test_dataloader(self) -> DataLoader:
        if self.test_dataset is None:
            self.setup("test")
        return self._eval_loader(self.test_dataset)


class PretrainDataModule(VideoDataModule):
    """Train (and optionally validation) clips with masks for VideoMAE pretraining; see
    `VideoDataModule` for the loaders and the broken-video policy. Validation clips are the
    centre window with a centre crop and a fixed mask per clip. With `decoder_mask_ratio`
    (VideoMAE V2's decoder masking, the model's `decoder_mask_ratio`) each training clip also
    carries the tokens its decoder reconstructs, drawn from the clip's own stream."""

    def __init__(
        self,
        *,
        train_list: str,
        val_list: str | None = None,
        patch_size: int = 16,
        tubelet_size: int = 2,
        mask_generator: MaskGenerator,
        decoder_mask_ratio: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(train_list=train_list, val_list=val_list, **options)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.mask_generator = mask_generator
        self.decoder_mask_ratio = decoder_mask_ratio
        side = self.input_size // patch_size
        self.grid = (self.num_frames // tubelet_size, side, side)

    def _check_settings(self) -> None:
        self.mask_generator.check(self.grid)
        check_decoder_ratio(self.decoder_mask_ratio, self.grid, key="model.decoder_mask_ratio")
        super()._check_settings()

    def eval_frames(self, mode: str) -> Callable[[int], list[int]]:
        return partial(center_indices, num_frames=self.num_frames, sampling_rate=self.sampling_rate)

    def build_dataset(self, mode: str, records: list[VideoRecord]) -> VideoPretrainDataset:
        train = mode == "train"
        return VideoPretrainDataset(
            records,
            train=train,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            input_size=self.input_size,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size,
            mask_generator=self.mask_generator,
            decoder_mask_generator=(
                RunningCellMaskGenerator(self.decoder_mask_ratio) if self.decoder_mask_ratio else None
            ),
            seed=self.seed,
            backend=self.backend,
            frame_template=self.frame_template,
            short_side=self.short_side,
            num_sample=self.num_sample if train else 1,
            quarantine_file=self.quarantine_file if train else None,
            decode_device=self.decode_device,
        )
