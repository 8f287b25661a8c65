"""The kNN probe against a plainly written reference: cosine similarities, the k nearest
neighbours (ties: the bank row listed first), weights exp(sim / T), class scores, and top-k
with equal scores ranked by the lower class id."""

import math

import pytest
import torch

from videomae_ssl.probe.knn import knn_scores, ranked_classes, topk_accuracy


def reference_knn(bank, labels, queries, num_classes, k, temperature):
    """One query at a time, in plain Python."""

    def unit(v):
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v]

    bank = [unit(v) for v in bank.tolist()]
    rows = []
    for q in queries.tolist():
        q = unit(q)
        sims = [sum(a * b for a, b in zip(q, v, strict=True)) for v in bank]
        # Most similar first; equal similarities: the bank row listed first.
        order = sorted(range(len(bank)), key=lambda j: (-sims[j], j))[: min(k, len(bank))]
        votes = [0.0] * num_classes
        for j in order:
            votes[int(labels[j])] += math.exp(sims[j] / temperature)
        total = sum(votes)
        rows.append([v / total for v in votes])
    return torch.tensor(rows, dtype=torch.float64)


def reference_topk(scores, labels, k):
    hits = 0
    for row, label in zip(scores.tolist(), labels.tolist(), strict=True):
        ranked = sorted(range(len(row)), key=lambda c: (-row[c], c))
        hits += int(label in ranked[:k])
    return hits / len(labels)


def test_scores_and_top5_match_the_reference_on_random_features():
    g = torch.Generator().manual_seed(0)
    bank, labels = torch.randn(60, 7, generator=g), torch.randint(0, 9, (60,), generator=g)
    queries, query_labels = torch.randn(25, 7, generator=g), torch.randint(0, 9, (25,), generator=g)
    for k, temperature in ((20, 0.07), (5, 0.5), (100, 0.07)):
        got = knn_scores(bank, labels, queries, 9, k, temperature, chunk_size=4)
        want = reference_knn(bank, labels, queries, 9, k, temperature)
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.sum(dim=1), torch.ones(25))
        for top in (1, 5):
            assert topk_accuracy(got, query_labels, (top,))[top] == pytest.approx(
                reference_topk(want, query_labels, top)
            )


def test_neighbours_of_equal_similarity_enter_in_bank_order():
    # Four bank features in the same direction: all equally similar to the query; with k=2
    # the two listed first vote (classes 2 and 1), not the last two (class 0).
    bank = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([2, 1, 0, 0, 0])
    scores = knn_scores(bank, labels, torch.tensor([[5.0, 0.0]]), 3, k=2, temperature=0.1)
    torch.testing.assert_close(scores, torch.tensor([[0.0, 0.5, 0.5]]))
    assert (
        scores.tolist()
        == reference_knn(bank, labels, torch.tensor([[5.0, 0.0]]), 3, 2, 0.1).float().tolist()
    )


def test_equal_class_scores_rank_the_lower_class_first():
    scores = torch.tensor([[0.0, 0.5, 0.5], [0.3, 0.3, 0.4], [0.25, 0.25, 0.25]])
    assert ranked_classes(scores)[:, :2].tolist() == [[1, 2], [2, 0], [0, 1]]
    # Labels 2, 0, 2: the first loses its tie with class 1 (second), the second wins its tie
    # with class 1 (second, after class 2), the third loses its three-way tie (third).
    labels = torch.tensor([2, 0, 2])
    assert topk_accuracy(scores, labels, (1, 2)) == {1: 0.0, 2: pytest.approx(2 / 3)}


def test_weights_follow_the_temperature():
    # Two neighbours at cosine 1 and 0: votes exp(1/T) and exp(0).
    bank, labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    for t in (0.07, 1.0):
        scores = knn_scores(bank, labels, torch.tensor([[1.0, 0.0]]), 2, k=2, temperature=t)
        w = math.exp(1 / t)
        torch.testing.assert_close(scores, torch.tensor([[w / (w + 1), 1 / (w + 1)]]))


def test_bad_inputs_are_refused():
    bank, labels = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="share D"):
        knn_scores(bank, labels, torch.randn(2, 5), 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        knn_scores(bank, torch.tensor([0, 1, 2, 1]), torch.randn(2, 3), 2)
    with pytest.raises(ValueError, match="empty"):
        knn_scores(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.randn(2, 3), 2)
