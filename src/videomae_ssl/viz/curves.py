"""Line charts of metrics over training (matplotlib): the online probes' accuracy per epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def accuracy_curve_png(
    path: str | Path,
    curves: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    chance: float | None = None,
) -> Path:
    """Save one line per named curve of (epoch, accuracy in [0, 1]) points, accuracy in %,
    with the value of the last point written beside it and a dashed chance level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in curves.items():
        if not points:
            continue
        epochs, values = zip(*sorted(points), strict=True)
        percent = [100 * v for v in values]
        ax.plot(epochs, percent, marker="o", label=name)
        ax.annotate(
            f"{percent[-1]:.1f}%",
            (epochs[-1], percent[-1]),
            textcoords="offset points",
            xytext=(6, 0),
            va="center",
            fontsize=9,
        )
    if chance is not None:
        ax.axhline(100 * chance, linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
