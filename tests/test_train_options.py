"""The trainer's faithful options (labels, binarisation, fresh hidden spins, EMA, learning-rate tail,
held-out checkpoint, gradient SNR): each does what it says, and the defaults reproduce the trainer as it
was before they existed, bit for bit (digests recorded from the code before the options were added)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.model import gibbs
from pbitgen.trainer import data, dtm
from pbitgen.trainer.train import (
    StepState,
    batch_drawer,
    bound_weights,
    cosine_lr,
    ema_update,
    gradient_snr,
    label_edges,
    load_checkpoint,
    same_run,
    snr_stats,
    train,
    train_epoch,
)

from .test_train import tiny_data, tiny_run

#: sha256 of (coupling bytes + bias bytes), of the per-epoch step statistics (gap, autocorr, penalty) as
#: JSON, of 16 float-generated and of 8 golden-generated images (seed 7), for a 2-epoch run of
#: :func:`before_run` without (0) and with (1) one label node per class, recorded before the options.
BEFORE = {
    0: (
        "43fdfa7ac98e180dd85d67b0e4b0b6b0d3d5b76743598432afffae56cd0fb903",
        "f15459b87012800708fddc10ae0c6b26987c16a10bc2f26ede1d1572ca1d0261",
        "5771ed1597433ca574232011fa14ce34b6ebb6537e4c933b56a2ca5118bf46f8",
        "4f192419446d9700fdbd9c8c5da559ac996948e224b25462e9d22b1873595b4f",
    ),
    1: (
        "c32af79e3510a62e9480f13dc9d9d4533f2879b6895703e92a9ac6f8229a5f96",
        "2433ad6c87adf2f74b69efc2c6271b2fb481c9028f8b50f6bb915bbd8711b1f4",
        "f877c2037b9ec2d81e23ca8520212d7eec772ceb6a04c542dd5f93034cf16846",
        "4aab65e9ef438eda95db3c5c8ae04f779e34c7406c543e88ee178a1469779b8c",
    ),
}
#: sha256 of the binary images and labels (Dataset.sha256) of the first 500 training images at 14x14 and
#: the first 300 test images at 28x28, thresholded at 0.5, recorded before the threshold was an option.
BEFORE_DATA = (
    "2a6bb6d2e6de1c92dfb781e77caa43744da2c19a3b857e853a5c5432265f89c6",
    "0fb1bcca88d332751f6819ef99e0d292ffbdf6df1b6df616d403bb2e720d3266",
)


def sha(*blobs: bytes) -> str:
    return hashlib.sha256(b"".join(blobs)).hexdigest()


def before_run(labels: int):
    return tiny_run().replace(graph={"side": 22}, dtm={"label_nodes": labels})


@pytest.mark.parametrize("labels", [0, 1])
def test_defaults_reproduce_the_trainer_before_the_options(tmp_path, labels):
    x0, classes = tiny_data()
    m = train(before_run(labels), tmp_path, x0, classes, "h", log=lambda s: None)
    keys = ("gap", "autocorr", "penalty")
    stats = [[{k: s[k] for k in keys} for s in e["steps"]] for e in m.meta["history"]]
    got = (
        sha(m.coupling.tobytes(), m.bias.tobytes()),
        sha(json.dumps(stats).encode()),
        sha(dtm.generate(m, 16, 7).tobytes()),
        sha(dtm.generate_golden(m, 8, 7)[0].tobytes()),
    )
    assert got == BEFORE[labels]


@pytest.mark.skipif(not data.DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_default_binarisation_is_unchanged():
    assert (data.load_images("train", 14, 500).sha256, data.load_images("test", 28, 300).sha256) == BEFORE_DATA


# ---- the options do what they say -------------------------------------------------------------------------
def test_ema_of_constant_weights_is_constant_and_lags_a_step_by_its_time_constant():
    avg = np.full(3, 0.25)
    for _ in range(50):
        ema_update(avg, np.full(3, 0.25), 0.9)
    assert np.array_equal(avg, np.full(3, 0.25))
    decay = 0.95
    tau = round(1 / (1 - decay))  # 20 updates
    avg = np.zeros(1)
    for _ in range(tau):
        ema_update(avg, np.ones(1), decay)
    assert avg[0] == pytest.approx(1 - decay**tau) and abs(avg[0] - (1 - 1 / math.e)) < 0.02


def test_lr_schedule_with_a_flat_tail():
    total = 100
    assert cosine_lr(1.0, 0.1, 0, total, 0.2) == 1.0
    assert cosine_lr(1.0, 0.1, 40, total, 0.2) == pytest.approx(0.55)  # half of the 80-update cosine
    for done in (80, 90, 100):
        assert cosine_lr(1.0, 0.1, done, total, 0.2) == pytest.approx(0.1)
    assert cosine_lr(1.0, 0.1, 79, total, 0.2) > 0.1
    for done in range(total + 1):  # no tail: the cosine over every update, exactly as before
        assert cosine_lr(1.0, 0.1, done, total, 0.0) == cosine_lr(1.0, 0.1, done, total)


def test_gradient_snr_of_a_known_stream():
    """g_u = mu + sigma z_u: the per-update SNR |mu| / sigma is recovered within its sampling error."""
    r = np.random.default_rng(3)
    updates, params = 2000, 400
    want = np.repeat([0.25, 0.5, 2.0, 4.0], params // 4)
    sigma = r.uniform(0.1, 3.0, params)
    mu = want * sigma * np.where(r.random(params) < 0.5, -1, 1)
    total, total_sq = np.zeros(params + 2), np.zeros(params + 2)
    for _ in range(updates):
        g = np.concatenate([mu + sigma * r.normal(size=params), [0.0, 1.5]])  # then an unused and a constant one
        total += g
        total_sq += g * g
    snr = gradient_snr(total, total_sq, updates)
    # the mean's error is sigma / sqrt(U); the rms deviation's relative error is about 1 / sqrt(2 U)
    bound = 5 * (1 + want / math.sqrt(2)) / math.sqrt(updates)
    assert (np.abs(snr[:params] - want) < bound).all()
    assert math.isnan(snr[params]) and snr[params + 1] > 1e6
    stats = snr_stats(snr)
    assert stats["snr_above_1"] == pytest.approx(201 / 401)  # half of the stream, and the constant one
    assert 0.5 - 0.05 < stats["snr_median"] < 2.0 + 0.2


def options_run(**train_opts):
    return before_run(1).replace(train={"epochs": 1, "updates_per_epoch": 6, **train_opts})


class Recorder:
    """Record the label spins each sampler of one train_epoch is given, by sampler (positive first)."""

    def __init__(self, monkeypatch, label_nodes):
        self.calls: dict[int, list[np.ndarray]] = {}
        real = gibbs.GibbsSampler.set_spins

        def set_spins(sampler, spins, nodes=None):
            if nodes is not None and np.array_equal(nodes, label_nodes):
                self.calls.setdefault(id(sampler), []).append(np.array(spins))
            return real(sampler, spins, nodes)

        monkeypatch.setattr(gibbs.GibbsSampler, "set_spins", set_spins)


def one_epoch(run, classes=3, epoch=0):
    x0, _ = tiny_data()
    m = dtm.new_dtm(run)
    tc = run.train
    state = StepState.initial(m.coupling[0], m.bias[0], tc.batch, tc.penalty_init, 5, tc.ema > 0)
    labels = np.full(len(x0), classes)
    w = float(m.input_coupling[0])
    st, _ = train_epoch(run, 1, epoch, state, m.pixel_nodes, m.label_nodes, w, x0, labels)
    return m, state, st


@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_label_noise_flips_about_rate_of_the_labels(monkeypatch, rate):
    run = options_run(label_noise=rate)
    m = dtm.new_dtm(run)
    rec = Recorder(monkeypatch, m.label_nodes)
    one_epoch(run)
    pos, neg = rec.calls.values()  # the positive sampler is made first
    clean = dtm.label_spins(np.array([3]), 1)
    flipped = np.concatenate([p != clean for p in pos])
    n = flipped.size  # 6 updates x 32 chains x 10 label nodes
    assert abs(flipped.mean() - rate) <= 5 * math.sqrt(rate * (1 - rate) / n)
    if rate:
        assert flipped.any()
    assert all(np.array_equal(p, q) for p, q in zip(pos, neg, strict=True))  # clamped: the same code


def test_free_labels_change_the_negative_phase(monkeypatch):
    rec = Recorder(monkeypatch, dtm.new_dtm(options_run()).label_nodes)
    m, _, clamped = one_epoch(options_run())
    assert len(rec.calls) == 2
    code = dtm.label_spins(np.array([3]), 1)
    assert (clamped.neg_spins[:, m.label_nodes] == code).all()
    assert np.array_equal(clamped.bias[m.label_nodes], np.zeros(10))  # same clamp in both phases: no gradient
    rec.calls.clear()
    m, start, free = one_epoch(options_run(free_labels_negative=True))
    assert len(rec.calls) == 1  # only the positive phase gets labels
    moved = free.neg_spins[:, m.label_nodes] != start.neg_spins[:, m.label_nodes]
    assert moved.mean() > 0.1  # sampled in the negative phase, not held at their first values
    assert (free.bias[m.label_nodes] != 0).all()  # clamped +-1 against free: every label bias moves


@pytest.mark.parametrize(
    ("neg_warmup", "start", "epoch", "expected"), [(0, 0, 0, 3), (11, 0, 0, 11), (11, 2, 1, 3), (11, 2, 2, 11)]
)
def test_negative_warmup_lengthens_only_the_negative_chains(monkeypatch, neg_warmup, start, epoch, expected):
    """``neg_warmup`` reaches the negative phase only, from epoch ``neg_warmup_from`` on."""
    warmups: dict[int, list[int]] = {}
    real = gibbs.GibbsSampler.run_collect

    def run_collect(sampler, J, h, beta, warmup, *args, **kw):
        warmups.setdefault(id(sampler), []).append(warmup)
        return real(sampler, J, h, beta, warmup, *args, **kw)

    monkeypatch.setattr(gibbs.GibbsSampler, "run_collect", run_collect)
    one_epoch(options_run(warmup=3, neg_warmup=neg_warmup, neg_warmup_from=start), epoch=epoch)
    pos, neg = warmups.values()  # the positive sampler runs first
    assert pos == [3] * 6
    assert neg == [expected] * 6


@pytest.mark.parametrize("class_chains", [False, True])
def test_class_chains_keep_each_chain_on_one_class(monkeypatch, class_chains):
    """With ``class_chains`` every update gives chain ``i`` (both phases) an image of class ``i mod 10``;
    without it, chains change class from update to update."""
    run = options_run(batch=30, class_chains=class_chains)
    x0, classes = tiny_data()
    m = dtm.new_dtm(run)
    rec = Recorder(monkeypatch, m.label_nodes)
    state = StepState.initial(m.coupling[0], m.bias[0], 30, run.train.penalty_init, 5, False)
    train_epoch(run, 1, 0, state, m.pixel_nodes, m.label_nodes, float(m.input_coupling[0]), x0, classes)
    pos, neg = rec.calls.values()
    chain_class = np.array([p.reshape(30, 10).argmax(1) for p in pos])  # (updates, chains)
    assert len(pos) == len(neg) == 6
    if class_chains:
        assert (chain_class == np.arange(30) % 10).all()
    else:
        assert (chain_class != chain_class[0]).any(axis=0).mean() > 0.5


def test_class_chains_draws_every_class_alike_from_its_own_images():
    labels = np.repeat(np.arange(10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 50])
    draw = batch_drawer(labels, 20, True)
    idx = np.concatenate([draw(np.random.default_rng(s)) for s in range(1000)]).reshape(1000, 20)
    assert (labels[idx] == np.arange(20) % 10).all()
    hits = np.bincount(idx[:, [9, 19]].ravel() - 45, minlength=50)  # class 9's 50 images, 2,000 draws
    assert (np.abs(hits - 40) < 5 * np.sqrt(40)).all()  # uniform over them: 40 each
    uniform = batch_drawer(labels, 20, False)
    assert np.array_equal(uniform(np.random.default_rng(3)), np.random.default_rng(3).integers(0, 95, 20))
    with pytest.raises(PbitgenError, match=r"^train\.class_chains: class 4 has no training images"):
        batch_drawer(labels[labels != 4], 20, True)


def test_class_chains_needs_labels_and_a_batch_of_tens():
    with pytest.raises(ValueError, match=r"^train\.batch 32 must be a multiple of 10 with train\.class_chains"):
        options_run(class_chains=True)
    with pytest.raises(ValueError, match=r"^train\.class_chains needs label nodes"):
        before_run(0).replace(train={"batch": 30, "class_chains": True})


@pytest.mark.parametrize("start", ["persistent", "data"])
def test_negative_chains_start_where_neg_start_says(monkeypatch, start):
    """``"data"``: every update's negative chains start from the state the positive phase ended in (this
    image's pixels, hidden nodes settled on them); ``"persistent"``: from where they stopped last update."""
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    real = gibbs.GibbsSampler.run_collect

    def run_collect(sampler, *args, **kw):
        before = np.array(sampler.spins)
        out = real(sampler, *args, **kw)
        calls.append((before, np.array(sampler.spins)))
        return out

    monkeypatch.setattr(gibbs.GibbsSampler, "run_collect", run_collect)
    one_epoch(options_run(neg_start=start))
    pos, neg = calls[0::2], calls[1::2]  # each update runs the positive phase first
    assert len(neg) == 6
    for k in range(6):
        from_positive = np.array_equal(neg[k][0], pos[k][1])
        assert from_positive == (start == "data")
        if start == "persistent" and k:
            assert np.array_equal(neg[k][0], neg[k - 1][1])
    with pytest.raises(ValueError, match=r"^train\.neg_start must be one of persistent, data"):
        options_run(neg_start="fresh")


