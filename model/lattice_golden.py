r"""The bit-exact golden model of the lattice array (:mod:`pbitgen.gen.lattice`).

The contract
------------
Everything not named here is :mod:`pbitgen.model.golden`'s contract: the same banks (:class:`Banks`), the
same field ``gamma = h + sum_j s_j J_ij`` and input term, the same ``z = round(beta (gamma [+ iota]))
[+ iota]`` and probability ``p = lut[clip(z) + offset]``, the same steps, sweeps and x^t latch. What the
lattice array changes:

1. Order and chains (:mod:`pbitgen.model.lattice`): ``C`` chains per array in two groups, each chain
   updating colour 0 then colour 1 in every sweep, as the float reference sampler does (a chain run for a
   finite number of sweeps samples a law that depends on the colour order, which the stationary law does
   not show); group 1 runs one phase behind group 0. Updates of one colour of one chain read only the
   other colour, so their order inside a phase does not matter.
2. Random bits: unit ``u`` of array ``b`` owns :mod:`pbitgen.model.lfsr` stream ``b U + u`` (loaded at
   reset, or through the bus's generator loads) and spends one draw per update, in issue order: per sweep,
   the elements ``e = s n + j`` (slot ``s``, the group's ``j``-th chain) of group 0 ascending, then those
   of group 1. The initial spin of an element is
   the top bit of its draw; an update sets +1 iff ``u < p``.
3. Stored forms (the hardware's, equal in value): the bias word holds ``h' = h - sum_j J_ij`` so that the
   field is ``h' + 2 sum_j b_j J_ij`` with spin bits ``b_j`` (no negation); the sigmoid table is indexed by
   ``q = floor(beta gamma / 2^(fb-1))`` (``+ 2 iota`` when beta does not scale the input), clipped to
   ``[-2 o - 1, 2 o - 2]`` with ``o = lut_range 2^F`` the generic table's offset, holding
   ``lut[clip(floor((q + 1) / 2)) + o]``:
   :func:`folded_table` and :func:`folded_index`, equal to the rule above for every field and beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbitgen.config import Config

from . import fixed
from .golden import Banks
from .lattice import LatticePlan
from .lfsr import Streams


def folded_table(cfg: Config) -> np.ndarray:
    """The lattice array's sigmoid table: rounding and clamping folded into twice the entries."""
    off = fixed.lut_offset(cfg)
    q = np.arange(4 * off) - 2 * off - 1
    return fixed.sigmoid_table(cfg)[fixed.lut_index((q + 1) >> 1, cfg)]


def folded_index(gamma: np.ndarray, iota: np.ndarray, beta_q: int | np.ndarray, cfg: Config) -> np.ndarray:
    """Index into :func:`folded_table` of a field ``gamma`` and input term ``iota`` (field units)."""
    fb = cfg.formats.beta.frac
    off = fixed.lut_offset(cfg)
    scaled = np.asarray(gamma, np.int64) + (iota if cfg.schedule.beta_scales_input else 0)
    prod = scaled * np.asarray(beta_q, np.int64)
    q = (prod >> (fb - 1)) if fb else prod << 1
    if not cfg.schedule.beta_scales_input:
        q = q + 2 * np.asarray(iota, np.int64)
    return np.clip(q, -2 * off - 1, 2 * off - 2) + 2 * off + 1


def stored_bias(cfg: Config, banks: Banks, plan: LatticePlan) -> np.ndarray:
    """``h' = h - sum_j J_ij`` per step and cell, in field units, as the lattice bias words hold it."""
    j = fixed.align(banks.coupling, cfg.formats.coupling, cfg)  # (T, E)
    h = fixed.align(banks.bias, cfg.formats.bias, cfg)  # (T, N)
    return h - j[:, plan.edge].sum(axis=2)


def stored_bias_width(cfg: Config, degree: int) -> int:
    """Signed bits that hold any ``h'`` the formats admit at this degree (bias and couplings at their
    extremes, aligned to the field's fraction bits)."""
    f, ff = cfg.formats, cfg.field_frac
    h_lo, h_hi = f.bias.min_int << (ff - f.bias.frac), f.bias.max_int << (ff - f.bias.frac)
    j_lo, j_hi = f.coupling.min_int << (ff - f.coupling.frac), f.coupling.max_int << (ff - f.coupling.frac)
    lo, hi = h_lo - degree * j_hi, h_hi - degree * j_lo
    return max(hi.bit_length(), (-lo - 1).bit_length()) + 1


@dataclass(frozen=True, eq=False)
class LatticeRun:
    """What a run produced (``A`` arrays of ``C`` chains each).

    Attributes
    ----------
    spins : ndarray of shape (A, C, N), int8
        Final spins (+-1).
    inputs : ndarray of shape (T, A, C, N), bool
        x^t latched at the start of each step (row 0 is step T); False where not visible.
    init : ndarray of shape (A, C, N), bool
        The initial-noise spins.
    trace : ndarray of shape (T, K, A, C, N), bool or None
        Spins after every sweep, when recorded.
    """

    spins: np.ndarray
    inputs: np.ndarray
    init: np.ndarray
    trace: np.ndarray | None


