r"""The bit-exact golden model of the sampling array: what the hardware does, spin for spin.

It reads the same :class:`~pbitgen.config.Config` as the generator and the integer banks the hardware
loads (:class:`Banks`), and predicts every spin bit of every sweep. Several chains are independent copies
of the array, each with its own random streams.

The contract (the generator implements exactly this)
-----------------------------------------------------
Notation: ``N`` cells (one per graph node), colours ``0..C-1`` (``cfg.graph``'s colouring), ``T`` steps,
``K`` sweeps per step, bank ``t - 1`` holds step ``t``'s couplings ``J``, biases ``h`` and input coupling
``w``; ``visible`` marks the cells with an input (the pixels of a DTM). All arithmetic is
:mod:`pbitgen.model.fixed`.

1. Seeding: cell ``i`` of chain ``c`` loads generator state ``stream_states(cfg.rng, c * N + i)``
   (:mod:`pbitgen.model.rng`).
2. Initial spins: every cell advances its generator once and sets its spin to the top bit of the draw
   (``u >= 2^(P-1)`` means +1): uniform noise, so ``x^T`` is a fair coin per pixel.
3. For ``t = T, T-1, ..., 1`` (bank ``t - 1``):

   a. the input register latches the visible spins: ``x^t_i = s_i`` for visible ``i``;
   b. for sweep ``k = 0..K-1`` with ``beta_q = banks.beta[k]``, for colour ``c = 0..C-1``, every cell of
      colour ``c`` at once (reading only spins of other colours, so the order inside a colour does not
      matter and the result does not depend on how many update units the array has):

      - ``gamma = h_i + sum_j (s_j ? +J_ij : -J_ij)`` (aligned to the field format),
      - ``iota = visible_i ? (x^t_i ? +w : -w) : 0``,
      - ``z = round(beta * (gamma + iota))`` if ``cfg.schedule.beta_scales_input``, else
        ``z = round(beta * gamma) + iota``,
      - the cell advances its generator once and draws ``u`` (top ``P`` bits),
      - ``s_i = +1`` iff ``u < lut[clip(z) + offset]``.

4. After step 1 the visible spins are the generated sample ``x^0``.

Every cell advances its generator exactly once per sweep (plus once at initialisation), so after ``T``
steps of ``K`` sweeps each generator has made ``1 + T K`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbitgen.config import Config

from . import fixed, rng
from .beta import quantize_beta
from .graph import Graph, build_graph


@dataclass(frozen=True, eq=False)
class Banks:
    """The integers the hardware's memories hold.

    Attributes
    ----------
    coupling : ndarray of shape (T, E), int64
        Coupling of each graph edge per step, in ``cfg.formats.coupling``.
    bias : ndarray of shape (T, N), int64
        Bias of each cell per step, in ``cfg.formats.bias``.
    input : ndarray of shape (T,), int64
        Input coupling w_t per step, in ``cfg.formats.input``.
    visible : ndarray of shape (N,), bool
        Cells that carry an input coupling to x^t.
    beta : ndarray of shape (K,), int64
        Beta of each sweep, in ``cfg.formats.beta``.
    """

    coupling: np.ndarray
    bias: np.ndarray
    input: np.ndarray
    visible: np.ndarray
    beta: np.ndarray

    def check(self, cfg: Config, graph: Graph) -> None:
        """Refuse banks whose shapes or ranges do not fit the config (names the field)."""
        t, k, n, e = cfg.schedule.steps, cfg.schedule.sweeps, graph.n, len(graph.edges)
        f = cfg.formats
        for name, shape, fmt in (
            ("coupling", (t, e), f.coupling),
            ("bias", (t, n), f.bias),
            ("input", (t,), f.input),
            ("beta", (k,), f.beta),
        ):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.shape != shape or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"banks.{name} must be integers of shape {shape}, not {_desc(a)}")
            if a.size and (a.min() < fmt.min_int or a.max() > fmt.max_int):
                raise ValueError(
                    f"banks.{name} must lie in [{fmt.min_int}, {fmt.max_int}] ({fmt.describe()}), "
                    f"not [{int(a.min())}, {int(a.max())}]"
                )
        if not isinstance(self.visible, np.ndarray) or self.visible.shape != (n,) or self.visible.dtype != bool:
            raise ValueError(f"banks.visible must be booleans of shape ({n},), not {_desc(self.visible)}")


def _desc(a: object) -> str:
    return f"{a.dtype} of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__


def quantize_banks(
    cfg: Config,
    coupling: np.ndarray,
    bias: np.ndarray,
    input_coupling: np.ndarray | float = 0.0,
    visible: np.ndarray | None = None,
) -> tuple[Banks, dict[str, int]]:
    """Quantize float weights into banks with the config's formats.

    ``coupling`` is (E,) or (T, E), ``bias`` (N,) or (T, N), ``input_coupling`` scalar or (T,); a single
    set is repeated for every step. Beta comes from ``cfg.schedule``. Returns the banks and the number of
    saturated values per field.
    """
    t, f = cfg.schedule.steps, cfg.formats
    j = np.broadcast_to(np.asarray(coupling, float), (t, np.shape(coupling)[-1]))
    h = np.broadcast_to(np.asarray(bias, float), (t, np.shape(bias)[-1]))
    w = np.broadcast_to(np.asarray(input_coupling, float), (t,))
    qj, qh, qw = fixed.quantize(j, f.coupling), fixed.quantize(h, f.bias), fixed.quantize(w, f.input)
    qb = quantize_beta(cfg)
    vis = np.zeros(h.shape[1], bool) if visible is None else np.asarray(visible, bool)
    banks = Banks(qj.ints, qh.ints, qw.ints, vis, qb.ints)
    report = {"coupling": qj.saturated, "bias": qh.saturated, "input": qw.saturated, "beta": qb.saturated}
    return banks, report


@dataclass(frozen=True, eq=False)
class GoldenRun:
    """What a run produced.

    Attributes
    ----------
    spins : ndarray of shape (B, N), int8
        Final spins (+-1) of every chain.
    inputs : ndarray of shape (T, B, N), bool
        The input register x^t latched at the start of each step (row 0 is step T); False where not visible.
    trace : ndarray of shape (T, K, B, N), bool or None
        Spin bits (True = +1) after every sweep, when recorded; row 0 is step T.
    state : ndarray of shape (B, N)
        Final generator states.
    """

    spins: np.ndarray
    inputs: np.ndarray
    trace: np.ndarray | None
    state: np.ndarray


class GoldenArray:
    """The array's twin for one config and one set of banks."""

    def __init__(self, cfg: Config, banks: Banks, graph: Graph | None = None) -> None:
        cfg.require_generic("GoldenArray (the lattice layout's twin is pbitgen.model.lattice_golden)")
        self.cfg = cfg
        self.graph = build_graph(cfg.graph) if graph is None else graph
        if self.graph.n != cfg.n_nodes:
            raise ValueError(f"graph has {self.graph.n} nodes but the config describes {cfg.n_nodes}")
        banks.check(cfg, self.graph)
        self.banks = banks
        self.lut = fixed.sigmoid_table(cfg)
        f = cfg.formats
        self._j = fixed.align(banks.coupling, f.coupling, cfg)  # (T, E) in field units
        self._h = fixed.align(banks.bias, f.bias, cfg)  # (T, N)
        self._w = fixed.align(banks.input, f.input, cfg)  # (T,)
        nbr, eid, mask = self.graph.padded_neighbors()
        self._blocks = []
        for nodes in self.graph.color_blocks():
            self._blocks.append((nodes, nbr[nodes], eid[nodes], mask[nodes]))

    def initial_state(self, chains: int, first_chain: int = 0) -> np.ndarray:
        """Generator states of chains ``first_chain .. first_chain + chains - 1``, shape (B, N)."""
        n = self.graph.n
        ids = rng.stream_id(np.arange(first_chain, first_chain + chains)[:, None], np.arange(n)[None, :], n)
        return rng.stream_states(self.cfg.rng, ids)

    def run(self, chains: int = 1, first_chain: int = 0, record: bool = False) -> GoldenRun:
        """Run the whole schedule (T steps of K sweeps) on ``chains`` independent arrays."""
        cfg, width, p_bits = self.cfg, self.cfg.rng.state_width, self.cfg.rng.draw_bits
        t_steps, k_sweeps = cfg.schedule.steps, cfg.schedule.sweeps
        state = self.initial_state(chains, first_chain)
        state = rng.step(state, width)
        s = np.where(rng.draw(state, width, p_bits) >= 1 << (p_bits - 1), 1, -1).astype(np.int64)
        vis = self.banks.visible
        inputs = np.zeros((t_steps, chains, self.graph.n), dtype=bool)
        trace = np.zeros((t_steps, k_sweeps, chains, self.graph.n), dtype=bool) if record else None
        scales_input = cfg.schedule.beta_scales_input
        for row, t in enumerate(range(t_steps, 0, -1)):
            bank = t - 1
            x = np.where(vis[None, :], s, 0)  # +-1 on visible cells, 0 elsewhere
            inputs[row] = x > 0
            iota_all = x * self._w[bank]
            for k in range(k_sweeps):
                beta_q = int(self.banks.beta[k])
                for nodes, nbr, eid, mask in self._blocks:
                    jw = np.where(mask, self._j[bank][eid], 0)  # (n_c, d)
                    gamma = self._h[bank][nodes] + np.einsum("bnd,nd->bn", s[:, nbr], jw)
                    iota = iota_all[:, nodes]
                    if scales_input:
                        z = fixed.scale_by_beta(gamma + iota, beta_q, cfg)
                    else:
                        z = fixed.scale_by_beta(gamma, beta_q, cfg) + iota
                    p = self.lut[fixed.lut_index(z, cfg)]
                    st = rng.step(state[:, nodes], width)
                    state[:, nodes] = st
                    s[:, nodes] = np.where(rng.draw(st, width, p_bits) < p, 1, -1)
                if record:
                    trace[row, k] = s > 0
        return GoldenRun(s.astype(np.int8), inputs, trace, state)


def random_banks(cfg: Config, graph: Graph, seed: int, visible_fraction: float = 0.25) -> Banks:
    """Random float weights quantized with the config's formats (J ~ N(0, 0.5), h ~ N(0, 0.3), w_t ~ U(0.2,
    1.5), a random ``visible_fraction`` of the cells input-coupled): for designs and tests without a model."""
    r = np.random.default_rng(seed)
    t = cfg.schedule.steps
    banks, _ = quantize_banks(
        cfg,
        r.normal(0.0, 0.5, (t, len(graph.edges))),
        r.normal(0.0, 0.3, (t, graph.n)),
        r.uniform(0.2, 1.5, t),
        r.random(graph.n) < visible_fraction,
    )
    return banks