def test_negative_warmup_from_needs_a_negative_warmup():
    with pytest.raises(ValueError, match=r"^train\.neg_warmup_from needs neg_warmup > 0"):
        options_run(neg_warmup_from=3)


def test_label_couplings_bounded_by_the_bias_path():
    run = options_run()
    m = dtm.new_dtm(run)
    fmt = run.config.formats
    r = np.random.default_rng(2)
    coupling, bias = r.normal(0, 8, len(m.graph.edges)), r.normal(0, 12, m.graph.n)
    plain_j, plain_b = coupling.copy(), bias.copy()
    bound_weights(plain_j, plain_b, fmt)  # the default: everything clipped to its own format
    assert np.array_equal(plain_j, np.clip(coupling, fmt.coupling.min_value, fmt.coupling.max_value))
    assert np.array_equal(plain_b, np.clip(bias, fmt.bias.min_value, fmt.bias.max_value))
    lab = label_edges(m.graph, m.label_nodes)
    bound_weights(coupling, bias, fmt, lab)
    other = np.setdiff1d(np.arange(len(coupling)), lab[0])
    assert np.array_equal(coupling[other], plain_j[other]) and np.array_equal(bias, plain_b)
    assert np.abs(coupling[lab[0]]).max() > fmt.coupling.max_value  # beyond the coupling format
    m.coupling[0], m.bias[0] = coupling, bias
    h = dtm.fold_labels(m, 1, np.arange(10))[1]  # the bias of every node with each class folded in
    assert h.max() <= fmt.bias.max_value and h.min() >= fmt.bias.min_value


