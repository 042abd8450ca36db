r"""Fashion-MNIST as the DTM sees it: IDX files read and validated, 2x2 downsampling, binarisation, and the
forward (noising) process with its time grid.

Data
    The Debian package ``dataset-fashion-mnist`` installs the four gzipped IDX files under
    :data:`DEFAULT_ROOT`. :func:`read_idx` checks the magic number (unsigned bytes, 1 or 3 dimensions), the
    declared sizes against the payload length, and :func:`load_fashion` checks that images and labels agree
    and that labels lie in 0..9. Pixels are scaled to [0, 1], optionally averaged over 2x2 blocks (28 -> 14),
    and binarised at a threshold (a pixel is 1 iff its value is >= the threshold; 0.5 unless the run's
    ``dtm.binarize_threshold`` says otherwise; the replication uses 0.1).

Forward process (the paper's, for binary data)
    Over a time :math:`\Delta t` each bit is replaced by a fair coin with probability
    :math:`1 - e^{-\lambda \Delta t}`; it therefore keeps its value with probability
    :math:`(1 + e^{-\lambda\Delta t}) / 2`. Step ``t`` of ``T`` covers :math:`[t_{t-1}, t_t]` of the log grid
    :math:`t_k = -\ln(1 - k/T)` (so :math:`t_T = \infty`: the last step starts from uniform noise). The
    replication trains with an offset ``o``: step ``t``'s output :math:`x^{t-1}` is noised to
    :math:`t_{t-1}(1 - o)` and its input :math:`x^t` to :math:`t_t (1 + o)`, while the model's fixed input
    coupling uses the grid spacing alone:

    .. math:: w_t = \tfrac12 \ln\frac{1 + e^{-\lambda \Delta t}}{1 - e^{-\lambda \Delta t}},
              \qquad \Delta t = t_t - t_{t-1},

    which is exactly the log-odds coupling of the kernel :math:`q(x^t \mid x^{t-1})` written as
    :math:`\propto e^{w_t x^t x^{t-1}}` for spins :math:`\pm 1` (and 0 for the last, infinite step).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pbitgen.errors import PbitgenError

if TYPE_CHECKING:
    from .dtm_config import DTMConfig

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SIZES = {"train": 60000, "test": 10000}
N_CLASSES = 10
CLASS_NAMES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


# ---------------------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------------------
def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read one (optionally gzipped) IDX file of unsigned bytes with ``ndim`` dimensions.

    The IDX header is two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then
    one big-endian uint32 per dimension; the payload must hold exactly their product in bytes. Checking
    all of it catches truncated downloads and swapped files (labels passed as images) with a clear message.

    Raises
    ------
    PbitgenError
        Missing file (naming the Debian package), bad magic number, or a size that disagrees with the header.
    """
    path = Path(path)
    if not path.exists():
        raise PbitgenError(
            f"{path}: no such file; install the Debian package dataset-fashion-mnist "
            "(sudo apt-get install dataset-fashion-mnist) or pass --data DIR"
        )
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise PbitgenError(f"{path}: cannot read IDX file: {e}") from None
    if len(raw) < 4:
        raise PbitgenError(f"{path}: field 'magic' is truncated ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    want = 0x0800 | ndim
    if magic != want:
        raise PbitgenError(f"{path}: field 'magic' must be {want:#010x} (ubyte, {ndim} dims), not {magic:#010x}")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise PbitgenError(f"{path}: field 'dims' is truncated ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    size = int(np.prod(dims))
    if len(raw) - head != size:
        raise PbitgenError(f"{path}: field 'data' must hold {size} bytes for dims {dims}, not {len(raw) - head}")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def load_fashion(split: str, root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of the ``"train"`` or ``"test"`` split, validated."""
    if split not in FILES:
        raise PbitgenError(f"split must be 'train' or 'test', not {split!r}")
    root = DEFAULT_ROOT if root is None else Path(root)
    img_path, lab_path = (root / f for f in FILES[split])
    images, labels = read_idx(img_path, 3), read_idx(lab_path, 1)
    if images.shape[1:] != (28, 28):
        raise PbitgenError(f"{img_path}: field 'dims' must be (n, 28, 28), not {images.shape}")
    if len(images) != len(labels):
        raise PbitgenError(f"{lab_path}: field 'dims' holds {len(labels)} labels for {len(images)} images")
    if len(labels) and labels.max() >= N_CLASSES:
        raise PbitgenError(f"{lab_path}: field 'data' must hold labels 0..9, not {int(labels.max())}")
    return images, labels


def downsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Means over ``factor x factor`` blocks of float images (n, H, W) -> (n, H/f, W/f)."""
    n, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} must be a multiple of the factor {factor}")
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def binarize(images: np.ndarray, side: int, threshold: float = 0.5, levels: int = 1) -> np.ndarray:
    """uint8 images (n, 28, 28) -> (n, side, side) uint8 levels in 0..``levels``: scale to [0, 1], average
    2x2 blocks when ``side == 14``; then, for ``levels = 1``, 1 where the value is >= ``threshold``, else the
    value's nearest level ``round(levels v)`` (grayscale)."""
    if side not in (14, 28):
        raise ValueError(f"side must be 14 or 28, not {side!r}")
    x = images.astype(np.float64) / 255.0
    if side == 14:
        x = downsample(x, 2)
    if levels == 1:
        return (x >= threshold).astype(np.uint8)
    return np.rint(x * levels).astype(np.uint8)


def encode(images: np.ndarray, levels: int = 1) -> np.ndarray:
    """Images of levels 0..``levels`` (n, side, side) as visible spins (n, side * side * levels) int8,
    pixel-major, front-filled: a pixel of level k has its first k nodes +1 and the rest -1."""
    k = np.asarray(images).reshape(len(images), -1, 1) > np.arange(levels)
    return (2 * k.reshape(len(images), -1).astype(np.int8) - 1).astype(np.int8)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images at the model's resolution, their labels, and a hash that names them.

    Attributes
    ----------
    images : ndarray of shape (n, side, side), uint8 in 0..levels ({0, 1} for binary images)
    labels : ndarray of shape (n,), uint8
    sha256 : str
        Hash of the images and labels: model metadata records it so a model says what it saw.
    levels : int
        Binary nodes per pixel (``dtm.gray_levels``).
    """

    images: np.ndarray
    labels: np.ndarray
    sha256: str
    levels: int = 1

    @property
    def flat(self) -> np.ndarray:
        """Images as visible spins (n, side * side * levels) in {-1, +1}, int8 (:func:`encode`)."""
        return encode(self.images, self.levels)


def load_images(
    split: str, side: int, limit: int = 0, root: str | Path | None = None, threshold: float = 0.5, levels: int = 1
) -> Dataset:
    """The split at ``side`` pixels, binarised at ``threshold`` or (``levels`` > 1) quantised to grey levels,
    optionally the first ``limit`` images only."""
    images, labels = load_fashion(split, root)
    if limit:
        images, labels = images[:limit], labels[:limit]
    b = binarize(images, side, threshold, levels)
    h = hashlib.sha256(b.tobytes() + labels.tobytes() + (bytes([levels]) if levels > 1 else b"")).hexdigest()
    return Dataset(b, labels.copy(), h, levels)


def load_for(dtm: DTMConfig, split: str, limit: int = 0, root: str | Path | None = None) -> Dataset:
    """The split as the model ``dtm`` sees it: its image size, threshold and grey levels."""
    return load_images(split, dtm.image_side, limit, root, dtm.binarize_threshold, dtm.gray_levels)


# ---------------------------------------------------------------------------------------------------------
# forward process and time grid
# ---------------------------------------------------------------------------------------------------------
def time_grid(steps: int) -> np.ndarray:
    """The log time grid ``t_k = -ln(1 - k/T)``, k = 0..T, of shape (T+1,); ``t_T`` is ``inf``."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps!r}")
    k = np.arange(steps + 1)
    with np.errstate(divide="ignore"):
        return -np.log1p(-k / steps)


def keep_probability(rate: float, dt: float | np.ndarray) -> np.ndarray:
    """Probability ``e^(-rate dt)`` that a bit is *not* replaced by a coin over ``dt`` (0 for ``dt = inf``)."""
    return np.exp(-rate * np.asarray(dt, dtype=np.float64))


def input_coupling(steps: int, rate: float) -> np.ndarray:
    """The fixed input couplings ``w_t`` (t = 1..T, index t-1) of shape (T,), from the grid spacing."""
    grid = time_grid(steps)
    a = keep_probability(rate, np.diff(grid))
    with np.errstate(divide="ignore"):
        w = 0.5 * np.log((1.0 + a) / (1.0 - a))
    return np.where(a > 0, w, 0.0)


def step_times(steps: int, t: int, offset: float) -> tuple[float, float]:
    """Noise times of step ``t``'s output and input: ``(t_{t-1} (1 - o), t_t (1 + o))``."""
    grid = time_grid(steps)
    return float(grid[t - 1] * (1.0 - offset)), float(grid[t] * (1.0 + offset))


def noise(spins: np.ndarray, rate: float, dt: float, rng: np.random.Generator) -> np.ndarray:
    """Run the forward process for time ``dt`` on +-1 spins: each is replaced by a fair coin with
    probability ``1 - e^(-rate dt)`` (a copy; int8)."""
    replace = rng.random(spins.shape) >= keep_probability(rate, dt)
    coin = np.where(rng.random(spins.shape) < 0.5, 1, -1).astype(np.int8)
    return np.where(replace, coin, spins).astype(np.int8)


def step_pair(
    x0: np.ndarray, steps: int, t: int, rate: float, offset: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A training pair for step ``t``: ``(x^{t-1}, x^t)`` from clean spins ``x0`` (n, visible nodes).

    ``x^{t-1}`` is ``x0`` noised to ``t_{t-1}(1 - offset)``; ``x^t`` continues the same (Markov) process to
    ``t_t (1 + offset)``, so the pair has the joint law of the forward process at those two times.
    """
    t_out, t_in = step_times(steps, t, offset)
    x_prev = noise(x0, rate, t_out, rng) if t_out > 0 else x0.astype(np.int8).copy()
    return x_prev, noise(x_prev, rate, t_in - t_out, rng)
