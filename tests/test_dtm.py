"""The DTM model: placement, label folding, generation (float and golden), and model folders whose every
bad field is refused with one line naming the file and the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.model import golden
from pbitgen.model.graph import build_graph
from pbitgen.trainer import dtm
from pbitgen.trainer.dtm_config import RunConfig

Z = 5.0


def tiny_run(labels: int = 1, steps: int = 2, **sched) -> RunConfig:
    return RunConfig.from_dict(
        {
            "graph": {"side": 22, "pattern": "G4", "torus": True},
            "schedule": {"steps": steps, "sweeps": 4, **sched},
            "dtm": {"image_side": 14, "label_nodes": labels},
            "train": {"init_scale": 0.3, "seed": 3},
        }
    )


def tiny_model(labels: int = 1, **sched) -> dtm.DTM:
    m = dtm.new_dtm(tiny_run(labels, **sched))
    m.bias[:] = np.random.default_rng(1).normal(0, 0.3, m.bias.shape)
    return m


def test_placement():
    g = build_graph(tiny_run().config.graph)
    pix, lab = dtm.place_nodes(g, 196, 10, 7)
    both = np.concatenate([pix, lab])
    assert len(np.unique(both)) == 206 and (g.colors[both] == 0).all()
    pix2, lab2 = dtm.place_nodes(g, 196, 10, 7)
    assert np.array_equal(pix, pix2) and np.array_equal(lab, lab2)
    assert not np.array_equal(pix, dtm.place_nodes(g, 196, 10, 8)[0])
    with pytest.raises(ValueError, match=r"^196 pixel and 100 label nodes do not fit on the 242 nodes of colour 0$"):
        dtm.place_nodes(g, 196, 100, 7)


def grid_distance(pix: np.ndarray, side: int, image_side: int, group: int) -> np.ndarray:
    """Torus distance of each pixel node from the centre of its pixel's cell laid over the lattice."""
    r, c = np.divmod(pix, side)
    i, j = np.divmod(np.arange(image_side * image_side).repeat(group), image_side)
    step = side / image_side
    dr, dc = np.abs(r - (i + 0.5) * step), np.abs(c - (j + 0.5) * step)
    return np.hypot(np.minimum(dr, side - dr), np.minimum(dc, side - dc))


@pytest.mark.parametrize(("side", "image_side", "group", "within"), [(70, 28, 1, 1.0), (36, 14, 3, 2.0)])
def test_grid_placement_lays_the_image_over_the_lattice(side, image_side, group, within):
    """Each pixel's nodes sit next to its cell's centre (colour 0 is a checkerboard: its nearest node is at
    most 1 away; a grayscale pixel's 3 nodes within 2); only the label nodes depend on the seed."""
    run = RunConfig.from_dict(
        {
            "graph": {"side": side, "pattern": "G12", "torus": True},
            "dtm": {"image_side": image_side, "placement": "grid", "gray_levels": group, "label_nodes": 2},
        }
    )
    m = dtm.new_dtm(run)
    pix, lab = m.pixel_nodes, m.label_nodes
    both = np.concatenate([pix, lab])
    assert len(pix) == image_side**2 * group and len(lab) == 20
    assert len(np.unique(both)) == len(both) and (m.graph.colors[both] == 0).all()
    assert grid_distance(pix, side, image_side, group).max() <= within
    other = dtm.new_dtm(run.replace(dtm={"placement_seed": 2}))
    assert np.array_equal(other.pixel_nodes, pix) and not np.array_equal(other.label_nodes, lab)
    # random placement puts pixels anywhere: far from their cells
    assert grid_distance(dtm.new_dtm(run.replace(dtm={"placement": "random"})).pixel_nodes, side, image_side,
                         group).mean() > 5 * within  # fmt: skip


def test_grid_placement_refuses_what_it_cannot_lay_out():
    g = build_graph(tiny_run().config.graph)
    with pytest.raises(ValueError, match=r"^14x14 pixels of 1 nodes and 100 label nodes do not fit on the 242 nodes"):
        dtm.place_on_grid(g, 22, True, 14, 100, 1)
    edges = {"kind": "edges", "n_nodes": 400, "edges": [[0, 1]]}
    run = RunConfig.from_dict({"graph": edges, "dtm": {"image_side": 14, "placement": "grid"}})
    with pytest.raises(ValueError, match=r"^dtm.placement = 'grid' needs a grid graph, not graph.kind = 'edges'$"):
        dtm.new_dtm(run)
    with pytest.raises(ValueError, match=r"placement must be 'random' or 'grid', not 'spiral'"):
        tiny_run().replace(dtm={"placement": "spiral"})