def test_label_bound_trains_past_the_coupling_format_without_saturating_folded_classes():
    run = options_run(lr=5.0, lr_final=5.0, label_bound="bias")
    m, _, st = one_epoch(run)
    lab = label_edges(m.graph, m.label_nodes)[0]
    assert np.abs(st.coupling[lab]).max() > run.config.formats.coupling.max_value
    m.coupling[0], m.bias[0] = st.coupling, st.bias
    for _, _, sat in dtm.class_banks(m, run.config, np.arange(10)):
        assert sum(sat.values()) == 0
    st_plain = one_epoch(options_run(lr=5.0, lr_final=5.0))[2]
    f = run.config.formats.coupling
    assert f.min_value <= st_plain.coupling.min() and st_plain.coupling.max() <= f.max_value


def test_binarize_threshold():
    img = np.arange(0, 256, dtype=np.uint8)[:196].reshape(1, 14, 14).repeat(2, 1).repeat(2, 2)
    for threshold in (0.1, 0.5):
        want = (img[:, ::2, ::2] / 255.0 >= threshold).astype(np.uint8)
        assert np.array_equal(data.binarize(img, 14, threshold), want)
    assert data.binarize(img, 28, 0.1).sum() > data.binarize(img, 28).sum()


def with_run(m, **sections):
    return dtm.DTM(m.run.replace(**sections), m.graph, m.coupling, m.bias, m.pixel_nodes, m.label_nodes)


