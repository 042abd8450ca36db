"""Fashion-MNIST loading (IDX validation, downsampling, binarisation) and the forward process."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.trainer import data

Z = 5.0


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    head = (magic if magic is not None else 0x0800 | arr.ndim).to_bytes(4, "big")
    head += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_split(root, images: np.ndarray, labels: np.ndarray, split: str = "train") -> None:
    img_name, lab_name = data.FILES[split]
    (root / img_name).write_bytes(gzip.compress(idx_bytes(images)))
    (root / lab_name).write_bytes(gzip.compress(idx_bytes(labels)))


def test_read_generated_split(tmp_path):
    r = np.random.default_rng(0)
    imgs = r.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labs = np.array([0, 1, 2, 9, 3], np.uint8)
    write_split(tmp_path, imgs, labs)
    a, b = data.load_fashion("train", tmp_path)
    assert np.array_equal(a, imgs) and np.array_equal(b, labs)
    ds = data.load_images("train", 14, 3, tmp_path)
    assert ds.images.shape == (3, 14, 14) and set(np.unique(ds.images)) <= {0, 1}
    assert ds.flat.shape == (3, 196) and set(np.unique(ds.flat)) <= {-1, 1}
    assert len(ds.sha256) == 64


def test_missing_file_names_debian_package(tmp_path):
    with pytest.raises(PbitgenError, match=r"no such file; install the Debian package dataset-fashion-mnist"):
        data.load_fashion("train", tmp_path)


def test_bad_magic(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(np.zeros((2, 28, 28)), magic=0x0801))
    with pytest.raises(PbitgenError, match=r"^.*x\.idx: field 'magic' must be 0x00000803 .*, not 0x00000801$"):
        data.read_idx(p, 3)


def test_truncated_payload(tmp_path):
    p = tmp_path / "x.idx.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((2, 28, 28)))[:-5]))
    with pytest.raises(PbitgenError, match=r"field 'data' must hold 1568 bytes for dims \(2, 28, 28\), not 1563$"):
        data.read_idx(p, 3)


def test_truncated_header_and_corrupt_gzip(tmp_path):
    p = tmp_path / "a.idx"
    p.write_bytes(idx_bytes(np.zeros((2, 28, 28)))[:9])
    with pytest.raises(PbitgenError, match=r"field 'dims' is truncated"):
        data.read_idx(p, 3)
    q = tmp_path / "b.gz"
    q.write_bytes(b"not gzip at all")
    with pytest.raises(PbitgenError, match=r"b\.gz: cannot read IDX file"):
        data.read_idx(q, 3)


def test_label_problems(tmp_path):
    write_split(tmp_path, np.zeros((3, 28, 28)), np.array([0, 1], np.uint8))
    with pytest.raises(PbitgenError, match=r"field 'dims' holds 2 labels for 3 images"):
        data.load_fashion("train", tmp_path)
    write_split(tmp_path, np.zeros((2, 28, 28)), np.array([0, 10], np.uint8))
    with pytest.raises(PbitgenError, match=r"field 'data' must hold labels 0\.\.9, not 10"):
        data.load_fashion("train", tmp_path)
    write_split(tmp_path, np.zeros((2, 14, 14)), np.array([0, 1], np.uint8))
    with pytest.raises(PbitgenError, match=r"must be \(n, 28, 28\)"):
        data.load_fashion("train", tmp_path)


def test_downsample_and_binarize():
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 0:2, 0:2] = [[255, 255], [255, 0]]  # mean 0.75 -> 1
    img[0, 0:2, 2:4] = [[255, 0], [0, 0]]  # mean 0.25 -> 0
    img[0, 2:4, 0:2] = [[255, 255], [0, 0]]  # mean 0.5 -> 1 (threshold inclusive)
    b = data.binarize(img, 14)
    assert b[0, 0, 0] == 1 and b[0, 0, 1] == 0 and b[0, 1, 0] == 1 and b.sum() == 2
    assert np.array_equal(data.binarize(img, 28)[0], (img[0] >= 128).astype(np.uint8))
    with pytest.raises(ValueError, match=r"^side must be 14 or 28, not 7$"):
        data.binarize(img, 7)


def test_time_grid_and_input_coupling():
    g = data.time_grid(8)
    assert g[0] == 0 and np.isinf(g[-1]) and np.all(np.diff(g) > 0)
    assert np.allclose(g[:-1], -np.log(1 - np.arange(8) / 8))
    w = data.input_coupling(8, 0.9)
    a = np.exp(-0.9 * np.diff(g[:-1]))
    assert np.allclose(w[:-1], 0.5 * np.log((1 + a) / (1 - a)))
    assert w[-1] == 0.0 and np.all(np.diff(w) < 0)
    t0, t1 = data.step_times(8, 2, 0.15)
    assert np.isclose(t0, g[1] * 0.85) and np.isclose(t1, g[2] * 1.15)


def test_noise_kernel_matches_w():
    """The empirical flip probability over dt is (1 - e^(-lambda dt))/2, and w_t is its half log-odds."""
    r = np.random.default_rng(3)
    n, rate, dt = 400_000, 0.9, 0.3
    x = np.where(r.random(n) < 0.5, 1, -1).astype(np.int8)
    y = data.noise(x, rate, dt, r)
    p_flip = (1 - np.exp(-rate * dt)) / 2
    assert abs((x != y).mean() - p_flip) < Z * np.sqrt(p_flip * (1 - p_flip) / n)
    w = 0.5 * np.log((1 - p_flip) / p_flip)
    a = np.exp(-rate * dt)
    assert np.isclose(w, 0.5 * np.log((1 + a) / (1 - a)))
    assert (data.noise(x, rate, np.inf, r) == x).mean() == pytest.approx(0.5, abs=Z * 0.5 / np.sqrt(n))


def test_step_pair_joint_law():
    r = np.random.default_rng(4)
    n, steps, rate, off = 300_000, 4, 0.9, 0.15
    x0 = np.ones((n, 1), np.int8)
    for t in (1, 2, 4):
        xp, xi = data.step_pair(x0, steps, t, rate, off, r)
        t0, t1 = data.step_times(steps, t, off)
        p0 = (1 + np.exp(-rate * t0)) / 2  # P(x^{t-1} = x^0)
        p1 = (1 + np.exp(-rate * (t1 - t0))) / 2  # P(x^t = x^{t-1})
        for est, p in (((xp == 1).mean(), p0), ((xi == xp).mean(), p1)):
            assert abs(est - p) < Z * np.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12
    xp, _ = data.step_pair(x0, steps, 1, rate, off, r)
    assert np.array_equal(xp, x0)  # step 1's output is the clean data
