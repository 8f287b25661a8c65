"""Lightning's model summary with the FLOPs of one clip counted from the model's shapes.

Lightning fills the table's "Total Flops" by running `example_input_array` through the model,
and prints 0 for a module without one, as ours are (their inputs are a clip and its mask). This
callback prints the forward FLOPs of one clip instead, counted as `videomae_ssl.flops` counts
them (matrix products, 2 FLOPs per multiply-add, the convention of torch's FlopCounterMode):
for pretraining with the data's mask generators (the encoder's and the decoder's), for
fine-tuning of the classifier on one view.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import get_human_readable_count

from videomae_ssl import flops
from videomae_ssl.masking.indexing import token_indices
from videomae_ssl.models import VideoMAEClassifier, VideoMAEPretrainModel


def clip_flops(trainer: pl.Trainer, pl_module: pl.LightningModule) -> int | None:
    """Forward FLOPs of one clip through `pl_module.net`, or None when they cannot be told (a
    module or data module of another kind)."""
    net = getattr(pl_module, "net", None)
    if isinstance(net, VideoMAEClassifier):
        return flops.classify_flops(net.config, net.num_classes)
    masking = getattr(trainer.datamodule, "mask_generator", None)
    if not isinstance(net, VideoMAEPretrainModel) or masking is None:
        return None
    # The counts of a mask are those of every mask of a generator, whichever draw this is.
    mask = masking(net.grid, torch.Generator().manual_seed(0))[None]  # Bool[1, N]
    decoder_masking = getattr(trainer.datamodule, "decoder_mask_generator", None)
    decoder_mask = None
    if decoder_masking is not None:
        decoder_mask = decoder_masking(net.grid, torch.Generator().manual_seed(0))[None]
    ids = token_indices(mask, decoder_mask)
    return flops.pretrain_flops(net.config, ids.visible.shape[1], ids.decoded.shape[1])


class ModelSummary(LightningModelSummary):
    """`lightning.pytorch.callbacks.ModelSummary` whose "Total Flops" is `clip_flops`."""

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        super().__init__(max_depth, **summarize_kwargs)
        self.clip_flops: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clip_flops = clip_flops(trainer, pl_module)
        super().on_fit_start(trainer, pl_module)

    def summarize(  # type: ignore[override]  # an instance method where Lightning's is static
        self,
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if self.clip_flops is not None:
            total_flops = self.clip_flops
            # Lightning's FLOPs column reads 0 for every layer too: the network's row gets the
            # clip's count, the others (losses, metrics) none.
            names = dict(summary_data).get("Name", [])
            flops_of = {"net": get_human_readable_count(total_flops)}
            summary_data = [
                (column, [flops_of.get(n, "-") for n in names] if column == "FLOPs" else values)
                for column, values in summary_data
            ]
        super().summarize(
            summary_data,
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            total_flops=total_flops,
            **summarize_kwargs,
        )