def test_fresh_hidden_starts_each_step_from_random_hidden_spins():
    from .test_dtm import tiny_model

    m = tiny_model(labels=0, steps=1)
    m.bias[:] = 3.0  # every spin wants +1: a beta = 1 sweep sets nearly all of them
    fresh = with_run(m, dtm={"fresh_hidden": True})
    assert dtm.sweep_betas(fresh).tolist() == [0.0, 1.0, 1.0, 1.0] and dtm.sweep_betas(m).tolist() == [1.0] * 4
    ramp = with_run(fresh, schedule={"beta": [0.8, 0.9, 1.1, 1.2]})
    assert dtm.sweep_betas(ramp, 5).tolist() == [0.0, 0.8, 0.9, 1.1, 1.2]  # the schedule's own 4 after the 0
    assert np.allclose(dtm.sweep_betas(ramp, 6), [0.0, 0.8, 0.9, 1.0, 1.1, 1.2])  # its ramp stretched to 5
    n = 400
    hidden = np.setdiff1d(np.arange(m.graph.n), m.pixel_nodes)
    up = (dtm.sample_spins(fresh, n, 1, sweeps=1)[:, hidden] > 0).mean()  # the one sweep is the beta = 0 one
    assert abs(up - 0.5) < 5 * math.sqrt(0.25 / (n * len(hidden)))
    assert (dtm.sample_spins(m, n, 1, sweeps=1)[:, hidden] > 0).mean() > 0.95


