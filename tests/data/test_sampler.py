"""EpochSampler: DistributedSampler semantics, plus the epoch sent along with every index."""

import pytest

from videomae_ssl.data.epoch_sampler import EpochSampler


def shards(n, world, epoch=0, **kwargs):
    out = []
    for rank in range(world):
        sampler = EpochSampler(n, num_replicas=world, rank=rank, **kwargs)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_one_replica_covers_every_index_once_with_the_epoch():
    sampler = EpochSampler(10, seed=1)
    sampler.set_epoch(4)
    items = list(sampler)
    assert len(items) == len(sampler) == 10
    assert sorted(i for i, _ in items) == list(range(10))
    assert {e for _, e in items} == {4}


def test_ranks_split_and_pad_without_drop_last():
    parts = shards(10, 3, seed=0, shuffle=True)
    indices = [[i for i, _ in part] for part in parts]
    assert [len(p) for p in indices] == [4, 4, 4]
    flat = sum(indices, [])
    assert set(flat) == set(range(10))  # everything covered
    assert len(flat) - len(set(flat)) == 2  # two padding repeats


def test_ranks_are_disjoint_with_drop_last():
    parts = shards(10, 3, seed=0, shuffle=True, drop_last=True)
    flat = [i for part in parts for i, _ in part]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len(set(flat)) == 9


def test_unshuffled_order_is_strided_and_padded_from_the_start():
    parts = shards(5, 2, shuffle=False)
    assert parts == [[(0, 0), (2, 0), (4, 0)], [(1, 0), (3, 0), (0, 0)]]


def test_reshuffles_per_epoch_and_repeats_per_seed():
    first = shards(50, 2, epoch=0, seed=3)
    assert shards(50, 2, epoch=0, seed=3) == first
    second = shards(50, 2, epoch=1, seed=3)
    assert [i for i, _ in second[0]] != [i for i, _ in first[0]]
    other_seed = shards(50, 2, epoch=0, seed=4)
    assert [i for i, _ in other_seed[0]] != [i for i, _ in first[0]]
    # Seed s, epoch e+1 is not seed s+1, epoch e (no seed + epoch collision).
    assert [i for i, _ in shards(50, 1, epoch=1, seed=3)[0]] != [
        i for i, _ in shards(50, 1, epoch=0, seed=4)[0]
    ]


@pytest.mark.parametrize("shuffle", [False, True])
def test_without_padding_every_index_is_seen_exactly_once(shuffle):
    parts = shards(10, 3, seed=0, shuffle=shuffle, pad=False)
    assert [len(p) for p in parts] == [4, 3, 3]
    assert [len(EpochSampler(10, num_replicas=3, rank=r, pad=False)) for r in range(3)] == [4, 3, 3]
    assert sorted(i for part in parts for i, _ in part) == list(range(10))


@pytest.mark.parametrize("kwargs", [dict(num_replicas=2, rank=2), dict(num_replicas=0, rank=0)])
def test_invalid_rank(kwargs):
    with pytest.raises(ValueError):
        EpochSampler(10, **kwargs)


def test_a_restored_sampler_continues_the_epoch_where_it_stopped():
    sampler = EpochSampler(20, seed=2, num_replicas=2, rank=1, drop_last=True)
    sampler.set_epoch(3)
    full = list(sampler)
    sampler.set_epoch(3)
    for _ in iter(sampler):
        break  # a worker may have prefetched more than the loop consumed
    sampler.advance(4)
    restored = EpochSampler(20, seed=2, num_replicas=2, rank=1, drop_last=True)
    restored.load_state_dict(sampler.state_dict())
    restored.set_epoch(3)  # as Lightning's fit loop does after loading
    assert list(restored) == full[4:]
    assert len(restored) == 10  # the epoch's length, for the loop's batch count
    restored.set_epoch(4)  # the next epoch starts from its first sample
    assert len(list(restored)) == 10


def test_sampler_state_is_the_epoch_and_the_samples_consumed():
    sampler = EpochSampler(10)
    sampler.set_epoch(2)
    list(sampler)
    sampler.advance(3)
    assert sampler.state_dict() == {"epoch": 2, "consumed": 3}
