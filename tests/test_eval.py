"""Quality measurement: the FD formula, the classifier's files, and the sample/eval commands on a tiny model."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from pbitgen.cli import eval as eval_cmd
from pbitgen.cli import main
from pbitgen.errors import PbitgenError
from pbitgen.model import dtm
from pbitgen.model.classifier import load_classifier, train_classifier
from pbitgen.model.data import DEFAULT_ROOT
from pbitgen.model.fd import fd, frechet_distance

from .test_dtm import tiny_model


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


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_eval_table(model_dir, tmp_path, capsys):
    clf, _, _ = small_classifier()
    clf.save(model_dir / "classifier.npz")
    p = argparse.ArgumentParser()
    eval_cmd.add_arguments(p)
    args = p.parse_args(["--model", str(model_dir), "--samples", "40", "--json", str(tmp_path / "t.json")])
    assert eval_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "FD = Frechet distance" in out and "not FID" in out
    for row in ("real training images", "independent pixels", "MEBM (T=1)", "DTM, no ACP", "DTM + ACP"):
        assert row in out
    assert (tmp_path / "t.json").exists()