def test_label_spins():
    s = dtm.label_spins(np.array([0, 9]), 2)
    assert s.shape == (2, 20) and s[0, :2].tolist() == [1, 1] and s[0, 2:].max() == -1 and s[1, -2:].min() == 1


def test_fold_labels_gives_the_clamped_fields():
    """Every non-label node's local field is the same with the labels clamped or folded into the bias."""
    m = tiny_model(labels=1)
    g = m.graph
    labels = np.array([3, 7])
    j, h = dtm.fold_labels(m, 1, labels)
    r = np.random.default_rng(0)
    s = np.where(r.random((2, g.n)) < 0.5, 1.0, -1.0)
    s[:, m.label_nodes] = dtm.label_spins(labels, 1)
    e = g.edges

    def field(jj, hh, st):
        f = np.broadcast_to(hh, st.shape).copy()
        np.add.at(f.T, e[:, 0], (jj * st[:, e[:, 1]]).T)
        np.add.at(f.T, e[:, 1], (jj * st[:, e[:, 0]]).T)
        return f

    free = np.setdiff1d(np.arange(g.n), m.label_nodes)
    s_other = s.copy()
    s_other[:, m.label_nodes] = 1.0  # folded model ignores the label nodes' spins entirely
    assert np.allclose(field(m.coupling[0], m.bias[0], s)[:, free], field(j, h, s_other)[:, free])


def test_generate_shapes_and_determinism():
    m = tiny_model(labels=1)
    a = dtm.generate(m, 40, 5)
    assert a.shape == (40, 14, 14) and a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1}
    assert np.array_equal(a, dtm.generate(m, 40, 5))
    assert not np.array_equal(a, dtm.generate(m, 40, 6))


def test_sweep_betas_follow_the_schedule_or_stretch_its_ramp():
    m = tiny_model(labels=0, sweeps=4, beta=[0.8, 0.9, 1.1, 1.2])
    assert dtm.sweep_betas(m).tolist() == [0.8, 0.9, 1.1, 1.2]
    assert np.allclose(dtm.sweep_betas(m, 7), np.linspace(0.8, 1.2, 7))
    assert dtm.generate(m, 16, 1).shape == (16, 14, 14)


@pytest.mark.slow
def test_golden_and_float_agree_in_distribution():
    """Same model, same schedule: the fixed-point golden model and the float sampler give the same mean
    image (bound from sample sizes; quantization steps of 1/32 move it by far less)."""
    m = tiny_model(labels=0)
    n = 512
    f = dtm.generate(m, n, 1).reshape(n, -1).astype(float)
    g, sat = dtm.generate_golden(m, n, 2)
    g = g.reshape(n, -1).astype(float)
    assert sum(sat.values()) == 0
    diff = f.mean() - g.mean()
    se = np.sqrt(f.mean(0).var() / 196 + (f.var() + g.var()) / (n * 196) * 20)  # pixels are correlated: x20
    assert abs(diff) < Z * se + 0.01
    assert np.corrcoef(f.mean(0), g.mean(0))[0, 1] > 0.5


def on_grid(m: dtm.DTM) -> dtm.DTM:
    """The model with its couplings and biases rounded to the fixed-point grid (1/32), so that the golden
    model's banks hold exactly the float model's weights."""
    m.coupling[:] = np.round(m.coupling * 32) / 32
    m.bias[:] = np.round(m.bias * 32) / 32
    return m


def agreement_float(m: dtm.DTM, n: int, seed: int) -> np.ndarray:
    """Per chain: the fraction of pixels with x^0 = x^1 (the last step's output equals its input), float
    sampler (:func:`dtm.denoise_step`, step by step as :func:`dtm.sample_spins` runs them)."""
    from pbitgen.model.gibbs import GibbsSampler

    sampler = GibbsSampler(m.graph, n, seed)
    for t in range(m.steps, 0, -1):
        x_in = sampler.spins[:, m.pixel_nodes]
        dtm.denoise_step(m, sampler, t, None, dtm.sweep_betas(m))
    return (sampler.spins[:, m.pixel_nodes] == x_in).mean(axis=1)


def agreement_golden(m: dtm.DTM, n: int) -> np.ndarray:
    """:func:`agreement_float` of the bit-exact golden model."""
    banks, sat = m.quantize()
    assert sum(sat.values()) == 0
    res = golden.GoldenArray(m.run.config, banks, graph=m.graph).run(chains=n)
    return ((res.spins[:, m.pixel_nodes] > 0) == res.inputs[-1][:, m.pixel_nodes]).mean(axis=1)


