"""PNG output: sample grids (Pillow) and training curves (matplotlib, headless Agg backend).

Imported only by the commands that draw, so the model and the tests that do not draw need neither.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from pbitgen.model.io import atomic_write


def grid_png(
    path: str | Path,
    images: np.ndarray,
    cols: int = 16,
    scale: int = 3,
    rows_of: list | None = None,
    levels: int = 1,
) -> None:
    """Write images (n, H, W) of levels 0..``levels`` as a grid PNG (white = ``levels``), ``scale`` pixels per
    image pixel, a 1-pixel grey border. ``rows_of`` stacks several image sets as row blocks separated by a
    wider band."""
    from PIL import Image

    sets = rows_of if rows_of is not None else [images]
    blocks = []
    for imgs in sets:
        imgs = np.asarray(imgs)
        n, h, w = imgs.shape
        rows = -(-n // cols)
        canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1), 128, dtype=np.uint8)
        for k in range(n):
            r, c = divmod(k, cols)
            pixels = np.rint(imgs[k] * (255 / levels))
            canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = pixels
        blocks.append(canvas)
        blocks.append(np.full((3, canvas.shape[1]), 64, dtype=np.uint8))
    canvas = np.concatenate(blocks[:-1])
    img = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)

    def write(f: Any) -> None:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        f.write(buf.getvalue())

    atomic_write(path, write)


def curves_png(path: str | Path, runs: dict[str, list[dict[str, Any]]], title: str = "") -> None:
    """FD and mean chain autocorrelation per epoch for several runs (name -> history epochs), two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, hist in runs.items():
        ep = [e["epoch"] for e in hist]
        fd = [e["fd"] if e.get("fd") is not None else np.nan for e in hist]
        ac = [np.mean([s["autocorr"] for s in e["steps"]]) for e in hist]
        ax1.plot(ep, fd, marker=".", label=name)
        ax2.plot(ep, ac, marker=".", label=name)
    ax1.set(xlabel="epoch", ylabel="FD (own classifier features; not FID)", title="quality")
    ax2.set(xlabel="epoch", ylabel="autocorrelation at the ACP lag (mean over steps)", title="mixing")
    ax1.legend()
    ax2.legend()
    save_figure(fig, path, title)


def stability_png(
    path: str | Path, runs: dict[str, dict[int, dict[str, Any]]], title: str = "", free_labels: bool = False
) -> None:
    """The Fig.-5b figure: per arm (name -> seed -> per-epoch series ``fd``, ``autocorr``, ``penalty``), the
    mean over seeds as a line and their range as a band, in three panels: FD, the ACP statistic and the
    penalty strength (each the largest over steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("fd", f"FD{', free labels' if free_labels else ''} (own classifier; not FID)", "quality"),
        ("autocorr", "ACP statistic (tail autocorrelation, max over steps)", "mixing"),
        ("penalty", "penalty strength lambda (max over steps)", "penalty"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, by_seed in runs.items():
        for ax, (key, ylabel, panel) in zip(axes, panels, strict=True):
            y = np.array([r[key] for r in by_seed.values()], dtype=np.float64)
            ep = np.arange(1, y.shape[1] + 1)
            (line,) = ax.plot(ep, y.mean(axis=0), label=f"{name} ({len(by_seed)} seeds)")
            ax.fill_between(ep, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.2, linewidth=0)
            ax.set(xlabel="epoch", ylabel=ylabel, title=panel)
    axes[0].legend()
    save_figure(fig, path, title)


def save_figure(fig: Any, path: str | Path, title: str = "") -> None:
    """Title, lay out and write a matplotlib figure as a PNG (atomically), then free it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
