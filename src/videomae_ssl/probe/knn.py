"""Weighted k-nearest-neighbour classification of frozen features (DINO, solo-learn).

Features are L2-normalised, so the dot product is the cosine similarity. Each query takes its
`k` most similar bank features; neighbour j votes for its class with weight exp(sim_j / T).
A class's score is the sum of its votes, divided here by the sum of all votes so that the
scores of a query add up to 1 (a distribution, which the multi-view test can average over
the views of a video like a softmax).

Ties are broken the same way everywhere: among neighbours of equal similarity the bank row
listed first wins a place in the k, and among classes of equal score the lower class id ranks
first. solo-learn leaves both to `topk` and `sort`, whose order for equal values is not
specified.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07


def knn_scores(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    num_classes: int,
    k: int = DEFAULT_K,
    temperature: float = DEFAULT_TEMPERATURE,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Class scores of each query from its k nearest bank features.

    bank: (M, D) features with labels (M,) in [0, num_classes); queries: (Q, D). Both are
    L2-normalised here (in float32). k is clamped to M. Returns (Q, num_classes) float32 scores,
    each row summing to 1. Queries are processed `chunk_size` at a time, so memory is
    O(chunk_size * M).
    """
    if bank.ndim != 2 or queries.ndim != 2 or bank.shape[1] != queries.shape[1]:
        raise ValueError(
            f"bank (M, D) and queries (Q, D) must share D; got {tuple(bank.shape)} and "
            f"{tuple(queries.shape)}"
        )
    if bank_labels.shape != (bank.shape[0],):
        raise ValueError(f"bank_labels must be ({bank.shape[0]},), got {tuple(bank_labels.shape)}")
    if bank.shape[0] == 0:
        raise ValueError("the kNN bank is empty: no labelled features to compare with")
    if k < 1 or temperature <= 0:
        raise ValueError(f"need k >= 1 and temperature > 0, got k={k}, temperature={temperature}")
    labels = bank_labels.long().to(bank.device)
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"bank labels must lie in [0, {num_classes}), got {labels.unique()}")
    bank = F.normalize(bank.float(), dim=1)  # (M, D)
    k = min(k, bank.shape[0])
    scores = []
    for chunk in queries.float().split(chunk_size):
        sims = F.normalize(chunk.to(bank.device), dim=1) @ bank.T  # (q, M)
        # A stable sort keeps equal similarities in bank order: the first listed wins.
        top_sims, top_rows = torch.sort(sims, dim=1, descending=True, stable=True)
        top_sims, top_rows = top_sims[:, :k], top_rows[:, :k]  # (q, k)
        weights = (top_sims / temperature).exp()  # (q, k)
        votes = torch.zeros(len(chunk), num_classes, dtype=torch.float32, device=bank.device)
        votes.scatter_add_(1, labels[top_rows], weights)  # (q, C)
        scores.append(votes / votes.sum(dim=1, keepdim=True))
    if not scores:
        return torch.zeros(0, num_classes, dtype=torch.float32, device=bank.device)
    return torch.cat(scores)  # (Q, C)


def ranked_classes(scores: torch.Tensor) -> torch.Tensor:
    """(Q, C) scores -> (Q, C) class ids from best to worst; equal scores keep the lower id
    first."""
    return torch.sort(scores, dim=1, descending=True, stable=True).indices


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Fraction of rows whose label is among the k best classes (`ranked_classes`), for each
    k (clamped to the number of classes). scores: (Q, C); labels: (Q,)."""
    if len(scores) == 0:
        return {k: float("nan") for k in ks}
    ranked = ranked_classes(scores)  # (Q, C)
    hits = ranked == labels.long().to(ranked.device).unsqueeze(1)  # (Q, C)
    return {k: float(hits[:, : min(k, scores.shape[1])].any(dim=1).float().mean()) for k in ks}