RAMP = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]  # multiples of 1/64: the beta format holds them exactly


@pytest.mark.slow
@pytest.mark.parametrize("scales_input", [False, True])
@pytest.mark.parametrize("beta", [[0.0], RAMP, RAMP[::-1]], ids=["zero", "up", "down"])
def test_float_and_golden_share_the_input_law(scales_input, beta):
    """The float sampler computes the golden model's field at every beta, 0 included: ``beta gamma + w x``
    (input unscaled) or ``beta (gamma + w x)``. Statistic: P(x^0 = x^1) on the pixels of a 2-step model
    (step 2 has w = 0; step 1 has w_1 = 0.598, so sigmoid(2 w_1) = 0.768 when the input acts alone and 1/2
    when beta = 0 scales it away). Chains are independent, so the per-chain fractions give the standard
    error; the slack bounds what rounding moves one draw's probability: sigmoid(2z) has slope <= 1/2 and
    the golden field differs from the float one by the rounding of w_1 to 1/32 plus <= 1/64 for beta gamma."""
    m = on_grid(tiny_model(labels=0, sweeps=len(beta), beta=beta, beta_scales_input=scales_input))
    n = 2000
    f, g = agreement_float(m, n, 1), agreement_golden(m, n)
    w = m.input_coupling[0]
    slack = 0.5 * (abs(w - np.round(w * 32) / 32) + 1 / 64)
    se = np.hypot(f.std(), g.std()) / np.sqrt(n)
    assert abs(f.mean() - g.mean()) < Z * se + slack, (f.mean(), g.mean(), se, slack)
    if beta[-1] == 0.0:  # the last sweep alone decides each pixel, independently: exact law, binomial error
        p = 1.0 / (1.0 + np.exp(-2 * w)) if not scales_input else 0.5
        assert abs(f.mean() - p) < Z * np.sqrt(p * (1 - p) / (n * len(m.pixel_nodes))), (f.mean(), p)


def label_model() -> dtm.DTM:
    """``tiny_model(labels=1)`` with every edge of a label node at coupling 2 (on the grid): a clamped label
    node then holds its hidden neighbours near its own sign (bias +-2), and they pass it on to their
    pixels."""
    m = on_grid(tiny_model(labels=1))
    at_label = np.isin(m.graph.edges, m.label_nodes).any(axis=1)
    m.coupling[:, at_label] = 2.0
    return m


def label_score(images: np.ndarray, direction: np.ndarray) -> np.ndarray:
    return (2.0 * images.reshape(len(images), -1) - 1.0) @ direction