def test_heldout_images_pick_the_shipped_epoch_and_survive_a_resume(tmp_path):
    x0, classes = tiny_data()
    run = before_run(0).replace(train={"epochs": 3, "heldout": 16, "eval_samples": 4})
    seen, fds = [], {1: 2.0, 2: 1.0, 3: 3.0}

    def quality(model, epoch):
        seen.append(model.coupling.copy())
        return fds[epoch]

    m = train(run, tmp_path / "a", x0, classes, "h", quality=quality, log=lambda s: None)
    assert np.array_equal(m.coupling, seen[1]) and not np.array_equal(m.coupling, seen[2])
    assert m.meta["shipped"] == {"epoch": 2, "weights": "last", "chosen_by": "held-out FD"}
    # the held-out images are not trained on: the same weights as a run on the others alone
    plain = train(run.replace(train={"heldout": 0}), tmp_path / "p", x0[:48], classes[:48], "h", log=lambda s: None)
    assert np.array_equal(plain.coupling, seen[2])

    def stop_after_two(line):
        if "  2/3 done in" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(run, tmp_path / "b", x0, classes, "h", quality=quality, log=stop_after_two)
    fds[3] = 0.5  # resumed: the kept best (epoch 2) loses to epoch 3 only by its FD
    resumed = train(run, tmp_path / "b", x0, classes, "h", quality=quality, log=lambda s: None)
    assert np.array_equal(resumed.coupling, seen[-1]) and resumed.meta["shipped"]["epoch"] == 3
    fds[3] = 3.0
    with pytest.raises(KeyboardInterrupt):
        train(run, tmp_path / "c", x0, classes, "h", quality=quality, log=stop_after_two)
    resumed = train(run, tmp_path / "c", x0, classes, "h", quality=quality, log=lambda s: None)
    assert np.array_equal(resumed.coupling, m.coupling) and resumed.meta["shipped"]["epoch"] == 2


def test_ema_weights_are_evaluated_and_shipped(tmp_path):
    x0, classes = tiny_data()
    run = before_run(0).replace(train={"ema": 0.5, "batch": 200, "warmup": 40})  # batch, warmup raised too
    seen = []
    m = train(run, tmp_path, x0, classes, "h", quality=lambda mm, e: seen.append(mm.coupling.copy()) or 0.0,
              log=lambda s: None)  # fmt: skip
    _, states, _, _ = load_checkpoint(tmp_path / "checkpoint.npz", 2, ema=True)
    assert np.array_equal(m.coupling, np.array([s.ema_j for s in states]))
    assert np.array_equal(seen[-1], m.coupling) and not np.array_equal(m.coupling, [s.coupling for s in states])
    assert m.meta["shipped"]["weights"] == "moving average"
    for rec in m.meta["history"]:
        for s in rec["steps"]:
            assert 0.0 <= s["snr_above_1"] <= 1.0 and s["snr_median"] >= 0.0


