"""``dtm.class_bias``: each class's own bias at every node, folded in with the class, trained from the
per-class moments, bounded by the bias path, kept through files, checkpoints and the moving average."""

from __future__ import annotations

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.trainer import dtm
from pbitgen.trainer.train import StepState, class_gradient, label_edges, train, train_epoch

from .test_train import tiny_data
from .test_train_options import before_run


def class_run(**train_opts):
    run = before_run(1).replace(dtm={"class_bias": True})
    return run.replace(train={"epochs": 1, "updates_per_epoch": 6, "batch": 30, **train_opts})


def test_class_bias_needs_labels_clamped_in_both_phases():
    with pytest.raises(ValueError, match=r"^dtm\.class_bias needs label nodes"):
        before_run(0).replace(dtm={"class_bias": True})
    with pytest.raises(ValueError, match=r"^dtm\.class_bias needs the class in both phases"):
        class_run(free_labels_negative=True)


def test_class_gradient_is_each_class_mean_difference():
    pos = np.array([[1, 1, 1], [1, -1, 1], [-1, -1, 1], [1, 1, 1]], dtype=np.int8)
    neg = np.array([[-1, 1, 1], [-1, -1, 1], [-1, 1, 1], [1, 1, -1]], dtype=np.int8)
    g = class_gradient(pos, neg, np.array([0, 0, 2, 3]), np.array([2]))
    assert g.shape == (10, 3)
    assert g[0].tolist() == [2.0, 0.0, 0.0] and g[2].tolist() == [0.0, -2.0, 0.0] and g[3].tolist() == [0, 0, 0]
    assert not g[[1, 4, 5, 6, 7, 8, 9]].any()  # classes without chains stay put


def test_folding_a_class_adds_its_bias():
    run = class_run()
    m = dtm.new_dtm(run)
    r = np.random.default_rng(1)
    m.class_bias[:] = r.normal(0, 0.5, m.class_bias.shape)
    plain = dtm.DTM(m.run.replace(dtm={"class_bias": False}), m.graph, m.coupling, m.bias, m.pixel_nodes, m.label_nodes)
    labels = np.array([3, 7, 3])
    j, h = dtm.fold_labels(m, 2, labels)
    j0, h0 = dtm.fold_labels(plain, 2, labels)
    other = np.setdiff1d(np.arange(m.graph.n), m.label_nodes)
    assert np.array_equal(j, j0)
    assert np.allclose(h[:, other], h0[:, other] + m.class_bias[1][labels][:, other])
    assert np.array_equal(dtm.fold_labels(m, 2, None)[1], dtm.fold_labels(plain, 2, None)[1])  # labels free: none
    banks = dtm.class_banks(m, run.config, labels)
    assert [idx.tolist() for idx, _, _ in banks] == [[0, 2], [1]]  # one bank set per class, as the host loads


def train_classes(**opts):
    """One epoch of step 1 on images whose ink is their class: class 0 all +1, every other class all -1."""
    run = class_run(**opts)
    m = dtm.new_dtm(run)
    labels = np.arange(60) % 10
    x0 = np.where(labels[:, None] == 0, 1, -1).astype(np.int8).repeat(196, axis=1)
    tc = run.train
    state = StepState.initial(m.coupling[0], m.bias[0], tc.batch, tc.penalty_init, 5, tc.ema > 0, m.class_bias[0])
    st, _ = train_epoch(run, 1, 0, state, m.pixel_nodes, m.label_nodes, float(m.input_coupling[0]), x0, labels)
    return m, st


def test_training_gives_each_class_its_ink():
    """The class bias learns that class 0's pixels are on and the others' off, stays 0 at the label nodes
    and within the room the bias format leaves (with any label couplings) at every node."""
    m, st = train_classes(lr=0.5, lr_final=0.5, label_bound="bias")
    pix = m.pixel_nodes
    assert st.class_bias[0, pix].mean() > 0.5 and (st.class_bias[1:, pix].mean(axis=1) < -0.5).all()
    assert not st.class_bias[:, m.label_nodes].any()
    idx, end = label_edges(m.graph, m.label_nodes)
    used = np.abs(st.bias) + np.bincount(end, np.abs(st.coupling[idx]), minlength=m.graph.n)
    assert (np.abs(st.class_bias) <= np.maximum(m.run.config.formats.bias.max_value - used, 0) + 1e-12).all()
    m.coupling[0], m.bias[0], m.class_bias[0] = st.coupling, st.bias, st.class_bias
    for _, _, sat in dtm.class_banks(m, m.run.config, np.arange(10)):
        assert sum(sat.values()) == 0


