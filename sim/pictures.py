"""Image grids as PNG (Pillow): rows of samples side by side, e.g. hardware | golden model | float."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pbitgen.model.io import atomic_write


def grid(images: np.ndarray, cols: int, scale: int = 4, pad: int = 2) -> np.ndarray:
    """(n, h, w) values in {0, 1} -> one uint8 picture, ``cols`` images per row, white on dark grey."""
    n, h, w = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h * scale + pad) + pad, cols * (w * scale + pad) + pad), 40, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        y, x = pad + r * (h * scale + pad), pad + c * (w * scale + pad)
        out[y : y + h * scale, x : x + w * scale] = np.kron(images[k], np.ones((scale, scale))) * 255
    return out


def side_by_side(path: str | Path, panels: dict[str, np.ndarray], cols: int = 4, scale: int = 4) -> None:
    """Write one PNG with a titled panel per entry of ``panels`` (each (n, h, w), intensities in [0, 1])."""
    pics = {name: grid(imgs.astype(np.float64), cols, scale) for name, imgs in panels.items()}
    height = max(p.shape[0] for p in pics.values()) + 16
    width = sum(p.shape[1] for p in pics.values()) + 8 * (len(pics) - 1)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for name, pic in pics.items():
        draw.text((x + 2, 2), name, fill=0)
        canvas.paste(Image.fromarray(pic), (x, 16))
        x += pic.shape[1] + 8
    atomic_write(path, lambda f: canvas.save(f, format="PNG"))