def test_options_recorded_in_the_model_and_old_files_load(tmp_path):
    run = options_run(ema=0.9, label_noise=0.2, free_labels_negative=True, label_bound="bias", lr_tail=0.3)
    run = run.replace(dtm={"binarize_threshold": 0.1, "fresh_hidden": True})
    m = dtm.new_dtm(run)
    dtm.save_dtm(tmp_path / "m", m)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["run"]["train"]["label_noise"] == 0.2 and meta["run"]["dtm"]["binarize_threshold"] == 0.1
    assert dtm.load_dtm(tmp_path / "m").run == run
    old = before_run(1)  # a file written before the options: they load as their defaults
    dtm.save_dtm(tmp_path / "o", dtm.new_dtm(old))
    meta = json.loads((tmp_path / "o" / "model.json").read_text())
    for section, names in NEW.items():
        for name in names:
            del meta["run"][section][name]
    (tmp_path / "o" / "model.json").write_text(json.dumps(meta))
    assert dtm.load_dtm(tmp_path / "o").run == old and same_run(meta["run"], old)
    assert not same_run(meta["run"], run) and not same_run({"train": 1}, old)


#: The fields these options added, by section.
NEW = {
    "dtm": ("binarize_threshold", "fresh_hidden", "class_bias"),
    "train": (
        "lr_tail",
        "ema",
        "heldout",
        "label_noise",
        "free_labels_negative",
        "label_bound",
        "class_chains",
        "neg_start",
    ),
}


@pytest.mark.skipif(not data.DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_train_command_binarises_at_the_threshold_and_holds_images_out(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from pbitgen.cli import main

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "t").mkdir()
    shutil.copy(root / "weights" / "default" / "classifier.npz", tmp_path / "t")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        '[graph]\nside = 20\npattern = "G8"\ntorus = true\n[schedule]\nsteps = 2\nsweeps = 4\n[dtm]\nimage_side = 14\n'
        "binarize_threshold = 0.1\n[train]\nepochs = 2\nupdates_per_epoch = 2\nn_train = 200\nheldout = 50\n"
        "eval_samples = 8\nbatch = 8\nwarmup = 1\nacp_chains = 8\nacp_length = 4\nacp_lag = 1\nworkers = 1\n"
    )
    argv = ["train", "--config", str(cfg), "--out", str(tmp_path / "t"), "--checkpoints", str(tmp_path / "ck")]
    assert main(argv) == 0
    assert "held-out FD" in capsys.readouterr().out
    meta = json.loads((tmp_path / "t" / "model.json").read_text())
    assert meta["data"]["sha256"] == data.load_images("train", 14, 200, threshold=0.1).sha256
    assert meta["data"]["sha256"] != data.load_images("train", 14, 200).sha256
    assert meta["data"]["images"] == 150 and meta["shipped"]["chosen_by"] == "held-out FD"
    assert meta["run"]["dtm"]["binarize_threshold"] == 0.1


def test_weight_decay_shrinks_the_couplings_before_the_update():
    """Decoupled weight decay (AdamW): one update with ``weight_decay`` gives the couplings of one without
    it less ``lr * weight_decay`` times the couplings before the update (the gradient is the same: same
    chains, same weights when it is taken), and leaves the biases alone."""
    runs = [options_run(updates_per_epoch=1, weight_decay=wd) for wd in (0.0, 0.5)]
    (_, before, plain), (_, _, decayed) = one_epoch(runs[0]), one_epoch(runs[1])
    tc = runs[1].train
    lr = cosine_lr(tc.lr, tc.lr_final, 1, tc.epochs * tc.updates_per_epoch, tc.lr_tail)
    assert np.abs(before.coupling).max() > 0.005  # the initial couplings are not zero
    np.testing.assert_allclose(decayed.coupling, plain.coupling - lr * 0.5 * before.coupling, rtol=0, atol=1e-12)
    assert np.array_equal(decayed.bias, plain.bias)
    with pytest.raises(ValueError, match=r"weight_decay must be a number in \[0.0, 10.0\], not -0.1"):
        options_run(weight_decay=-0.1)
    with pytest.raises(ValueError, match=r"^train.weight_decay 5.0 times the learning rate 0.2 must be below 1 "):
        options_run(weight_decay=5.0, lr=0.2)
