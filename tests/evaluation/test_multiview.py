"""Multi-view accuracy against a hand-worked example, and a real two-process gloo run whose
shards repeat a (video, view) row the way a padding DistributedSampler does."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from videomae_ssl.evaluation import MultiViewAccuracy, aggregate_views

# 3 videos, 6 classes, 2 views each, rows out of order. (video_id, view_id, label, logits)
ROWS = [
    (10, 0, 2, [0.0, 1.0, 3.0, 0.0, 0.0, 0.0]),
    (20, 0, 0, [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    (30, 1, 5, [3.0, 2.0, 1.0, 1.0, 1.0, 0.0]),
    (10, 1, 2, [1.0, 0.0, 2.0, 0.0, 0.0, 0.0]),
    (20, 1, 0, [0.0, 4.0, 0.0, 0.0, 0.0, 0.0]),
    (30, 0, 5, [3.0, 2.0, 1.0, 1.0, 1.0, 0.0]),
]
# Padding repeats video 20's view 0. Counted twice, it would move video 20's top-1 from class 1
# (wrong) to class 0 (right).
PADDED = [*ROWS, ROWS[1]]
# By hand: video 10 -> class 2 (right); video 20 -> class 1 (wrong, label 0 second);
# video 30 -> class 0 (wrong, label 5 ranks last of 6).
TOP1, TOP5 = 1 / 3, 2 / 3


def softmax(row: list[float]) -> list[float]:
    e = [math.exp(x) for x in row]
    return [x / sum(e) for x in e]


def loop_mean_probs(rows: list[tuple]) -> dict[int, list[float]]:
    """Mean of the view softmaxes per video over every row given, one row at a time."""
    sums: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for video, _, _, logits in rows:
        p = softmax(logits)
        sums[video] = [a + b for a, b in zip(sums.get(video, [0.0] * len(p)), p, strict=True)]
        counts[video] = counts.get(video, 0) + 1
    return {v: [x / counts[v] for x in s] for v, s in sums.items()}


def loop_top1(rows: list[tuple], probs: dict[int, list[float]]) -> float:
    labels = {video: label for video, _, label, _ in rows}
    right = [max(range(len(p)), key=p.__getitem__) == labels[v] for v, p in probs.items()]
    return sum(right) / len(right)


def as_tensors(rows: list[tuple]) -> tuple[torch.Tensor, ...]:
    """(logits (M, C), labels (M,), video_ids (M,), view_ids (M,))."""
    return (
        torch.tensor([r[3] for r in rows]),
        torch.tensor([r[2] for r in rows]),
        torch.tensor([r[0] for r in rows]),
        torch.tensor([r[1] for r in rows]),
    )


def test_aggregate_views_matches_loop_and_counts_a_repeated_view_once():
    logits, labels, videos, views = as_tensors(PADDED)
    scores = aggregate_views(logits.softmax(dim=-1), labels, videos, views)
    expected = loop_mean_probs(ROWS)
    assert scores.video_ids.tolist() == [10, 20, 30]
    assert scores.labels.tolist() == [2, 0, 5]
    assert scores.num_views.tolist() == [2, 2, 2]
    want = torch.tensor([expected[v] for v in (10, 20, 30)], dtype=torch.float64)
    torch.testing.assert_close(scores.probs, want, rtol=0, atol=1e-6)
    naive = loop_mean_probs(PADDED)[20]
    assert max(abs(a - b) for a, b in zip(naive, expected[20], strict=True)) > 0.05
    assert (scores.probs[1] - torch.tensor(naive, dtype=torch.float64)).abs().max() > 0.05


def test_repeated_view_keeps_its_first_row():
    probs = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    videos = torch.tensor([5, 5, 5, 3, 5])
    views = torch.tensor([1, 0, 0, 0, 1])
    scores = aggregate_views(probs, torch.tensor([1, 1, 1, 0, 1]), videos, views)
    assert scores.video_ids.tolist() == [3, 5]
    assert scores.num_views.tolist() == [1, 2]
    # video 5: view 0 first seen as [0.9, 0.1], view 1 as [0.2, 0.8]
    want = torch.tensor([[0.6, 0.4], [0.55, 0.45]], dtype=torch.float64)
    torch.testing.assert_close(scores.probs, want, rtol=0, atol=1e-6)


def test_metric_top1_top5_by_hand():
    logits, labels, videos, views = as_tensors(PADDED)
    metric = MultiViewAccuracy(num_classes=6, expected_views=2)
    metric.update(logits[:3], labels[:3], videos[:3], views[:3])
    metric.update(logits[3:], labels[3:], videos[3:], views[3:])
    result = metric.compute()
    assert result["top1"].item() == pytest.approx(TOP1)
    assert result["top5"].item() == pytest.approx(TOP5)
    assert result["num_videos"].item() == 3
    assert result["num_views"].item() == 6
    # counted naively, the repeated row would make video 20 right
    assert loop_top1(PADDED, loop_mean_probs(PADDED)) == pytest.approx(2 / 3)
    scores = metric.video_scores()
    assert scores.video_ids.tolist() == [10, 20, 30]
    expected = loop_mean_probs(ROWS)
    want = torch.tensor([expected[v] for v in (10, 20, 30)], dtype=torch.float64)
    torch.testing.assert_close(scores.probs, want, rtol=0, atol=1e-6)


def test_metric_ignores_batching_and_order():
    logits, labels, videos, views = as_tensors(PADDED)
    one = MultiViewAccuracy(num_classes=6)
    one.update(logits, labels, videos, views)
    order = torch.tensor([6, 4, 2, 0, 5, 3, 1])
    many = MultiViewAccuracy(num_classes=6)
    for batch in order.split(2):
        many(logits[batch], labels[batch], videos[batch], views[batch])
    a, b = one.compute(), many.compute()
    assert {k: v.item() for k, v in a.items()} == {k: v.item() for k, v in b.items()}
    torch.testing.assert_close(one.video_scores().probs, many.video_scores().probs)


def test_top_k_is_clamped_to_the_number_of_classes():
    logits = torch.tensor([[3.0, 2.0, 0.0], [0.0, 1.0, 2.0]])
    metric = MultiViewAccuracy(num_classes=3, top_k=(1, 5))
    metric.update(logits, torch.tensor([2, 0]), torch.tensor([0, 1]), torch.tensor([0, 0]))
    result = metric.compute()
    assert result["top1"].item() == 0.0
    assert result["top5"].item() == 1.0


def test_views_of_one_video_with_different_labels_are_an_error():
    probs = torch.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=r"video ids: 7\b"):
        aggregate_views(
            probs, torch.tensor([1, 1, 2]), torch.tensor([4, 7, 7]), torch.tensor([0, 0, 1])
        )


def test_a_video_with_missing_views_is_an_error():
    logits, labels, videos, views = as_tensors([r for r in PADDED if r[:2] != (30, 1)])
    metric = MultiViewAccuracy(num_classes=6, expected_views=2)
    metric.update(logits, labels, videos, views)
    with pytest.raises(ValueError, match=r"1 of 3 videos .* fewer than 2 .*30 \(1\)"):
        metric.compute()
    assert (
        MultiViewAccuracy(num_classes=6, expected_views=1).forward(logits, labels, videos, views)
        is None
    )


def test_reset_clears_scores_and_nothing_scored_gives_nan():
    logits, labels, videos, views = as_tensors(ROWS)
    metric = MultiViewAccuracy(num_classes=6)
    metric.update(logits, labels, videos, views)
    metric.compute()
    metric.reset()
    assert metric.last_scores is None
    with pytest.warns(UserWarning, match="before the ``update``"):
        result = metric.compute()
    assert math.isnan(result["top1"].item())
    assert result["num_videos"].item() == 0


# Two processes on gloo.

NUM_VIDEOS, NUM_VIEWS, NUM_CLASSES = 7, 3, 8  # 21 rows: the sampler pads one per epoch


def ddp_rows() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    videos = torch.arange(NUM_VIDEOS).repeat_interleave(NUM_VIEWS)  # (M,)
    views = torch.arange(NUM_VIEWS).repeat(NUM_VIDEOS)  # (M,)
    labels = torch.randint(0, NUM_CLASSES, (NUM_VIDEOS,), generator=g)[videos]  # (M,)
    logits = torch.randn(videos.numel(), NUM_CLASSES, generator=g) * 2  # (M, C)
    return logits, labels, videos, views


def shard(rank: int, world_size: int) -> torch.Tensor:
    sampler = DistributedSampler(
        range(NUM_VIDEOS * NUM_VIEWS), num_replicas=world_size, rank=rank, shuffle=True, seed=0
    )
    return torch.tensor(list(sampler))


def ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        logits, labels, videos, views = ddp_rows()
        idx = shard(rank, world_size)
        metric = MultiViewAccuracy(num_classes=NUM_CLASSES, expected_views=NUM_VIEWS)
        for batch in idx.split(4):
            metric.update(logits[batch], labels[batch], videos[batch], views[batch])
        result = metric.compute()
        scores = metric.video_scores()
        local_rows = sum(p.shape[0] for p in metric.probs)  # states are back to the local shard
        # rank 1 scores nothing: the gather must still work and lose nothing
        lone = MultiViewAccuracy(num_classes=NUM_CLASSES, expected_views=NUM_VIEWS)
        if rank == 0:
            lone.update(logits, labels, videos, views)
        lone_result = lone.compute()
        torch.save(
            {
                "result": result,
                "probs": scores.probs,
                "video_ids": scores.video_ids,
                "local_rows": local_rows,
                "lone": lone_result,
                "lone_probs": lone.video_scores().probs,
            },
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_equals_single_process(tmp_path):
    world_size = 2
    shards = [shard(r, world_size) for r in range(world_size)]
    pairs = [set(s.tolist()) for s in shards]
    assert pairs[0] & pairs[1], "the sampler should have padded a row onto both ranks"
    assert set().union(*pairs) == set(range(NUM_VIDEOS * NUM_VIEWS))

    # fork where there is one: a spawned child re-imports torch and torchmetrics, some 15 s on
    # a two-core machine, while the run itself takes well under a second
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(
        ddp_worker,
        args=(world_size, free_port(), str(tmp_path)),
        nprocs=world_size,
        start_method=method,
    )

    logits, labels, videos, views = ddp_rows()
    single = MultiViewAccuracy(num_classes=NUM_CLASSES, expected_views=NUM_VIEWS)
    single.update(logits, labels, videos, views)
    want = {k: v.item() for k, v in single.compute().items()}
    want_probs = single.video_scores().probs
    assert want["num_views"] == NUM_VIDEOS * NUM_VIEWS
    for rank in range(world_size):
        out = torch.load(tmp_path / f"rank{rank}.pt")
        assert {k: v.item() for k, v in out["result"].items()} == want
        assert {k: v.item() for k, v in out["lone"].items()} == want
        assert out["video_ids"].tolist() == list(range(NUM_VIDEOS))
        torch.testing.assert_close(out["probs"], want_probs, rtol=0, atol=1e-12)
        torch.testing.assert_close(out["lone_probs"], want_probs, rtol=0, atol=1e-12)
        assert out["local_rows"] == shards[rank].numel()
