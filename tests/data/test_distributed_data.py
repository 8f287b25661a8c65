"""The data module under DDP, seen from one rank: the broken-video budget is decided over all
ranks, and only rank 0 probes the evaluation videos. The other rank is simulated by a strategy
whose collectives return what it would send (the real two-process runs are in
tests/test_distributed.py)."""

from types import SimpleNamespace

import pytest
import torch
from conftest import pretrain_module
from lightning.pytorch.utilities import rank_zero_only

from videomae_ssl.data.quarantine import BrokenVideoTracker
from videomae_ssl.errors import DataError


class OtherRank:
    """Collectives of a two-rank run, from this rank's side: the other rank meets
    `other_rows` broken videos at every batch and rank 0 sends `verdict` in broadcasts."""

    root_device = torch.device("cpu")

    def __init__(self, other_rows=(), verdict=None):
        self.other_rows = list(other_rows)
        self.verdict = verdict
        self.calls = []

    def reduce(self, tensor, reduce_op="mean"):
        assert reduce_op == "max"
        self.calls.append("reduce")
        if len(self.calls) == 1 or self.calls[-2] == "reduce":
            # The first reduce of a batch: the most new rows of a rank.
            return torch.maximum(tensor, torch.tensor(len(self.other_rows)))
        return tensor  # the count: the other rank computes the same one

    def all_gather(self, tensor):
        self.calls.append("gather")
        other = torch.full_like(tensor, -1)
        other[: len(self.other_rows)] = torch.tensor(self.other_rows)
        return torch.stack([tensor, other])

    def broadcast(self, obj, src=0):
        self.calls.append("broadcast")
        return self.verdict


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, clip_folder):
    return clip_folder(tmp_path_factory.mktemp("ds"), 3, labels=[0, 0, 0])


def module(folder, **kwargs):
    lists = dict(train_list=folder / "train.csv", root=folder, val_list=folder / "val.csv")
    return pretrain_module(**{**lists, **kwargs})


def test_every_rank_stops_when_another_rank_crosses_the_broken_budget(dataset_dir):
    dm = module(dataset_dir)
    dm.broken_tracker = BrokenVideoTracker([f"v{k}" for k in range(20)], max_fraction=0.1)
    dm.trainer = SimpleNamespace(world_size=2, training=True, strategy=OtherRank([3]))
    clean = {"broken": torch.tensor([0, 0]), "requested": torch.tensor([0, 1])}
    # Rank 0's own shard is clean; the other rank's broken video counts here too.
    assert int(dm.on_before_batch_transfer(dict(clean), 0)["broken_total"]) == 1
    dm.trainer.strategy.other_rows = [7, 9]
    with pytest.raises(DataError, match=r"3 of 20 videos .* more than data.max_broken_fraction"):
        dm.on_before_batch_transfer(dict(clean), 0)


def test_a_batch_without_new_broken_videos_costs_one_reduce(dataset_dir):
    dm = module(dataset_dir)
    dm.broken_tracker = BrokenVideoTracker([f"v{k}" for k in range(20)], max_fraction=0.5)
    strategy = OtherRank()
    dm.trainer = SimpleNamespace(world_size=2, training=True, strategy=strategy)
    batch = {"broken": torch.tensor([0, 0]), "requested": torch.tensor([0, 1])}
    assert int(dm.on_before_batch_transfer(batch, 0)["broken_total"]) == 0
    assert strategy.calls == ["reduce"]


def test_only_rank_zero_probes_and_the_others_take_its_verdict(dataset_dir, monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("rank 1 decoded the evaluation list")

    monkeypatch.setattr("videomae_ssl.data.datamodules.eval_check.probe_records", probe)
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    dm = module(dataset_dir, eval_broken="exclude")
    dm.validate_inputs("fit")
    assert len(dm.val_records) == 3  # not probed here
    strategy = OtherRank(verdict=[1])
    dm.trainer = SimpleNamespace(world_size=2, global_rank=1, strategy=strategy)
    dm.setup("fit")
    assert strategy.calls == ["broadcast"]
    assert [r.path for r in dm.val_records] == [
        str(dataset_dir / "videos" / "c0.mp4"),
        str(dataset_dir / "videos" / "c2.mp4"),
    ]
    assert len(dm.val_dataset) == 2


def test_rank_zero_probes_and_sends_its_verdict(dataset_dir, monkeypatch):
    sent = []

    class Rank0(OtherRank):
        def broadcast(self, obj, src=0):
            sent.append(obj)
            return obj

    dm = module(dataset_dir)
    dm.validate_inputs("fit")
    dm.trainer = SimpleNamespace(world_size=2, global_rank=0, strategy=Rank0())
    dm.setup("fit")
    assert sent == [[]] and len(dm.val_records) == 3
