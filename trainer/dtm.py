r"""The denoising thermodynamic model (DTM): T Boltzmann machines on one graph, its files, and generation.

Step ``t`` (t = 1..T, array row ``t - 1``) is the conditional Boltzmann machine

$$p_t(s \mid x^t) \propto \exp\Big(\beta \big(\sum_i b^t_i s_i + \sum_{(i,j)} J^t_{ij} s_i s_j\big)
  + \beta' w_t \sum_{i \in V} x^t_i s_i\Big),$$

with spins $s_i = \pm 1$ on every node of the graph, $V$ the visible pixel nodes, $x^t$ the step's input
image, $b^t, J^t$ the trained biases and couplings, $w_t$ the fixed input coupling of the forward process
(:func:`pbitgen.trainer.data.input_coupling`) and $\beta' = \beta$ when ``schedule.beta_scales_input`` is set,
else 1. The visible spins of a sample are $x^{t-1}$. Label nodes (optional, ``dtm.label_nodes`` per class)
are clamped to the class code; a clamped node acts on its neighbours as a bias $J_{ij} \ell_i$, which is how
generation conditions on a class (:func:`fold_labels`) in the float sampler and in the golden model alike.

Generation follows the golden model's contract (:mod:`pbitgen.model.golden`): uniform noise, then for
t = T..1 latch $x^t$ = visible spins and run K sweeps of step t; after step 1 the visible spins are $x^0$.

Files (a model folder, see README "Model files"): ``model.json`` holds the run config (hardware
:class:`~pbitgen.config.Config` + ``dtm`` + ``train``), graph summary, placement seed, data hash, seeds,
quantization report and metrics; ``model.npz`` holds the arrays (:data:`ARRAY_KEYS`), including the
fixed-point banks the hardware loads. :func:`load_dtm` validates every field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pbitgen.config import Config, ScheduleConfig
from pbitgen.errors import PbitgenError
from pbitgen.model import golden
from pbitgen.model.graph import Graph, build_graph
from pbitgen.model.io import read_npz, save_npz, save_text

from .data import N_CLASSES, input_coupling
from .dtm_config import RunConfig

FORMAT = "pbitgen-dtm"
VERSION = 1
ARRAY_KEYS = (
    "coupling",
    "bias",
    "input_coupling",
    "pixel_nodes",
    "label_nodes",
    "edges",
    "banks_coupling",
    "banks_bias",
    "banks_input",
    "banks_visible",
    "banks_beta",
)


def place_nodes(graph: Graph, n_pixels: int, n_labels: int, seed: int, group: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random (seeded) distinct nodes of colour 0 for the pixels and the label nodes.

    Returns ``pixel_nodes`` (n_pixels,) with visible node k at node ``pixel_nodes[k]``, and
    ``label_nodes`` (n_labels,), ordered class-major (class c owns a contiguous group). With ``group`` > 1
    (a grayscale pixel's nodes) consecutive visible nodes come in groups of that many that share hidden
    neighbours (:func:`_groups`), so that couplings can tie a pixel's nodes together; otherwise the nodes
    are the first of a seeded permutation of colour 0.
    """
    pool = np.flatnonzero(graph.colors == 0)
    if n_pixels + n_labels > len(pool):
        raise ValueError(f"{n_pixels} pixel and {n_labels} label nodes do not fit on the {len(pool)} nodes of colour 0")
    order = np.random.default_rng(seed).permutation(pool)
    if group == 1:
        pick = order[: n_pixels + n_labels]
        return pick[:n_pixels].astype(np.int64), pick[n_pixels:].astype(np.int64)
    pix = _groups(graph, order, n_pixels // group, group)
    rest = order[~np.isin(order, pix)]
    return pix.astype(np.int64), rest[:n_labels].astype(np.int64)


def place_on_grid(
    graph: Graph, side: int, torus: bool, image_side: int, n_labels: int, seed: int, group: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The image laid over a ``side`` x ``side`` lattice (node ``r * side + c``): pixel (i, j)'s ``group``
    nodes are the free nodes of colour 0 nearest the centre of its cell, ((i + 1/2) s, (j + 1/2) s) with
    s = ``side / image_side`` (torus distance with ``torus``), taken in pixel order; the label nodes are a
    seeded draw from the nodes left. Returns ``(pixel_nodes, label_nodes)`` as :func:`place_nodes` does."""
    pool = np.flatnonzero(graph.colors == 0)
    if image_side * image_side * group + n_labels > len(pool):
        raise ValueError(
            f"{image_side}x{image_side} pixels of {group} nodes and {n_labels} label nodes do not fit on the "
            f"{len(pool)} nodes of colour 0"
        )
    rows, cols = np.divmod(pool, side)
    free = np.ones(len(pool), dtype=bool)
    step = side / image_side
    out: list[np.ndarray] = []
    for i in range(image_side):
        for j in range(image_side):
            dr, dc = np.abs(rows - (i + 0.5) * step), np.abs(cols - (j + 0.5) * step)
            if torus:
                dr, dc = np.minimum(dr, side - dr), np.minimum(dc, side - dc)
            dist = np.where(free, dr * dr + dc * dc, np.inf)
            pick = np.argsort(dist, kind="stable")[:group]  # ties go to the lower node
            free[pick] = False
            out.append(pool[pick])
    rest = np.random.default_rng(seed).permutation(pool[free])
    return np.concatenate(out).astype(np.int64), rest[:n_labels].astype(np.int64)


def _groups(graph: Graph, order: np.ndarray, count: int, size: int) -> np.ndarray:
    """``count`` groups of ``size`` distinct nodes of ``order`` (a permutation of colour 0), concatenated: each
    group's first node is the next unused one of ``order``, the others the unused nodes that share the most
    neighbours with it (two hops away; ties go by ``order``)."""
    e = graph.edges
    adj = [[] for _ in range(graph.n)]
    for a, b in e:
        adj[a].append(b)
        adj[b].append(a)
    rank = np.empty(graph.n, dtype=np.int64)
    rank[order] = np.arange(len(order))
    used = np.zeros(graph.n, dtype=bool)
    out: list[int] = []
    pos = 0
    for _ in range(count):
        while used[order[pos]]:
            pos += 1
        anchor = int(order[pos])
        shared = np.bincount([k for h in adj[anchor] for k in adj[h] if k != anchor], minlength=graph.n)
        cand = np.flatnonzero(~used & (graph.colors == 0) & (np.arange(graph.n) != anchor))
        cand = cand[np.lexsort((rank[cand], -shared[cand]))][: size - 1]
        if len(cand) < size - 1:
            raise ValueError(f"{count} groups of {size} nodes do not fit on the {len(order)} nodes of colour 0")
        used[anchor] = True
        used[cand] = True
        out += [anchor, *cand.tolist()]
    return np.array(out, dtype=np.int64)


def label_spins(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Class codes (B, 10 * per_class) int8: +1 on the image's class group, -1 elsewhere."""
    labels = np.asarray(labels, dtype=np.int64)
    code = -np.ones((len(labels), N_CLASSES, per_class), dtype=np.int8)
    code[np.arange(len(labels)), labels] = 1
    return code.reshape(len(labels), -1)


@dataclass(eq=False)
class DTM:
    """A DTM in float: T steps on one graph.

    Attributes
    ----------
    run : RunConfig
        Hardware config, model settings and the trainer settings it was (or will be) trained with.
    graph : Graph
        The graph ``run.config.graph`` describes.
    coupling : ndarray of shape (T, E)
        ``J^t`` per graph edge.
    bias : ndarray of shape (T, N)
        ``b^t`` per node.
    pixel_nodes : ndarray of shape (P * dtm.gray_levels,), int64
        Node of each visible node: pixel-major in row-major pixel order (pixel k's nodes at
        ``k * gray_levels ..``; one per pixel for a binary model).
    label_nodes : ndarray of shape (10 * label_nodes,), int64
        Label nodes, class-major.
    meta : dict
        The JSON metadata (data hash, seeds, metrics) carried along.
    class_bias : ndarray of shape (T, 10, N), optional
        With ``dtm.class_bias``: each class's own bias per step and node, added to ``bias`` when the class
        is folded in (:func:`fold_labels`); 0 at the label nodes. ``None`` otherwise.
    """

    run: RunConfig
    graph: Graph
    coupling: np.ndarray
    bias: np.ndarray
    pixel_nodes: np.ndarray
    label_nodes: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    class_bias: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return self.run.config.schedule.steps

    @property
    def side(self) -> int:
        return self.run.dtm.image_side

    @property
    def input_coupling(self) -> np.ndarray:
        """The fixed ``w_t`` of shape (T,) (not trained: the forward process fixes it)."""
        return input_coupling(self.steps, self.run.dtm.noise_rate)

    @property
    def visible(self) -> np.ndarray:
        """Nodes with an input coupling (the pixels), shape (N,) bool: the hardware's ``visible`` mask."""
        v = np.zeros(self.graph.n, dtype=bool)
        v[self.pixel_nodes] = True
        return v

    @property
    def conditional(self) -> bool:
        return len(self.label_nodes) > 0

    def quantize(self) -> tuple[golden.Banks, dict[str, int]]:
        """The fixed-point banks of the unconditioned model (label nodes as ordinary nodes)."""
        return golden.quantize_banks(self.run.config, self.coupling, self.bias, self.input_coupling, self.visible)


def new_dtm(run: RunConfig) -> DTM:
    """An untrained DTM: placement from ``dtm.placement`` and ``dtm.placement_seed``, couplings ~ N(0,
    init_scale), biases 0."""
    gc = run.config.graph
    graph = build_graph(gc)
    d = run.dtm
    n_labels = N_CLASSES * d.label_nodes
    if d.placement == "grid":
        if gc.kind != "grid":
            raise ValueError(f"dtm.placement = 'grid' needs a grid graph, not graph.kind = {gc.kind!r}")
        pix, lab = place_on_grid(graph, gc.side, gc.torus, d.image_side, n_labels, d.placement_seed, d.gray_levels)
    else:
        pix, lab = place_nodes(graph, d.n_visible, n_labels, d.placement_seed, d.gray_levels)
    r = np.random.default_rng([run.train.seed, 0xD7])
    t = run.config.schedule.steps
    coupling = r.normal(0.0, run.train.init_scale, (t, len(graph.edges)))
    classes = np.zeros((t, N_CLASSES, graph.n)) if d.class_bias else None
    return DTM(run, graph, coupling, np.zeros((t, graph.n)), pix, lab, class_bias=classes)


# ---------------------------------------------------------------------------------------------------------
# conditioning and generation
# ---------------------------------------------------------------------------------------------------------
def fold_labels(model: DTM, t: int, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Couplings (E,) and per-chain biases (B, N) of step ``t`` with the label nodes folded in.

    A label node clamped to ``l_i`` adds ``J_ij l_i`` to each neighbour's bias; its edges are then cut (zero
    coupling), so the label nodes no longer matter and any sampler, float or fixed-point, conditions
    exactly; a model's class bias is added too. Without labels (or an unconditional model) the biases are
    the step's own, shape (1, N).
    """
    j = model.coupling[t - 1].copy()
    h = model.bias[t - 1][None, :].copy()
    if not model.conditional or labels is None:
        return j, h
    lab = label_spins(labels, model.run.dtm.label_nodes).astype(np.float64)
    pos = -np.ones(model.graph.n, dtype=np.int64)
    pos[model.label_nodes] = np.arange(len(model.label_nodes))
    e = model.graph.edges
    h = np.repeat(h, len(lab), axis=0)
    for a, b in ((0, 1), (1, 0)):
        sel = (pos[e[:, a]] >= 0) & (pos[e[:, b]] < 0)
        np.add.at(h.T, e[sel, b], (lab[:, pos[e[sel, a]]] * j[sel]).T)
    if model.class_bias is not None:
        h += model.class_bias[t - 1][np.asarray(labels, dtype=np.int64)]
    cut = (pos[e[:, 0]] >= 0) | (pos[e[:, 1]] >= 0)
    j[cut] = 0.0
    h[:, model.label_nodes] = 0.0
    return j, h


def sweep_betas(model: DTM, sweeps: int | None = None) -> np.ndarray:
    """Beta of each generation sweep: the config's schedule, or its ramp stretched to ``sweeps``. With
    ``dtm.fresh_hidden`` the first sweep runs at beta = 0 (fresh random hidden spins) and the schedule
    fills the other ``sweeps - 1``."""
    sched = model.run.config.schedule
    k = sched.sweeps if sweeps is None else sweeps
    if model.run.dtm.fresh_hidden:
        return np.concatenate([[0.0], _schedule_betas(sched, k - 1)])
    return _schedule_betas(sched, k)


def _schedule_betas(sched: ScheduleConfig, k: int) -> np.ndarray:
    if k == sched.sweeps:
        return np.asarray(sched.beta_per_sweep())
    if len(sched.beta) == 1 or k == 0:
        return np.full(k, sched.beta[0])
    return np.asarray(ScheduleConfig.ramp(sched.beta[0], sched.beta[-1], k))


def sample_spins(
    model: DTM,
    n: int,
    seed: int,
    labels: np.ndarray | None = None,
    sweeps: int | None = None,
    steps_as_one: int = 1,
    parallel: bool | None = None,
    free_labels: bool = False,
    on_step: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Final spins of ``n`` chains of the float reference sampler through all T steps, following the golden
    model's schedule (hidden and label nodes included, for moment comparisons; :func:`generate` keeps the
    pixels).

    Parameters
    ----------
    model : DTM
    n : int
        Number of images (= independent chains).
    seed : int
        Sampler seed: chain ``b`` depends on ``(seed, b)`` only.
    labels : ndarray of shape (n,), optional
        Classes to condition on (conditional models only). ``None`` on a conditional model draws classes
        uniformly from ``seed`` (Fashion-MNIST is balanced), so unconditional samples follow the data mix.
    sweeps : int, optional
        Sweeps per step (default: ``schedule.sweeps``).
    steps_as_one : int
        Multiply the sweeps of every step (the MEBM runs T x K sweeps at equal cost with a T-step DTM).
    free_labels : bool
        Sample the label nodes like hidden ones instead of clamping them: the distribution of the hardware
        loaded with the model's own, unfolded banks (``class_banks(model, cfg, None)``; the power model's
        run and the large-graph moment test), unconditional by marginalising the class.
    on_step : callable, optional
        Called as ``on_step(t, spins)`` after step ``t`` (T first), with the chains' spins (n, N) int8: the
        images on their way (:mod:`pbitgen.trainer.drift`).

    Returns
    -------
    ndarray of shape (n, N), int8 in {-1, +1}
    """
    from pbitgen.model.gibbs import GibbsSampler  # numba: imported when sampling

    if free_labels:
        labels = None
    elif model.conditional and labels is None:
        labels = np.random.default_rng([seed, 0x1AB]).integers(0, N_CLASSES, n)
    betas = np.repeat(sweep_betas(model, sweeps), steps_as_one) if steps_as_one > 1 else sweep_betas(model, sweeps)
    sampler = GibbsSampler(model.graph, n, seed, parallel=parallel)
    for t in range(model.steps, 0, -1):
        denoise_step(model, sampler, t, labels, betas)
        if on_step is not None:
            on_step(t, np.asarray(sampler.spins, dtype=np.int8))
    return np.asarray(sampler.spins, dtype=np.int8)


def denoise_step(model: DTM, sampler, t: int, labels: np.ndarray | None, betas: np.ndarray) -> None:
    """Step ``t`` on a :class:`~pbitgen.model.gibbs.GibbsSampler`'s chains: latch ``x^t`` (the visible
    spins now), then one sweep per entry of ``betas``; the visible spins are then ``x^{t-1}``.

    The field is the golden model's: ``beta (b + J s) + w_t x^t`` (the input added after beta, so it acts
    in full even at beta = 0), or ``beta (b + J s + w_t x^t)`` when ``schedule.beta_scales_input`` is set.
    Where every beta is 1 the two agree and the input joins the bias (the form training uses).
    """
    j, h = fold_labels(model, t, labels)
    pix = model.pixel_nodes
    iota = np.zeros((sampler.n_chains, model.graph.n))
    iota[:, pix] = model.input_coupling[t - 1] * sampler.spins[:, pix]
    betas = np.asarray(betas, dtype=np.float64)
    if model.run.config.schedule.beta_scales_input or (betas == 1.0).all():
        sampler.run(j, h + iota, betas, len(betas))
    else:
        sampler.run(j, h[0] if len(h) == 1 else h, betas, len(betas), h_input=iota)


def decode(model: DTM, visible: np.ndarray) -> np.ndarray:
    """Visible spins (n, n_visible), pixel-major, as images (n, side, side) uint8: each pixel's level, the
    count of its +1 nodes (0..``dtm.gray_levels``; {0, 1} for a binary model)."""
    v = np.asarray(visible) > 0
    return v.reshape(len(v), model.side, model.side, model.run.dtm.gray_levels).sum(axis=3, dtype=np.uint8)


def generate(model: DTM, n: int, seed: int, **kw) -> np.ndarray:
    """Generate ``n`` images with the float reference sampler: :func:`sample_spins`' pixels, shape
    (n, side, side), uint8 levels (:func:`decode`)."""
    return decode(model, sample_spins(model, n, seed, **kw)[:, model.pixel_nodes])


def class_banks(
    model: DTM, cfg: Config, labels: np.ndarray | None
) -> list[tuple[np.ndarray | None, golden.Banks, dict[str, int]]]:
    """The hardware's banks per class group: ``(image indices, banks, saturation counts)``. One group with
    indices ``None`` (every image) for an unconditional model or ``labels=None`` (label nodes free), else one
    per class present with the class folded into the biases (:func:`fold_labels`): the host conditions the
    array by what it loads; the array itself is unchanged."""
    classes = [None] if not model.conditional or labels is None else range(N_CLASSES)
    out = []
    for c in classes:
        idx = None if c is None else np.flatnonzero(labels == c)
        if idx is not None and len(idx) == 0:
            continue
        folded = [fold_labels(model, t, None if c is None else np.array([c])) for t in range(1, model.steps + 1)]
        banks, sat = golden.quantize_banks(
            cfg, np.array([j for j, _ in folded]), np.array([h[0] for _, h in folded]), model.input_coupling,
            model.visible,
        )  # fmt: skip
        out.append((idx, banks, sat))
    return out


def generate_golden(
    model: DTM, n: int, seed: int, labels: np.ndarray | None = None, sweeps: int | None = None
) -> tuple[np.ndarray, dict[str, int]]:
    """Generate ``n`` images with the bit-exact golden model of the hardware (fixed-point banks, its random
    generators seeded from ``seed``). Classes are folded into the biases per class group. Returns the
    images (n, side, side) uint8 and the quantizer's saturation counts."""
    cfg = model.run.config
    k = cfg.schedule.sweeps if sweeps is None else sweeps
    cfg = cfg.replace(rng={"seed": seed}, schedule={"sweeps": k, "beta": tuple(sweep_betas(model, k))})
    if model.conditional and labels is None:
        labels = np.random.default_rng([seed, 0x1AB]).integers(0, N_CLASSES, n)
    out = np.zeros((n, model.run.dtm.n_visible), dtype=np.int8)
    sat_total: dict[str, int] = {}
    first = 0
    for idx, banks, sat in class_banks(model, cfg, labels if model.conditional else None):
        idx = np.arange(n) if idx is None else idx
        for key, v in sat.items():
            sat_total[key] = sat_total.get(key, 0) + v
        res = golden.GoldenArray(cfg, banks, graph=model.graph).run(chains=len(idx), first_chain=first)
        first += len(idx)
        out[idx] = res.spins[:, model.pixel_nodes]
    return decode(model, out), sat_total


# ---------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------
def save_dtm(folder: str | Path, model: DTM) -> None:
    """Write ``model.json`` and ``model.npz`` into ``folder`` (atomically, each)."""
    folder = Path(folder)
    banks, sat = model.quantize()
    meta = dict(model.meta)
    meta.update(
        {
            "format": FORMAT,
            "version": VERSION,
            "run": model.run.to_dict(),
            "graph": {
                "describe": model.run.config.graph.describe(),
                "jumps": [list(j) for j in model.run.config.graph.jump_list],
                "nodes": model.graph.n,
                "edges": len(model.graph.edges),
            },
            "placement": {
                "kind": model.run.dtm.placement,
                "seed": model.run.dtm.placement_seed,
                "colour": 0,
                "pixels": model.run.dtm.n_pixels,
                "label_nodes": len(model.label_nodes),
            },
            "formats": {k: getattr(model.run.config.formats, k).describe() for k in ("coupling", "bias", "input")},
            "saturated": sat,
        }
    )
    save_npz(
        folder / "model.npz",
        coupling=model.coupling,
        bias=model.bias,
        input_coupling=model.input_coupling,
        pixel_nodes=model.pixel_nodes,
        label_nodes=model.label_nodes,
        edges=model.graph.edges,
        banks_coupling=banks.coupling,
        banks_bias=banks.bias,
        banks_input=banks.input,
        banks_visible=banks.visible,
        banks_beta=banks.beta,
        **({"class_bias": model.class_bias} if model.class_bias is not None else {}),
    )
    save_text(folder / "model.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _err(path: Path, key: str, msg: str) -> PbitgenError:
    return PbitgenError(f"{path}: field '{key}' {msg}")


def _arr(path: Path, a: dict[str, np.ndarray], key: str, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    v = a[key]
    ok = {
        "int": np.issubdtype(v.dtype, np.integer),
        "float": np.issubdtype(v.dtype, np.floating),
        "bool": v.dtype == bool,
    }[kind]
    if not ok:
        raise _err(path, key, f"must hold {kind} values, not {v.dtype}")
    if v.shape != shape:
        raise _err(path, key, f"must have shape {shape}, not {v.shape}")
    if kind == "float" and not np.isfinite(v).all():
        raise _err(path, key, f"must be finite, but holds {np.count_nonzero(~np.isfinite(v))} NaN/inf values")
    return v


def load_dtm(folder: str | Path) -> DTM:
    """Load and validate a model folder; any problem is one line naming the file and the field."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PbitgenError(f"{folder}: no such model folder (expected model.json and model.npz)")
    jpath, npath = folder / "model.json", folder / "model.npz"
    try:
        meta = json.loads(jpath.read_text())
    except FileNotFoundError:
        raise PbitgenError(f"{jpath}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PbitgenError(f"{jpath}: not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise PbitgenError(f"{jpath}: must hold a JSON object, not {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise _err(jpath, "format", f"must be {FORMAT!r}, not {meta.get('format')!r}")
    if isinstance(meta.get("version"), bool) or meta.get("version") != VERSION:  # True == 1 in Python
        raise _err(jpath, "version", f"must be {VERSION}, not {meta.get('version')!r}")
    if "run" not in meta:
        raise _err(jpath, "run", "is missing")
    if not isinstance(meta["run"], dict):
        raise _err(jpath, "run", f"must be an object of config sections, not {type(meta['run']).__name__}")
    try:
        run = RunConfig.from_dict(meta["run"])
    except (TypeError, ValueError) as e:
        key, _, rest = str(e).partition(" ")
        raise _err(jpath, f"run.{key}", rest) from None
    graph = build_graph(run.config.graph)
    t, n, e = run.config.schedule.steps, graph.n, len(graph.edges)
    a = read_npz(npath, (*ARRAY_KEYS, *(("class_bias",) if run.dtm.class_bias else ())))
    edges = _arr(npath, a, "edges", "int", (e, 2))
    if not np.array_equal(edges, graph.edges):
        raise _err(npath, "edges", f"does not match the graph of the config ({run.config.graph.describe()})")
    coupling = _arr(npath, a, "coupling", "float", (t, e)).astype(np.float64)
    bias = _arr(npath, a, "bias", "float", (t, n)).astype(np.float64)
    w = _arr(npath, a, "input_coupling", "float", (t,))
    if not np.allclose(w, input_coupling(t, run.dtm.noise_rate), rtol=1e-12, atol=1e-12):
        raise _err(npath, "input_coupling", f"does not match the forward process (rate {run.dtm.noise_rate}, T={t})")
    pix = _arr(npath, a, "pixel_nodes", "int", (run.dtm.n_visible,)).astype(np.int64)
    lab = _arr(npath, a, "label_nodes", "int", (N_CLASSES * run.dtm.label_nodes,)).astype(np.int64)
    both = np.concatenate([pix, lab])
    if len(both) and (both.min() < 0 or both.max() >= n):
        raise _err(npath, "pixel_nodes", f"must hold node indices in [0, {n})")
    if len(np.unique(both)) != len(both):
        raise _err(npath, "pixel_nodes", "and label_nodes must be distinct nodes")
    if (graph.colors[both] != 0).any():
        raise _err(npath, "pixel_nodes", "must all lie on colour 0")
    classes = None
    if run.dtm.class_bias:
        classes = _arr(npath, a, "class_bias", "float", (t, N_CLASSES, n)).astype(np.float64)
    model = DTM(run, graph, coupling, bias, pix, lab, meta, classes)
    banks, _ = model.quantize()
    for key in ("coupling", "bias", "input", "visible", "beta"):
        ref = getattr(banks, key)
        got = _arr(npath, a, f"banks_{key}", "bool" if key == "visible" else "int", ref.shape)
        if not np.array_equal(got, ref):
            raise _err(npath, f"banks_{key}", "does not match the quantized float weights and formats")
    return model
