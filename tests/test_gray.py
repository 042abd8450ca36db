"""Grayscale pixels (``dtm.gray_levels`` binary nodes per pixel): the front-filled code and its reading,
the forward process per node, the classifier and baselines on grey levels, the sample command's grey
values, and a grayscale model on the default design's RTL, bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pbitgen.cli import main
from pbitgen.cli.eval import independent_pixels
from pbitgen.config import Config
from pbitgen.trainer import data, dtm
from pbitgen.trainer.classifier import Classifier, load_classifier, load_classifier_for, train_classifier
from pbitgen.trainer.dtm_config import RunConfig

from .test_toolchain import IN_CI


def gray_model(levels: int = 2) -> dtm.DTM:
    """A grayscale DTM with random couplings and biases (seeded): with 2 levels on the default design's
    hardware (28x28 G12 lattice; 196 pixels x 2 nodes fill colour 0, no labels), with more on the
    grayscale run's (configs/dtm_gray.toml, 36x36)."""
    base = "configs/dtm_default.toml" if levels == 2 else "configs/dtm_gray.toml"
    run = RunConfig.load(base).replace(dtm={"label_nodes": 0, "gray_levels": levels}, train={"init_scale": 0.3})
    m = dtm.new_dtm(run)
    m.bias[:] = np.random.default_rng(2).normal(0, 0.5, m.bias.shape)
    return m


def test_front_filled_code_and_its_reading():
    levels = np.array([[[0, 1], [2, 3]]], dtype=np.uint8)
    spins = data.encode(levels, 3)
    assert spins.tolist() == [[-1, -1, -1, 1, -1, -1, 1, 1, -1, 1, 1, 1]]
    assert np.array_equal(data.encode(levels > 0, 1), [[-1, 1, 1, 1]])  # binary: one node per pixel
    m = gray_model(3)
    images = np.random.default_rng(1).integers(0, 4, (5, 14, 14)).astype(np.uint8)
    assert np.array_equal(dtm.decode(m, data.encode(images, 3)), images)
    # the reading counts +1 nodes wherever they sit: a level is not tied to the order of its nodes
    shuffled = data.encode(images, 3).reshape(5, 196, 3)[:, :, ::-1].reshape(5, -1)
    assert np.array_equal(dtm.decode(m, shuffled), images)


def test_a_pixels_nodes_share_hidden_neighbours():
    """Grayscale placement: each pixel's first node shares hidden neighbours with its other nodes (random
    placement rarely gives any on a 36x36 G12 torus), and the nodes are distinct and on colour 0."""
    m = gray_model(3)
    g = m.graph
    adj = [set() for _ in range(g.n)]
    for a, b in g.edges:
        adj[a].add(b)
        adj[b].add(a)
    groups = m.pixel_nodes.reshape(-1, 3)
    shared = [min(len(adj[p[0]] & adj[p[1]]), len(adj[p[0]] & adj[p[2]])) for p in groups]
    assert min(shared) >= 1
    both = np.concatenate([m.pixel_nodes, m.label_nodes])
    assert len(np.unique(both)) == len(both) and (g.colors[both] == 0).all()


def test_quantised_levels():
    raw = np.zeros((1, 28, 28), dtype=np.uint8)
    raw[0, :2, :2] = [[255, 255], [255, 0]]  # a 2x2 mean of 0.75
    raw[0, :2, 2:4] = [[255, 0], [0, 0]]  # 0.25
    assert data.binarize(raw, 14, levels=3)[0, 0, :3].tolist() == [2, 1, 0]  # round(3 v)
    assert data.binarize(raw, 14, threshold=0.5)[0, 0, :3].tolist() == [1, 0, 0]
    assert data.binarize(raw, 28, levels=2)[0, 0, :4].tolist() == [2, 2, 2, 0]