@pytest.mark.parametrize("sampler", ["float", "golden"])
def test_labels_change_what_is_sampled(sampler):
    """Images drawn for class 0 and class 1 differ beyond sampling noise. The direction to look along (the
    difference of the two classes' mean images) comes from one draw, the test from a second, independent
    draw: there each image's score along it is independent of the others, so the two classes' mean scores
    differ by fewer than Z standard errors unless the label changes the law (it does: by 16 and 18 here)."""
    m = label_model()
    n = 400
    labels = np.repeat([0, 1], n // 2)

    def draw(seed):
        if sampler == "float":
            return dtm.generate(m, n, seed, labels=labels)
        return dtm.generate_golden(m, n, seed, labels=labels)[0]

    first = draw(1)
    direction = first[labels == 0].reshape(n // 2, -1).mean(0) - first[labels == 1].reshape(n // 2, -1).mean(0)
    score = label_score(draw(2), direction)
    a, b = score[labels == 0], score[labels == 1]
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert a.mean() - b.mean() > Z * se, (a.mean(), b.mean(), se)


def test_label_nodes_push_their_neighbours_their_way():
    """The class code reaches the chain with the right sign: class c's label node is +1 and the others -1,
    so with couplings +2 the hidden neighbours of label node 0 lean to +1 for class 0 and to -1 for
    class 1 (bias +-2, plus their other neighbours' fields of about +-1: means beyond +-0.5)."""
    m = label_model()
    n = 200
    nbrs = np.unique(m.graph.edges[np.isin(m.graph.edges, m.label_nodes[:1]).any(axis=1)])
    nbrs = np.setdiff1d(nbrs, m.label_nodes)
    for label, sign in ((0, 1), (1, -1)):
        spins = dtm.sample_spins(m, n, 3, labels=np.full(n, label))
        assert sign * spins[:, nbrs].mean() > 0.5, (label, spins[:, nbrs].mean())


# ---- model folders ---------------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path):
    m = tiny_model(labels=1)
    m.meta["data"] = {"sha256": "x"}
    dtm.save_dtm(tmp_path / "m", m)
    return tmp_path / "m"


def test_round_trip(folder):
    m = dtm.load_dtm(folder)
    ref = tiny_model(labels=1)
    assert np.array_equal(m.coupling, ref.coupling) and np.array_equal(m.bias, ref.bias)
    assert np.array_equal(m.pixel_nodes, ref.pixel_nodes) and m.meta["data"]["sha256"] == "x"
    meta = json.loads((folder / "model.json").read_text())
    assert meta["formats"]["coupling"] == "s8.5" and meta["graph"]["edges"] == len(m.graph.edges)


def rewrite(folder, **changes):
    with np.load(folder / "model.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    a.update(changes)
    for k in [k for k, v in a.items() if v is None]:
        del a[k]
    np.savez(folder / "model.npz", **a)


def meta_edit(folder, fn):
    meta = json.loads((folder / "model.json").read_text())
    fn(meta)
    (folder / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coupling": None}, r"model\.npz: field 'coupling' is missing"),
        ({"coupling": np.zeros((2, 5))}, r"model\.npz: field 'coupling' must have shape \(2, 968\), not \(2, 5\)"),
        ({"bias": np.full((2, 484), np.nan)}, r"model\.npz: field 'bias' must be finite, but holds 968 NaN/inf"),
        ({"pixel_nodes": np.zeros(196)}, r"model\.npz: field 'pixel_nodes' must hold int values, not float64"),
        ({"pixel_nodes": np.arange(196)}, r"field 'pixel_nodes' and label_nodes must be distinct nodes"),
        ({"edges": np.zeros((968, 2), np.int64)}, r"field 'edges' does not match the graph of the config"),
        ({"input_coupling": np.ones(2)}, r"field 'input_coupling' does not match the forward process"),
        ({"banks_bias": np.zeros((2, 484), np.int64)}, r"field 'banks_bias' does not match the quantized"),
        ({"banks_visible": np.zeros(484)}, r"field 'banks_visible' must hold bool values"),
    ],
)
def test_bad_arrays(folder, change, message):
    rewrite(folder, **change)
    with pytest.raises(PbitgenError, match=message):
        dtm.load_dtm(folder)


def test_pixels_off_colour(folder):
    m = dtm.load_dtm(folder)
    pix = m.pixel_nodes.copy()
    odd = np.flatnonzero(m.graph.colors == 1)[0]
    pix[0] = odd
    rewrite(folder, pixel_nodes=pix)
    with pytest.raises(PbitgenError, match=r"field 'pixel_nodes' must all lie on colour 0$"):
        dtm.load_dtm(folder)


def test_bad_json(folder):
    (folder / "model.json").write_text("{truncated")
    with pytest.raises(PbitgenError, match=r"model\.json: not valid JSON"):
        dtm.load_dtm(folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format="other"), r"model\.json: field 'format' must be 'pbitgen-dtm', not 'other'$"),
        (lambda m: m.update(version=9), r"model\.json: field 'version' must be 1, not 9$"),
        (lambda m: m.pop("run"), r"model\.json: field 'run' is missing$"),
        (lambda m: m["run"]["dtm"].update(image_side=15), r"field 'run\.dtm\.image_side' must be 14 or 28, not 15"),
        (lambda m: m["run"]["train"].update(acp_law="x"), r"field 'run\.train\.acp_law' must be one of"),
        (lambda m: m["run"]["schedule"].update(steps=3), r"model\.npz: field 'coupling' must have shape \(3, 968\)"),
    ],
)
def test_bad_metadata(folder, edit, message):
    meta_edit(folder, edit)
    with pytest.raises(PbitgenError, match=message):
        dtm.load_dtm(folder)


def test_missing_and_truncated(folder, tmp_path):
    with pytest.raises(PbitgenError, match=r"no such model folder"):
        dtm.load_dtm(tmp_path / "nope")
    raw = (folder / "model.npz").read_bytes()
    (folder / "model.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(PbitgenError, match=r"model\.npz: "):
        dtm.load_dtm(folder)
    (folder / "model.json").unlink()
    with pytest.raises(PbitgenError, match=r"model\.json: no such file$"):
        dtm.load_dtm(folder)
