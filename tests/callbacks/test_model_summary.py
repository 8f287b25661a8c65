"""The model summary's "Total FLOPs" for one clip against torch's FlopCounterMode, which counts the
matrix products and attention of an actual forward pass, and printed in Lightning's table."""

import logging
import re
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.utilities.model_summary.model_summary import get_human_readable_count
from torch.utils.flop_counter import FlopCounterMode

from videomae_ssl.callbacks.model_summary import ModelSummary, clip_flops
from videomae_ssl.lightning.finetune_module import VideoClassificationModule
from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.masking import RandomMaskGenerator, TubeMaskGenerator, decoder_mask_generator
from videomae_ssl.models import videomae_classifier, videomae_pretrain


def counted(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


@pytest.mark.parametrize(
    "masking, decoder_mask_ratio",
    [
        (TubeMaskGenerator(0.75), 0.0),
        (RandomMaskGenerator(0.9), 0.0),
        (TubeMaskGenerator(0.75), 0.5),
    ],
)
def test_pretraining_clip_flops_are_those_of_a_forward_pass(masking, decoder_mask_ratio):
    net = videomae_pretrain("tiny", img_size=32, num_frames=4, patch_size=8)
    module = VideoMAEPretrainModule(net, decoder_mask_ratio=decoder_mask_ratio).train()
    cells = decoder_mask_generator(decoder_mask_ratio)
    trainer = SimpleNamespace(
        datamodule=SimpleNamespace(mask_generator=masking, decoder_mask_generator=cells)
    )
    video = torch.randn(1, 3, 4, 32, 32)
    mask = masking(net.grid, torch.Generator().manual_seed(1))[None]
    batch = {"mask": mask}
    if cells is not None:
        batch["decoder_mask"] = cells(net.grid, torch.Generator().manual_seed(1))[None]
    with torch.no_grad():
        expected = counted(net, video, module.token_indices(batch))
    assert clip_flops(trainer, module) == expected > 0


def test_classifier_clip_flops_are_those_of_a_forward_pass():
    net = videomae_classifier(7, "tiny", img_size=32, num_frames=4, patch_size=8)
    module = VideoClassificationModule(net)
    with torch.no_grad():
        expected = counted(net, torch.randn(1, 3, 4, 32, 32))
    assert clip_flops(SimpleNamespace(datamodule=None), module) == expected > 0


def test_pretraining_without_a_mask_generator_keeps_lightnings_count():
    module = VideoMAEPretrainModule(videomae_pretrain("tiny", img_size=32, num_frames=4))
    assert clip_flops(SimpleNamespace(datamodule=None), module) is None


def test_the_table_prints_the_clip_flops(caplog):
    summary = ModelSummary()
    summary.clip_flops = 64_000_000_000
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.callbacks.model_summary"):
        data = [("Name", ["net", "loss"]), ("Params", ["1", "0"]), ("FLOPs", ["0", "0"])]
        summary.summarize(data, 1, 1, 0.0, {"train": 1, "eval": 0}, 0)
    count = re.escape(get_human_readable_count(64_000_000_000))  # "64.0 B"
    assert re.search(rf"^{count}\s+Total FLOPs$", caplog.text, re.IGNORECASE | re.MULTILINE)
    assert re.search(rf"^net\s+\| 1\s+\| {count}\s*$", caplog.text, re.MULTILINE)
    assert re.search(r"^loss\s+\| 0\s+\| -\s*$", caplog.text, re.MULTILINE)