@pytest.mark.skipif(not data.DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_grey_data_and_its_hash():
    gray = data.load_images("train", 14, 300, levels=3)
    binary = data.load_images("train", 14, 300)
    assert gray.levels == 3 and gray.images.max() == 3 and len(np.unique(gray.images)) == 4
    assert gray.flat.shape == (300, 588) and gray.sha256 != binary.sha256
    assert np.array_equal(data.encode(gray.images, 3), gray.flat)


def test_forward_process_noises_every_node_on_its_own():
    """Each node keeps its value with probability (1 + e^(-rate dt)) / 2, independently of its pixel's other
    nodes: noised codes leave the front-filled form (a +1 after a -1) as often as independence says."""
    r = np.random.default_rng(4)
    x0 = data.encode(np.full((4000, 14, 14), 1, dtype=np.uint8), 3)  # every pixel at level 1: +1 -1 -1
    _, x_in = data.step_pair(x0, 8, 8, 0.9, 0.15, r)  # step T: its input is pure noise
    nodes = x_in.reshape(-1, 3)
    assert abs((nodes > 0).mean() - 0.5) < 5 * math.sqrt(0.25 / nodes.size)
    # a pure-noise code has node 2 = +1 and node 1 = -1 a quarter of the time
    unsorted = ((nodes[:, 1] < 0) & (nodes[:, 2] > 0)).mean()
    assert abs(unsorted - 0.25) < 5 * math.sqrt(0.25 * 0.75 / len(nodes))


def test_classifier_reads_levels(tmp_path):
    r = np.random.default_rng(0)
    images = r.integers(0, 4, (300, 14, 14)).astype(np.uint8)
    labels = r.integers(0, 10, 300)
    images[labels < 5, :7] = 3
    clf = train_classifier(images, labels, epochs=2, levels=3)
    clf.save(tmp_path / "c.npz")
    back = load_classifier(tmp_path / "c.npz")
    assert back.levels == 3 and np.allclose(back.features(images), clf.features(images))
    # levels 0..3 are read as intensities k / 3: the same weights with levels = 1 given k / 3 agree
    weights = (clf.w1, clf.b1, clf.w2, clf.b2, clf.w3, clf.b3)
    plain = Classifier(*weights, side=14, levels=1)
    assert np.allclose(clf.features(images), plain.features(images.astype(np.float32) / 3), atol=1e-5)
    assert not np.allclose(clf.features(images), plain.features(images), atol=1e-2)
    run = RunConfig.load("configs/dtm_default.toml")
    with pytest.raises(Exception, match=r"c\.npz: field 'levels' is 3, but the model's pixels have 2 levels"):
        load_classifier_for(tmp_path / "c.npz", run.dtm)
    assert load_classifier_for(tmp_path / "c.npz", run.replace(dtm={"gray_levels": 3}).dtm).levels == 3


def test_independent_pixels_follow_each_pixels_histogram():
    r = np.random.default_rng(5)
    images = np.zeros((1000, 2, 2), dtype=np.uint8)
    images[:, 0, 0] = r.choice(4, 1000, p=[0.1, 0.2, 0.3, 0.4])
    images[:, 1, 1] = 3
    draw = independent_pixels(images, 3, 20000, np.random.default_rng(6))
    want = [(images[:, 0, 0] == k).mean() for k in range(4)]
    got = [(draw[:, 0, 0] == k).mean() for k in range(4)]
    assert np.allclose(got, want, atol=5 * math.sqrt(0.25 / 20000))
    assert (draw[:, 1, 1] == 3).all() and (draw[:, 0, 1] == 0).all()


def test_sample_writes_grey_values(tmp_path, capsys):
    m = gray_model(3)
    m.run = m.run.replace(schedule={"sweeps": 4})
    dtm.save_dtm(tmp_path / "g", m)
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", str(tmp_path / "g"), "--images", "20", "--out", str(out)]) == 0
    assert "(4 grey levels)" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as z:
        images = z["images"]
    assert images.dtype == np.uint8 and set(np.unique(images)) == {0, 85, 170, 255}
    assert np.array_equal(images, np.rint(dtm.generate(m, 20, 1) * 85))
    assert json.loads((tmp_path / "s.config.json").read_text())["schedule"]["sweeps"] == 4


@pytest.mark.sim
@pytest.mark.slow
def test_grayscale_model_on_the_default_design_is_bit_exact(tmp_path):
    """A grayscale model (2 nodes per pixel, every colour-0 node visible) fits the default design's
    hardware config: the committed RTL (plain C++ harness) runs 12 of its images, whose spins equal the
    golden model's, and whose pixels read as three grey levels."""
    from pbitgen.gen.host import Host
    from pbitgen.model.hardware import hardware_view
    from pbitgen.sim import harness
    from pbitgen.sim.tools import missing

    why = missing("verilator")
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    m = gray_model(2)
    full = Config.load("hdl/default/config.json")
    assert m.run.config.replace(schedule={}) == full.replace(rng={"seed": m.run.config.rng.seed})
    view = hardware_view(m, 12, seed=full.rng.seed, sweeps=6)  # the design's seeds: the harness writes those
    (chains, banks) = view.groups[0]
    h = Host(view.cfg)
    runs = h.runs(0, len(chains))
    hw = harness.run_images("hdl/default", tmp_path / "builds", tmp_path / "run", view.cfg, banks, runs)
    want = h.expected(view.cfg, banks, 0, len(runs)).spins.reshape(-1, h.n)
    assert np.array_equal(hw.spins, want)
    images = view.to_images(np.where(hw.spins[:12], 1, -1))
    assert view.levels == 2 and images.shape == (12, 14, 14) and set(np.unique(images)) == {0, 1, 2}
