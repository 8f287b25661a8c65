"""The data modules of the embedded demo dataset (`videomae_ssl.data.demo`), generated on first
use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videomae_ssl.data.datamodules.finetune import FinetuneDataModule
from videomae_ssl.data.datamodules.pretrain import PretrainDataModule
from videomae_ssl.data.demo import DEMO_CLASSES, SPLITS, ensure_demo_dataset
from videomae_ssl.errors import ConfigError
from videomae_ssl.masking import MaskGenerator

# The demo's data configs read the generated dataset's own lists from its folder.
OWN_LISTS = ("train_list", "val_list", "test_list", "root")


def _refuse_other_lists(options: dict[str, Any], experiment: str) -> None:
    """`+data.train_list=...` under a demo experiment: say how to train on one's own lists
    instead of failing on a keyword given twice."""
    given = [key for key in OWN_LISTS if key in options]
    if given:
        keys = ", ".join(f"data.{key}" for key in given)
        raise ConfigError(
            f"{keys}: the demo's data config reads the generated demo dataset's own lists; "
            f"for your own lists use a dataset's experiment (e.g. experiment=ucf101_{experiment} "
            f"with data.train_list=..., data.val_list=... and data.root=...)."
        )


class DemoPretrainDataModule(PretrainDataModule):
    """`PretrainDataModule` on the demo dataset in `<cache_dir>/seed_<demo_seed>`, generated
    on first use; it reads the unlabelled split. Defaults suit the demo: 8 frames 2 apart,
    32 px, CPU-sized loaders.
    `options` are the other `PretrainDataModule` arguments (backend, num_sample,
    quarantine_file, eval_broken, ...); the lists and their format are the demo's own."""

    def __init__(
        self,
        *,
        cache_dir: str,
        demo_seed: int = 0,
        num_frames: int = 8,
        sampling_rate: int = 2,
        input_size: int = 32,
        patch_size: int = 8,
        tubelet_size: int = 2,
        mask_generator: MaskGenerator,
        batch_size: int = 8,
        num_workers: int = 2,
        pin_memory: bool = False,
        seed: int = 0,
        **options: Any,
    ) -> None:
        _refuse_other_lists(options, "pretrain")
        self.dataset_dir = Path(cache_dir) / f"seed_{demo_seed}"
        self.demo_seed = demo_seed
        super().__init__(
            train_list=str(self.dataset_dir / "unlabelled.csv"),
            val_list=str(self.dataset_dir / "val.csv"),
            root=str(self.dataset_dir),
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            input_size=input_size,
            patch_size=patch_size,
            tubelet_size=tubelet_size,
            mask_generator=mask_generator,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            seed=seed,
            **options,
        )

    def prepare_data(self) -> None:
        """Generate the dataset once (Lightning calls this on one process per node)."""
        ensure_demo_dataset(self.dataset_dir, seed=self.demo_seed)

    def validate_inputs(self, stage: str = "fit") -> None:
        """Generate the dataset if needed, then check it like any other."""
        self.prepare_data()
        super().validate_inputs(stage)


class DemoFinetuneDataModule(FinetuneDataModule):
    """`FinetuneDataModule` on the demo dataset (generated on first use): its train, val and
    test lists and class names, 8 motion classes. `train_split` names the list to train on
    ("train", the 2 labelled clips per class; frozen evaluation takes "unlabelled", whose
    labels pretraining never saw, as its kNN bank); `class_names` defaults to the demo's own
    classes.txt. `options` are the other
    `FinetuneDataModule` arguments (sampling, augmentation, test views, batch size, ...)."""

    def __init__(
        self,
        *,
        cache_dir: str,
        demo_seed: int = 0,
        num_classes: int = len(DEMO_CLASSES),
        train_split: str = "train",
        class_names: str | None = None,
        **options: Any,
    ) -> None:
        if num_classes != len(DEMO_CLASSES):
            raise ConfigError(
                f"data.num_classes={num_classes}: the demo dataset has {len(DEMO_CLASSES)} classes."
            )
        if train_split not in SPLITS:
            raise ConfigError(f"data.train_split={train_split!r}: choose one of {SPLITS}.")
        _refuse_other_lists(options, "finetune")
        self.dataset_dir = Path(cache_dir) / f"seed_{demo_seed}"
        self.demo_seed = demo_seed
        super().__init__(
            train_list=str(self.dataset_dir / f"{train_split}.csv"),
            val_list=str(self.dataset_dir / "val.csv"),
            test_list=str(self.dataset_dir / "test.csv"),
            class_names=class_names or str(self.dataset_dir / "classes.txt"),
            root=str(self.dataset_dir),
            num_classes=len(DEMO_CLASSES),
            **options,
        )

    def prepare_data(self) -> None:
        ensure_demo_dataset(self.dataset_dir, seed=self.demo_seed)

    def validate_inputs(self, stage: str = "fit") -> None:
        self.prepare_data()
        super().validate_inputs(stage)
