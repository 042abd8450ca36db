"""Quality measurement: the FD formula, the classifier's files, and the sample/eval commands on a tiny model."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from pbitgen.cli import eval as eval_cmd
from pbitgen.cli import main
from pbitgen.errors import PbitgenError
from pbitgen.trainer import dtm
from pbitgen.trainer.classifier import load_classifier, train_classifier
from pbitgen.trainer.data import CLASS_NAMES, DEFAULT_ROOT
from pbitgen.trainer.dtm_config import RunConfig
from pbitgen.trainer.fd import fd, frechet_distance

from .test_dtm import Z, tiny_model

ROOT = Path(__file__).resolve().parent.parent


def test_frechet_distance_closed_forms():
    # 1-d Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]])) == pytest.approx(
        4.0 + 1.0
    )
    # commuting covariances: sum of (sqrt a - sqrt b)^2
    c1, c2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert frechet_distance(np.zeros(2), c1, np.zeros(2), c2) == pytest.approx(1.0 + 4.0)
    r = np.random.default_rng(0)
    x = r.normal(size=(4000, 3))
    assert fd(x, x) == pytest.approx(0.0, abs=1e-8)
    # two samples of one law: FD ~ 2 d / n on average (sampling noise); far below a shifted law
    y = r.normal(size=(4000, 3))
    assert fd(x, y) < 20 * 3 / 4000 and fd(x, y + 1.0) > 2.5


def small_classifier(side: int = 14):
    r = np.random.default_rng(1)
    imgs = (r.random((200, side, side)) < 0.3).astype(np.uint8)
    labels = r.integers(0, 10, 200)
    imgs[labels < 5, : side // 2] = 1  # something learnable
    clf = train_classifier(imgs, labels, epochs=3, seed=0)
    return clf, imgs, labels


def test_classifier_learns_and_round_trips(tmp_path):
    clf, imgs, labels = small_classifier()
    acc = ((clf.predict(imgs) < 5) == (labels < 5)).mean()
    assert acc > 0.75  # chance is 0.5; 200 images give a standard error of 0.035
    clf.test_accuracy = 0.5
    clf.save(tmp_path / "c.npz")
    back = load_classifier(tmp_path / "c.npz")
    assert np.array_equal(back.features(imgs), clf.features(imgs)) and back.test_accuracy == 0.5
    assert back.features(imgs).shape == (200, 64)


def test_classifier_bad_files(tmp_path):
    clf, _, _ = small_classifier()
    clf.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:
        a = {k: z[k] for k in z.files}
    np.savez(tmp_path / "d.npz", **{**a, "side": np.array(13)})
    with pytest.raises(PbitgenError, match=r"d\.npz: field 'side' must be 14 or 28"):
        load_classifier(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", **{**a, "w2": np.zeros((3, 3))})
    with pytest.raises(PbitgenError, match=r"e\.npz: field 'w2' must be floats of shape \(256, 64\)"):
        load_classifier(tmp_path / "e.npz")
    np.savez(tmp_path / "f.npz", **{k: v for k, v in a.items() if k != "b3"})
    with pytest.raises(PbitgenError, match=r"f\.npz: field 'b3' is missing"):
        load_classifier(tmp_path / "f.npz")


@pytest.fixture
def model_dir(tmp_path):
    m = tiny_model(labels=1)
    dtm.save_dtm(tmp_path / "m", m)
    return tmp_path / "m"


def test_sample_images_float_and_golden(model_dir, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", str(model_dir), "--images", "6", "--seed", "2", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as z:
        assert z["images"].shape == (6, 14, 14) and z["images"].dtype == np.uint8 and "labels" not in z.files
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    out2 = tmp_path / "g.npz"
    args = ["sample", "--model", str(model_dir), "--images", "4", "--label", "3", "--golden", "--out", str(out2)]
    assert main(args) == 0
    with np.load(out2, allow_pickle=False) as z:
        assert z["labels"].tolist() == [3] * 4 and set(np.unique(z["images"])) <= {0, 1}
    assert "golden model" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--label", "10"], r"--label must be a class in 0\.\.9, not 10"),
        (["--images", "0"], r"--images must be >= 1, not 0"),
        (["--sweeps", "0"], r"--sweeps must be >= 1, not 0"),
    ],
)
def test_sample_bad_arguments(model_dir, tmp_path, capsys, extra, message):
    args = ["sample", "--model", str(model_dir), "--out", str(tmp_path / "x.npz")]
    if "--images" not in extra:
        args += ["--images", "2"]
    assert main(args + extra) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pbitgen: error: ") and "\n" not in err and re.search(message, err)


def test_sample_label_needs_conditional_model(tmp_path, capsys):
    dtm.save_dtm(tmp_path / "u", tiny_model(labels=0))
    args = ["sample", "--model", str(tmp_path / "u"), "--images", "2", "--label", "1", "--out", str(tmp_path / "x.npz")]
    assert main(args) == 1
    assert "needs a model with label nodes" in capsys.readouterr().err


def test_drift_needs_conditional_model(tmp_path, capsys):
    dtm.save_dtm(tmp_path / "u", tiny_model(labels=0))
    assert main(["eval", "--model", str(tmp_path / "u"), "--drift"]) == 1
    assert "--drift: " in capsys.readouterr().err


TABLE_ROWS = (
    "real training images (floor)",
    "independent pixels (data marginals)",
    "MEBM (T=1)",
    "DTM, no ACP",
    "DTM + ACP",
    "DTM + ACP, labels free",
)


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_eval_table(model_dir, tmp_path, capsys):
    """The table's values: the JSON holds what is printed; real images sit far closer to the test set than
    independent pixels (the floor is FD's finite-sample bias alone: 200 images give about a tenth of the
    baseline's), an untrained model's samples are no closer than independent pixels, and the variants the
    folder lacks are marked missing."""
    clf, _, _ = small_classifier()
    clf.save(model_dir / "classifier.npz")
    p = argparse.ArgumentParser()
    eval_cmd.add_arguments(p)
    argv = ["--model", str(model_dir), "--samples", "200", "--json", str(tmp_path / "t.json"), "--per-step", "--drift"]
    args = p.parse_args([*argv, "--starts"])
    assert eval_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "FD = Frechet distance" in out and "not FID" in out and "200 images per row" in out
    table = json.loads((tmp_path / "t.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert table["samples"] == 200 and table["sweeps"] == 4
    assert [r["row"] for r in table["rows"]] == list(TABLE_ROWS)
    rows = {r["row"]: r for r in table["rows"]}
    for name, row in rows.items():
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        fd_text, *cost, ac_text, match_text = line[len(name) :].split()
        assert fd_text == ("-" if row["fd"] is None else f"{row['fd']:.2f}") and " ".join(cost) == row["cost"]
        assert ac_text == ("-" if row["autocorr"] is None else f"{row['autocorr']:+.3f}")
        assert match_text == ("-" if row["class_match"] is None else f"{row['class_match']:.3f}")
    floor, indep = rows[TABLE_ROWS[0]]["fd"], rows[TABLE_ROWS[1]]["fd"]
    assert 0.0 < floor < indep / 4
    dtm_row = rows["DTM + ACP"]
    assert dtm_row["fd"] > indep and dtm_row["cost"] == "T=2 x 4" and abs(dtm_row["autocorr"]) < 1.0
    # an untrained model's class is chance: 200 images, 10 classes, 5 sd = 0.106
    assert abs(dtm_row["class_match"] - 0.1) < 5 * math.sqrt(0.09 / 200)
    assert rows["DTM + ACP, labels free"]["fd"] > indep and rows["DTM + ACP, labels free"]["autocorr"] is None
    for name in ("MEBM (T=1)", "DTM, no ACP"):
        assert rows[name]["cost"] == "missing" and rows[name]["fd"] is None and rows[name]["autocorr"] is None
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("each step alone"))
    steps = lines[head + 3 : head + 5]
    assert [r["step"] for r in table["steps"]] == [1, 2]
    for row, line in zip(table["steps"], steps, strict=True):
        values = [row["step"], *(f"{row[k]:.2f}" for k in ("fd_input", "fd_output", "fd_floor"))]
        flips = " / ".join(f"{row[k]:.3f}" for k in ("flips_input", "flips_output", "flips_floor")).split()
        dev = np.subtract(row["ink"], row["ink_forward"])
        worst = int(np.nanargmax(np.abs(dev)))
        assert line.split() == [str(v) for v in values] + flips + [f"{dev[worst]:+.3f}", CLASS_NAMES[worst]]
    # an untrained step has no prior to denoise with: its output strays further from the clean image than
    # its input (measured 0.37 against 0.25 at step 1); and x^0 itself is the floor of step 1
    assert table["steps"][0]["flips_output"] > table["steps"][0]["flips_input"] > table["steps"][0]["flips_floor"] == 0
    head = next(i for i, ln in enumerate(lines) if ln.startswith("ink after each step"))
    assert lines[head + 1].split()[:3] == ["step", "T-shirt", "Trouser"]
    assert [r["step"] for r in table["drift"]] == [2, 1] and lines[head + 4].split()[0] == "data"
    for row, line in zip(table["drift"], lines[head + 2 : head + 4], strict=True):
        dev = np.subtract(row["generated"], row["forward"])
        assert line.split() == [str(row["step"]), *(f"{v:+.3f}" for v in dev)]
    head = next(i for i, ln in enumerate(lines) if ln.startswith("the chain started from 200"))
    assert [r["step"] for r in table["starts"]["rows"]] == [1, 2]
    for row, line in zip(table["starts"]["rows"], lines[head + 2 : head + 4], strict=True):
        values = [str(row["step"]), f"{row['fd']:.2f}", f"{row['class_match']:.3f}", f"{row['diversity']:.1f}"]
        assert line.split() == values
    assert lines[head + 4].split() == ["data", f"{table['starts']['data_diversity']:.1f}"]
    # an untrained model's images are near coins: per class twice the data's diversity (measured 1.97 and
    # 2.01; rows made of the data's own images would score 1)
    assert min(r["diversity"] for r in table["starts"]["rows"]) > 1.5 * table["starts"]["data_diversity"]
    # an untrained model's output is near half ink whatever the class; the data's is not
    assert abs(np.mean(table["drift"][-1]["generated"]) - 0.5) < 0.1
    assert np.ptp(table["drift"][-1]["forward"]) > 0.2


@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_each_step_alone_denoises():
    """The default model's steps 1 and 2 alone, on 300 noised training images: each removes most of the FD
    its input carries at its output time and comes within three times the floor of real images there (the
    shipped model: 0.22-0.26 and 1.6-1.7 times). A step run with another step's weights misses both by far;
    one fed images at its output time instead of its input time has nothing to remove and fails the first."""
    from pbitgen.trainer.data import load_for
    from pbitgen.trainer.stepfd import step_fds

    model = dtm.load_dtm(ROOT / "weights" / "default")
    clf = load_classifier(ROOT / "weights" / "default" / "classifier.npz")
    train, test = load_for(model.run.dtm, "train", 300), load_for(model.run.dtm, "test", 2000)
    res = step_fds(model, clf.features, train.flat, train.labels, test.flat, seed=2)
    assert [s.step for s in res] == list(range(1, 9))
    for s in res[:2]:
        assert s.fd_output < 0.4 * s.fd_input and s.fd_output < 3 * s.fd_floor, s
    # spin by spin: input and floor differ from the clean images as the forward process flips spins, with
    # probability (1 - e^(-rate t)) / 2 at the input and output times (5 sd of 300 x 196 spins); the outputs of
    # steps 1 and 2 differ less than their inputs (the shipped model: 0.060 against 0.065, 0.105 against
    # 0.127), which a step that copied its input would not
    from pbitgen.trainer.data import keep_probability, step_times

    spins = train.flat.size
    for s in res:
        t_out, t_in = step_times(model.steps, s.step, model.run.dtm.time_offset)
        for got, t in ((s.flips_input, t_in), (s.flips_floor, t_out)):
            p = (1.0 - keep_probability(model.run.dtm.noise_rate, t)) / 2
            assert abs(got - p) <= 5 * np.sqrt(p * (1 - p) / spins), (s.step, got, p)
    assert all(s.flips_output < s.flips_input for s in res[:2]), res[:2]
    # its output's ink per class sits near the forward process's at its output time (the shipped model: a
    # mean deviation of 0.015 over the classes; a step that returned its input unchanged: 0.023)
    from pbitgen.trainer.drift import forward_ink

    fwd = forward_ink(model, train.flat, train.labels)
    assert all(np.array_equal(s.ink_forward, f) for s, f in zip(res, fwd, strict=True))
    assert np.abs(res[0].ink - res[0].ink_forward).mean() < 0.02


def test_make_quality_is_the_fd_of_the_epochs_samples():
    """``make_quality`` draws ``samples`` images with seed ``seed + epoch``, ``sweeps`` and ``cost_steps``, and
    measures them against the test images: when the test images *are* that draw, FD = 0; another epoch (a
    new draw) or other sweeps or another cost give other images and FD > 0 (the FD of two draws of one
    law, about 0.1 here, against a rounding error of 1e-9)."""
    from pbitgen.cli.train import make_quality

    clf, _, _ = small_classifier()
    m = tiny_model(labels=0)
    n, seed, epoch = 100, 5, 2
    test_images = dtm.generate(m, n, seed + epoch, sweeps=3, steps_as_one=2)
    assert make_quality(clf, test_images, n, 3, 2, seed)(m, epoch) == pytest.approx(0.0, abs=1e-6)
    other = dtm.generate(m, n, seed + epoch + 1, sweeps=3, steps_as_one=2)
    quality = make_quality(clf, test_images, n, 3, 2, seed)
    assert quality(m, epoch + 1) == pytest.approx(fd(clf.features(other), clf.features(test_images)), rel=1e-9)
    assert quality(m, epoch + 1) > 1e-3
    assert make_quality(clf, test_images, n, 4, 2, seed)(m, epoch) > 1e-3
    assert make_quality(clf, test_images, n, 3, 1, seed)(m, epoch) > 1e-3
    assert make_quality(clf, test_images, n // 2, 3, 2, seed)(m, epoch) > 1e-3


def paired_model(coupling: float, steps: int) -> dtm.DTM:
    """An unconditional model whose last step (t = T, input coupling 0) joins each colour-0 node to its
    right-hand neighbour only, with ``coupling``, and whose other steps have no couplings; biases 0.

    In step T each pixel then forms an isolated pair with one hidden node, and chromatic Gibbs moves the pixel
    as a two-state Markov chain with lag-1 correlation phi = tanh(J)^2 (the hidden node copies it with
    correlation tanh J, the pixel copies the hidden node back): the visible projection, a sum of independent
    such pairs, has autocorrelation phi^L at lag L exactly. Every other step draws its pixels independently
    of each other and of the past, given the input: autocorrelation 0."""
    run = RunConfig.from_dict(
        {
            "graph": {"side": 22, "pattern": "G4", "torus": True},
            "schedule": {"steps": steps, "sweeps": 4},
            "dtm": {"image_side": 14, "label_nodes": 0},
            "train": {"warmup": 20, "acp_length": 400, "acp_lag": 2},
        }
    )
    m = dtm.new_dtm(run)
    m.coupling[:] = 0.0
    side = 22
    left = np.flatnonzero(m.graph.colors == 0)
    right = left // side * side + (left % side + 1) % side
    pairs = np.sort(np.stack([left, right], axis=1), axis=1)
    key = m.graph.edges[:, 0] * m.graph.n + m.graph.edges[:, 1]
    m.coupling[steps - 1, np.searchsorted(key, pairs[:, 0] * m.graph.n + pairs[:, 1])] = coupling
    assert np.count_nonzero(m.coupling[steps - 1]) == (len(left) if coupling else 0)
    return m


@pytest.mark.parametrize(("coupling", "steps"), [(1.0, 2), (1.0, 1), (0.0, 2)])
def test_model_autocorrelation_known_answers(coupling, steps):
    """``model_autocorrelation`` is the mean over steps of the lag-L autocorrelation: phi^L / T with the
    paired model above (phi = tanh(J)^2), 0 when nothing couples. Bound as for an AR(1) series
    (tests/test_train.py's): 5 standard errors of B chains x M sweeps plus the centring bias."""
    from pbitgen.cli.eval import model_autocorrelation

    m = paired_model(coupling, steps)
    tc = m.run.train
    phi = math.tanh(coupling) ** 2
    want = phi**tc.acp_lag / steps
    chains = 256
    images = (np.random.default_rng(3).random((chains, 14, 14)) < 0.4).astype(np.uint8)
    got = model_autocorrelation(m, images, np.zeros(chains, dtype=np.int64), chains, seed=4)
    se = math.sqrt((1 + phi**2) / (1 - phi**2) / (chains * tc.acp_length))
    bias = 2 * (1 + phi) / (1 - phi) / tc.acp_length
    assert abs(got - want) < Z * se + bias, (got, want, Z * se + bias)


def test_eval_and_sim_fd_read_the_data_at_the_models_threshold(tmp_path, monkeypatch):
    """A model trained on images binarized at 0.1 is measured against images binarized at 0.1 (its
    run config's ``dtm.binarize_threshold``), by ``pbitgen eval`` and by ``pbitgen sim --fd``."""
    import dataclasses

    from pbitgen.cli import sim as sim_cmd
    from pbitgen.trainer import data as data_mod

    from .test_dtm import tiny_run

    run = tiny_run()
    run = dataclasses.replace(run, dtm=dataclasses.replace(run.dtm, binarize_threshold=0.1))
    folder = tmp_path / "m"
    dtm.save_dtm(folder, dtm.new_dtm(run))
    small_classifier()[0].save(folder / "classifier.npz")
    seen = []

    class Read(Exception):
        pass

    def load_for(dtm, split, limit=0, root=None):
        seen.append(dtm.binarize_threshold)
        raise Read

    monkeypatch.setattr(data_mod, "load_for", load_for)
    p = argparse.ArgumentParser()
    eval_cmd.add_arguments(p)
    with pytest.raises(Read):
        eval_cmd.run(p.parse_args(["--model", str(folder), "--samples", "10"]))
    args = argparse.Namespace(model=str(folder))
    with pytest.raises(Read):
        sim_cmd.fd_line(args, dtm.load_dtm(folder), np.zeros((2, 14, 14)), np.zeros((2, 14, 14)))
    assert seen == [0.1, 0.1]
