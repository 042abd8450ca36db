"""The warm-up diagnostic (pbitgen.trainer.warmup, ``pbitgen warmup``) sees the short-run bias of the shipped
default model's training moments and reports the noise floor a long warm-up reaches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pbitgen.cli import main
from pbitgen.trainer.data import DEFAULT_ROOT, load_for
from pbitgen.trainer.dtm import DTM, load_dtm
from pbitgen.trainer.warmup import Batch, draw_batch, phase_bias

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "weights" / "default"
needs_data = pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")


@needs_data
def test_bias_is_seen_and_vanishes_with_a_long_warmup():
    """Step 1 of the default model: with no warm-up both phases' pair moments sit far from the reference
    (the chains still hold batch A's state), after the reference's own warm-up they differ from it by the
    noise floor. Each value is an RMS over the graph's 4,704 edges of a difference of two 256-chain
    averages, so it varies by a few percent between draws: a bias three times the floor is no draw, and
    an unbiased estimate lands within 25 % of the floor."""
    model = load_dtm(DEFAULT)
    data = load_for(model.run.dtm, "train", 3000)
    r = np.random.default_rng(3)
    batches = tuple(draw_batch(model, 1, data.flat, data.labels, 256, r) for _ in range(2))
    res = phase_bias(model, 1, batches, [0, 400], reference=400, seed=3)
    assert [r.phase for r in res] == ["positive", "negative"]
    for r in res:
        assert 0.005 < r.noise < 0.05, r
        assert r.bias[0] > 3 * r.noise, r
        assert abs(r.bias[400] / r.noise - 1) < 0.25, r


@needs_data
def test_warmup_command(tmp_path, capsys):
    out = tmp_path / "w.json"
    argv = ["warmup", "--model", str(DEFAULT), "--steps", "8", "--warmups", "0,16", "--chains", "64"]
    assert main([*argv, "--reference", "50", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["step", "phase", "noise", "w0", "w16"]
    assert [line.split()[:2] for line in lines[2:]] == [["8", "positive"], ["8", "negative"]]
    table = json.loads(out.read_text())
    assert [r["phase"] for r in table["rows"]] == ["positive", "negative"]
    for row, line in zip(table["rows"], lines[2:], strict=True):
        assert [f"{v:.4f}" for v in (row["noise"], row["bias"]["0"], row["bias"]["16"])] == line.split()[2:]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "9"], r"--steps 9: .* has steps 1\.\.8; expected one of those"),
        (["--chains", "1"], r"--chains must be >= 2, not 1"),
    ],
)
def test_warmup_errors(tmp_path, capsys, extra, message):
    out = tmp_path / "w.json"
    assert main(["warmup", "--model", str(DEFAULT), "--json", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pbitgen: error: ")
    assert re.search(message, err[0]), err[0]
    assert not out.exists()


def test_positive_chains_see_the_new_images():
    """An unconditional model whose hidden spins follow their pixels: only the switch of the clamped pixels
    to batch B moves the positive chains, so their bias without warm-up is far above the floor (with the
    pixels left at batch A's it would sit on it)."""
    from .test_dtm import tiny_model

    m = tiny_model(labels=0)
    run = m.run.replace(train={"n_samples": 1})  # the first snapshot only: no sweeps to blur the switch
    coupling = np.random.default_rng(5).normal(0, 0.8, m.coupling.shape)
    model = DTM(run, m.graph, coupling, m.bias, m.pixel_nodes, m.label_nodes)
    x0 = np.where(np.random.default_rng(6).random((400, 196)) < 0.5, 1, -1).astype(np.int8)
    r = np.random.default_rng(4)
    batches = tuple(draw_batch(model, 1, x0, np.zeros(400, dtype=np.int64), 256, r) for _ in range(2))
    res = phase_bias(model, 1, batches, [0, 100], reference=100, seed=4)
    positive = res[0]
    assert positive.phase == "positive" and positive.bias[0] > 3 * positive.noise, positive
    assert abs(positive.bias[100] / positive.noise - 1) < 0.25, positive


def test_negative_chains_see_the_new_field():
    """The negative phase's pixels are free, so only the field moves them: batch A's inputs are all +1,
    B's all -1, and step 1's input coupling (0.60 in this two-step model) pulls the pixels after them.
    Without warm-up the chains still hold A's pixels, far from the reference on B; a bias near the floor
    would mean B's field never reached the chains. With ``free_labels_negative`` B's label spins must not
    be written into the negative phase, or its bias without warm-up would rise for that reason alone. One
    snapshot of 256 chains puts the floor near 0.08; the two references of one draw differ from a third
    estimate by the floor within a few percent, so twice the floor is no draw."""
    from .test_dtm import tiny_model

    m = tiny_model(labels=1)
    run = m.run.replace(train={"n_samples": 1, "free_labels_negative": True})
    model = DTM(run, m.graph, m.coupling, m.bias, m.pixel_nodes, m.label_nodes)
    w = float(model.input_coupling[0])

    def batch(sign: int, label: int) -> Batch:
        x = np.full((256, 196), sign, dtype=np.int8)
        field = np.repeat(model.bias[0][None], 256, axis=0)
        field[:, model.pixel_nodes] += w * x
        return Batch(x, field, np.full((256, 10), 1 if label else -1, dtype=np.int8))

    pos, neg = phase_bias(model, 1, (batch(1, 0), batch(-1, 0)), [0, 100], reference=100, seed=5)
    assert neg.bias[0] > 2 * neg.noise and abs(neg.bias[100] / neg.noise - 1) < 0.25, neg
    # the same images, only the labels differ: the free negative phase must not notice
    pos, neg = phase_bias(model, 1, (batch(1, 0), batch(1, 1)), [0, 100], reference=100, seed=5)
    assert abs(neg.bias[0] / neg.noise - 1) < 0.25 and pos.bias[0] > 2 * pos.noise, (pos, neg)


@pytest.mark.parametrize(
    ("value", "message"),
    [("16,16", "expected distinct warm-ups >= 0, not '16,16'"), ("16,x", "expected comma-separated integers")],
)
def test_warmups_are_distinct_integers(capsys, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["warmup", "--warmups", value])
    assert exc.value.code == 2 and message in capsys.readouterr().err
