"""A 2-D map of frozen features coloured by class (scikit-learn's t-SNE), drawn with matplotlib.

Features are L2-normalised first and compared by cosine distance, as the kNN probe compares
them, so neighbours on the map are (roughly) the neighbours the kNN probe votes with. Up to
`MAX_LEGEND` classes get a legend entry each; with more, each class's name is written at the
median of its points instead (a legend of hundreds of entries cannot be read).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

MAX_LEGEND = 30
MAX_POINTS = 5000


def tsne_2d(features: torch.Tensor, seed: int = 0) -> np.ndarray:
    """(M, D) features -> (M, 2) t-SNE coordinates (cosine distance, PCA start, seeded)."""
    from sklearn.manifold import TSNE

    x = torch.nn.functional.normalize(features.float(), dim=1).numpy()
    perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3)))
    tsne = TSNE(2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed)
    return tsne.fit_transform(x)


def subsample(count: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Row indices of at most `max_points` of `count` rows, sorted, drawn with `seed`."""
    if count <= max_points:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=max_points, replace=False))


def embedding_png(
    path: str | Path,
    features: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str] | None = None,
    *,
    title: str = "features",
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Path:
    """Save a t-SNE map of (M, D) `features`, each point coloured by its label (M,), with a
    legend of class names (or ids). At most `max_points` points are drawn (a seeded subset,
    said in the title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(features) < 2:
        raise ValueError(f"a map needs at least 2 features, got {len(features)}")
    rows = subsample(len(features), max_points, seed)
    xy = tsne_2d(features[rows], seed)
    y = labels.long().numpy()[rows]
    classes = np.unique(y)
    names = [class_names[c] if class_names is not None else str(c) for c in classes]
    palette = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "hsv"
    colours = plt.get_cmap(palette)
    fig, ax = plt.subplots(figsize=(9.5 if len(classes) <= MAX_LEGEND else 8, 8), dpi=120)
    for i, (c, name) in enumerate(zip(classes, names, strict=True)):
        points = xy[y == c]
        colour = colours(i if len(classes) <= 20 else i / len(classes))
        ax.scatter(points[:, 0], points[:, 1], s=12, color=colour, label=name, alpha=0.8)
        if len(classes) > MAX_LEGEND:
            x0, y0 = np.median(points, axis=0)
            ax.annotate(name[:18], (x0, y0), fontsize=6, ha="center", va="center")
    shown = f"{len(rows)} of {len(features)}" if len(rows) < len(features) else f"{len(rows)}"
    ax.set_title(f"t-SNE of {title}: {shown} videos, {len(classes)} classes")
    ax.set_xticks([])
    ax.set_yticks([])
    if len(classes) <= MAX_LEGEND:
        ax.legend(
            loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=1.5, frameon=False
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