class LatticeGolden:
    """The lattice array's twin for one config and one set of banks."""

    def __init__(self, cfg: Config, banks: Banks, plan: LatticePlan | None = None) -> None:
        self.cfg = cfg
        self.plan = LatticePlan(cfg) if plan is None else plan
        banks.check(cfg, self.plan.graph)
        self.banks = banks
        self.lut = fixed.sigmoid_table(cfg)
        f = cfg.formats
        self._j = fixed.align(banks.coupling, f.coupling, cfg)
        self._h = fixed.align(banks.bias, f.bias, cfg)
        self._w = fixed.align(banks.input, f.input, cfg)
        p = self.plan
        # per colour: its units (in unit order), and per cell of that colour its unit's index in that list
        self._colour = []
        for c in (0, 1):
            units = np.flatnonzero(p.unit_color == c)
            cells = p.cells[units].ravel()  # unit-major, slot-minor
            local = np.repeat(np.arange(len(units)), p.slots)
            slots = np.tile(np.arange(p.slots), len(units))
            self._colour.append((units, cells, local, slots))

    def streams(self, arrays: int, first_array: int = 0) -> Streams:
        u = self.plan.n_units
        ids = (first_array + np.arange(arrays))[:, None] * u + np.arange(u)[None, :]
        return Streams.seeded(self.cfg.rng.seed, ids, self.cfg.rng.draw_bits)

    def run(self, arrays: int = 1, first_array: int = 0, record: bool = False) -> LatticeRun:
        """Run the whole schedule on ``arrays`` independent arrays."""
        cfg, p = self.cfg, self.plan
        t_steps, k_sweeps = cfg.schedule.steps, cfg.schedule.sweeps
        n_cells, chains = p.graph.n, p.chains
        bits = cfg.rng.draw_bits
        gen = self.streams(arrays, first_array)
        s = np.zeros((arrays, chains, n_cells), dtype=np.int64)
        for h in (0, 1):  # INIT: every unit draws the noise spins of the group it serves in each phase
            for c in (0, 1):
                group = p.groups[(c + h) % 2]
                if not group:
                    continue
                units, cells, local, slots = self._colour[c]
                draws = gen.take(p.issue_clocks, (slice(None), units))  # (A, U_c, n M)
                e = slots[None, :] * p.per_group + np.arange(len(group))[:, None]  # (n, cells)
                u = draws[:, local[None, :], e]
                s[:, group[0] : group[-1] + 1][:, :, cells] = np.where(u >> (bits - 1), 1, -1)
        init = s > 0
        vis = self.banks.visible
        inputs = np.zeros((t_steps, arrays, chains, n_cells), dtype=bool)
        trace = np.zeros((t_steps, k_sweeps, arrays, chains, n_cells), dtype=bool) if record else None
        for row, t in enumerate(range(t_steps, 0, -1)):
            bank = t - 1
            x = np.where(vis, s, 0)
            inputs[row] = x > 0
            iota_all = x * self._w[bank]
            for k in range(k_sweeps):
                beta_q = int(self.banks.beta[k])
                for group in p.groups:  # every chain: colour 0, then colour 1
                    for c in (0, 1):
                        if group:
                            self._update(s, iota_all, gen, bank, beta_q, c, group)
                if record:
                    trace[row, k] = s > 0
        return LatticeRun(s.astype(np.int8), inputs, init, trace)

    def _update(
        self, s: np.ndarray, iota_all: np.ndarray, gen: Streams, bank: int, beta_q: int, c: int, group: tuple
    ) -> None:
        """One phase of colour ``c`` units on the chains of ``group`` (in place)."""
        cfg, p = self.cfg, self.plan
        units, cells, local, slots = self._colour[c]
        ch = slice(group[0], group[-1] + 1)
        sg = s[:, ch]  # (A, n, N)
        jw = self._j[bank][p.edge[cells]]  # (cells, D)
        gamma = self._h[bank][cells] + np.einsum("agcd,cd->agc", sg[:, :, p.nbr[cells]], jw)
        iota = iota_all[:, ch][:, :, cells]
        if cfg.schedule.beta_scales_input:
            z = fixed.scale_by_beta(gamma + iota, beta_q, cfg)
        else:
            z = fixed.scale_by_beta(gamma, beta_q, cfg) + iota
        prob = self.lut[fixed.lut_index(z, cfg)]
        draws = gen.take(p.issue_clocks, (slice(None), units))
        e = slots[None, :] * p.per_group + np.arange(len(group))[:, None]
        u = draws[:, local[None, :], e]
        sg[:, :, cells] = np.where(u < prob, 1, -1)  # sg is a view of s