def test_class_bias_is_bounded_by_the_bias_path():
    m, st = train_classes(lr=10.0, lr_final=10.0, label_bound="bias")  # far past the format: the bound holds
    bmax = m.run.config.formats.bias.max_value
    assert np.abs(st.class_bias).max() > 0.5 * bmax
    m.coupling[0], m.bias[0], m.class_bias[0] = st.coupling, st.bias, st.class_bias
    for _, _, sat in dtm.class_banks(m, m.run.config, np.arange(10)):
        assert sum(sat.values()) == 0


def test_moving_average_of_the_class_bias_ships():
    _, st = train_classes(lr=0.5, lr_final=0.5, ema=0.9)
    assert st.ema_c is not None and np.array_equal(st.class_weights(), st.ema_c)
    assert 0 < np.abs(st.ema_c).sum() < np.abs(st.class_bias).sum()  # it lags the weights


def test_files_checkpoints_and_resume_keep_the_class_bias(tmp_path):
    x0, classes = tiny_data()
    run = class_run(ema=0.9, heldout=16, eval_samples=4).replace(train={"epochs": 3})
    fds = {1: 2.0, 2: 1.0, 3: 3.0}
    seen = []

    def quality(model, epoch):
        seen.append(model.class_bias.copy())
        return fds[epoch]

    full = train(run, tmp_path / "a", x0, classes, "h", quality=quality, log=lambda s: None)
    assert np.array_equal(full.class_bias, seen[1]) and np.abs(seen[1]).sum() > 0  # the chosen epoch's

    def stop_after_two(line):
        if "  2/3 done in" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(run, tmp_path / "b", x0, classes, "h", quality=quality, log=stop_after_two)
    resumed = train(run, tmp_path / "b", x0, classes, "h", quality=quality, log=lambda s: None)
    assert np.array_equal(resumed.class_bias, full.class_bias) and np.array_equal(resumed.coupling, full.coupling)
    dtm.save_dtm(tmp_path / "m", full)
    back = dtm.load_dtm(tmp_path / "m")
    assert np.array_equal(back.class_bias, full.class_bias)
    z = dict(np.load(tmp_path / "m" / "model.npz"))
    del z["class_bias"]
    np.savez(tmp_path / "m" / "model.npz", **z)
    with pytest.raises(PbitgenError, match=r"model\.npz: field 'class_bias' is missing"):
        dtm.load_dtm(tmp_path / "m")


def test_warmup_batches_and_the_acp_chains_see_the_class_bias(monkeypatch):
    """The two other places that build a step's field by hand add the class bias of each chain's class."""
    from pbitgen.model import gibbs
    from pbitgen.trainer.train import free_run_autocorrelation
    from pbitgen.trainer.warmup import draw_batch

    run = class_run(acp_chains=8, acp_images=4, acp_length=64, acp_burnin=1)
    m = dtm.new_dtm(run)
    m.class_bias[:] = np.random.default_rng(2).normal(0, 1, m.class_bias.shape)
    m.class_bias[:, :, m.label_nodes] = 0
    x0, labels = tiny_data()
    plain = dtm.DTM(m.run.replace(dtm={"class_bias": False}), m.graph, m.coupling, m.bias, m.pixel_nodes, m.label_nodes)
    got = draw_batch(m, 2, x0, labels, 20, np.random.default_rng(3))
    base = draw_batch(plain, 2, x0, labels, 20, np.random.default_rng(3))
    idx = np.random.default_rng(3).integers(0, len(x0), 20)  # the drawer's uniform draw
    assert np.allclose(got.field, base.field + m.class_bias[1][labels[idx]])
    fields = []
    real = gibbs.GibbsSampler.run

    def run_and_record(sampler, J, h, *args, **kw):
        fields.append(np.array(h))
        return real(sampler, J, h, *args, **kw)

    monkeypatch.setattr(gibbs.GibbsSampler, "run", run_and_record)
    w = float(m.input_coupling[0])
    args = (run, m.graph, m.coupling[0], m.bias[0], w, 1, x0, labels, m.pixel_nodes, m.label_nodes, 9)
    free_run_autocorrelation(*args, class_bias=m.class_bias[0])
    with_bias = fields[0]
    fields.clear()
    free_run_autocorrelation(*args)
    cls = np.random.default_rng([9, 0xF5]).integers(0, len(x0), 4)  # the images the measure draws
    assert np.allclose(with_bias, fields[0] + m.class_bias[0][np.repeat(labels[cls], 2)])
