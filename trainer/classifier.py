"""The project's own Fashion-MNIST classifier, whose feature space the FD is measured in.

InceptionV3 weights cannot be downloaded here, so quality is a Frechet distance in the penultimate layer
of a small NumPy MLP trained on the images as the model sees them: binarised, or quantised to the
model's grey levels, at the model's resolution (the classifier must see what the model generates).
Architecture: P -> 256 (ReLU) -> 64 (ReLU, the features) -> 10 (softmax), Adam, cross-entropy;
deterministic given its seed. Weights ship as an .npz (no pickle) beside the default model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.model.io import read_npz, save_npz

if TYPE_CHECKING:
    from .dtm_config import DTMConfig

KEYS = ("w1", "b1", "w2", "b2", "w3", "b3", "side", "test_accuracy")
#: Optional: the images' top grey level (1, binary, when absent: files written before grayscale).
LEVELS_KEY = "levels"


@dataclass(eq=False)
class Classifier:
    """MLP weights; ``side`` is the image resolution it reads, ``levels`` its images' top level (it reads
    images of levels 0..``levels`` as intensities level / ``levels``)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    side: int
    test_accuracy: float = float("nan")
    levels: int = 1

    def _layers(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(images, dtype=np.float32).reshape(len(images), -1) / np.float32(self.levels)
        a1 = np.maximum(x @ self.w1 + self.b1, 0)
        a2 = np.maximum(a1 @ self.w2 + self.b2, 0)
        return a1, a2, a2 @ self.w3 + self.b3

    def features(self, images: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """Penultimate activations (n, 64), float64: the space the FD is measured in."""
        out = [self._layers(images[k : k + chunk])[1] for k in range(0, len(images), chunk)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.w2.shape[1]))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self._layers(images[k : k + 4096])[2].argmax(1) for k in range(0, len(images), 4096)])

    def save(self, path: str | Path) -> None:
        save_npz(
            path,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=self.b2,
            w3=self.w3,
            b3=self.b3,
            side=np.array(self.side),
            test_accuracy=np.array(self.test_accuracy),
            **({LEVELS_KEY: np.array(self.levels)} if self.levels > 1 else {}),
        )


def load_classifier(path: str | Path) -> Classifier:
    """Load and validate classifier weights (one line naming the file and field on any problem)."""
    path = Path(path)
    a = read_npz(path, KEYS, optional=(LEVELS_KEY,))
    side = int(a["side"]) if a["side"].shape == () and np.issubdtype(a["side"].dtype, np.integer) else -1
    if side not in (14, 28):
        raise PbitgenError(f"{path}: field 'side' must be 14 or 28, not {a['side']!r}")
    p = side * side
    shapes = {"w1": (p, 256), "b1": (256,), "w2": (256, 64), "b2": (64,), "w3": (64, 10), "b3": (10,)}
    for k, shape in shapes.items():
        if not np.issubdtype(a[k].dtype, np.floating) or a[k].shape != shape:
            raise PbitgenError(f"{path}: field '{k}' must be floats of shape {shape}, not {a[k].dtype} {a[k].shape}")
        if not np.isfinite(a[k]).all():
            raise PbitgenError(f"{path}: field '{k}' must be finite")
    levels = 1
    if LEVELS_KEY in a:
        raw = a[LEVELS_KEY]
        levels = int(raw) if raw.shape == () and np.issubdtype(raw.dtype, np.integer) else -1
    if not 1 <= levels <= 255:
        raise PbitgenError(f"{path}: field '{LEVELS_KEY}' must be an integer in 1..255")
    weights = (a[k].astype(np.float32) for k in shapes)
    return Classifier(*weights, side=side, test_accuracy=float(a["test_accuracy"]), levels=levels)


def load_classifier_for(path: str | Path, dtm: DTMConfig) -> Classifier:
    """:func:`load_classifier`, refusing a classifier made for other images than the model ``dtm``'s."""
    clf = load_classifier(path)
    side = dtm.image_side
    if clf.side != side:
        raise PbitgenError(f"{path}: field 'side' is {clf.side}, but the model's images are {side}x{side}")
    if clf.levels != dtm.gray_levels:
        raise PbitgenError(
            f"{path}: field '{LEVELS_KEY}' is {clf.levels}, but the model's pixels have {dtm.gray_levels + 1} levels"
        )
    return clf


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 8,
    seed: int = 0,
    lr: float = 1e-3,
    batch: int = 128,
    levels: int = 1,
) -> Classifier:
    """Train the MLP on images (n, side, side) of levels 0..``levels`` with Adam (plain NumPy, float32)."""
    n, side = len(images), images.shape[1]
    x = images.reshape(n, -1).astype(np.float32) / np.float32(levels)
    y = np.asarray(labels, dtype=np.int64)
    r = np.random.default_rng(seed)
    dims = [(side * side, 256), (256, 64), (64, 10)]
    params = []
    for a, b in dims:
        params += [r.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(epochs):
        order = r.permutation(n)
        for k in range(0, n, batch):
            idx = order[k : k + batch]
            xb, yb = x[idx], y[idx]
            w1, b1, w2, b2, w3, b3 = params
            z1 = xb @ w1 + b1
            a1 = np.maximum(z1, 0)
            z2 = a1 @ w2 + b2
            a2 = np.maximum(z2, 0)
            logits = a2 @ w3 + b3
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            d3 = p / len(yb)
            g_w3, g_b3 = a2.T @ d3, d3.sum(0)
            d2 = (d3 @ w3.T) * (z2 > 0)
            g_w2, g_b2 = a1.T @ d2, d2.sum(0)
            d1 = (d2 @ w2.T) * (z1 > 0)
            g_w1, g_b1 = xb.T @ d1, d1.sum(0)
            step += 1
            for i, g in enumerate((g_w1, g_b1, g_w2, g_b2, g_w3, g_b3)):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                params[i] -= lr * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
    return Classifier(*params, side=side, levels=levels)
