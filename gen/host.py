"""The host's side of the array's bus: where each cell's words live and the AXI4-Lite writes that load a
model, reseed a chain and start a run.

Why one module: the cocotb bench (:mod:`pbitgen.sim.test_array`), the plain Verilator C++ harness
(:mod:`pbitgen.sim.harness`), the generator's ``load.npz`` and the Amaranth-simulation tests all drive the
same bus. Each building its own sequence meant that a layout change (a word's address, a run-time schedule
write) had to be made in every one of them, and a bench that missed it would disagree with the golden
model for reasons that are not the hardware's. Register offsets come from the
:class:`~pbitgen.gen.regmap.RegMap`; this module maps cells, banks and chains onto its windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbitgen.config import Config, ceil_log2
from pbitgen.model import lfsr
from pbitgen.model.beta import quantize_beta
from pbitgen.model.golden import Banks, GoldenArray
from pbitgen.model.lattice import LatticePlan
from pbitgen.model.lattice_golden import LatticeGolden

from .image import cell_words, seeds
from .lattice import load_writes as lattice_load_writes
from .lattice import visible_words
from .plan import ArrayPlan
from .regmap import RegMap, build_lattice_regmap, build_regmap, lattice_fields

Writes = list[tuple[int, int]]


def _u32(v: int) -> int:
    return int(v) & 0xFFFFFFFF


def weight_address(plan: ArrayPlan, regmap: RegMap, cell: int, bank: int) -> int:
    """Byte address of cell ``cell``'s bias word in bank ``bank``; its coupling words follow it."""
    record = (int(plan.unit_of[cell]) * plan.slots + int(plan.slot_of[cell])) * plan.banks + bank
    return regmap["WEIGHTS"].offset + 4 * record * plan.weight_words


def seed_address(plan: ArrayPlan, regmap: RegMap, cell: int) -> int:
    """Byte address of the low word of cell ``cell``'s generator state; a 64-bit state's high word follows."""
    return regmap["SEEDS"].offset + 8 * (int(plan.unit_of[cell]) * plan.slots + int(plan.slot_of[cell]))


def bus_writes(cfg: Config, plan: ArrayPlan, regmap: RegMap, banks: Banks, chain: int = 0) -> Writes:
    """Every (byte address, 32-bit word) the host writes to load ``banks`` and chain ``chain``'s seeds."""
    bias, coupling = cell_words(cfg, plan, banks)
    per, cw = plan.couplings_per_word, cfg.formats.coupling.width
    mask = (1 << cw) - 1
    state = seed_writes(cfg, plan, regmap, chain)
    per_cell = len(state) // plan.graph.n
    out = []
    for cell in range(plan.graph.n):
        for bank in range(cfg.schedule.steps):
            addr = weight_address(plan, regmap, cell, bank)
            out.append((addr, _u32(bias[bank, cell])))
            for k in range(0, plan.degree, per):  # `per` couplings per word, slot k + j in bits cw j
                packed = sum((int(c) & mask) << (cw * j) for j, c in enumerate(coupling[bank, cell, k : k + per]))
                out.append((addr + 4 * (1 + k // per), packed))
        out += state[per_cell * cell : per_cell * (cell + 1)]
    for k, b in enumerate(banks.beta.tolist()):
        out.append((regmap["BETA"].offset + 4 * k, _u32(b)))
    for k, w in enumerate(banks.input.tolist()):
        out.append((regmap["INPUT"].offset + 4 * k, _u32(w)))
    vis = banks.visible
    for w in range(-(-plan.graph.n // 32)):
        bits = sum(1 << i for i in range(32) if 32 * w + i < len(vis) and vis[32 * w + i])
        out.append((regmap["VISIBLE"].offset + 4 * w, bits))
    return out


def seed_writes(cfg: Config, plan: ArrayPlan, regmap: RegMap, chain: int) -> Writes:
    """The writes of chain ``chain``'s generator seeds alone: what changes between images on one load."""
    state = seeds(cfg, plan, chain)
    out = []
    for cell in range(plan.graph.n):
        s, addr = int(state[cell]), seed_address(plan, regmap, cell)
        out.append((addr, s & 0xFFFFFFFF))
        if cfg.rng.state_width == 64:
            out.append((addr + 4, s >> 32))
    return out


def schedule_writes(regmap: RegMap, run: Config) -> Writes:
    """The run-time schedule of ``run``: its steps, sweeps and beta of each sweep (no rebuild needed)."""
    beta = quantize_beta(run).ints.tolist()
    return [
        (regmap["STEPS"].offset, run.schedule.steps),
        (regmap["SWEEPS"].offset, run.schedule.sweeps),
        *((regmap["BETA"].offset + 4 * k, _u32(b)) for k, b in enumerate(beta)),
    ]


def load_writes(cfg: Config, plan: ArrayPlan, regmap: RegMap, banks: Banks, run: Config, chain: int) -> Writes:
    """The whole load before a run of ``run``'s schedule on a design built for ``cfg``: ``banks``, chain
    ``chain``'s seeds, then the schedule (whose beta replaces the banks')."""
    return bus_writes(cfg, plan, regmap, banks, chain) + schedule_writes(regmap, run)


def start_word(regmap: RegMap, trace: bool) -> int:
    """The ``CTRL`` word that starts a run, streaming every sweep's spins when ``trace``."""
    wanted = {"start", "trace"} if trace else {"start"}
    return sum(1 << f.lsb for f in regmap["CTRL"].fields if f.name in wanted)


def unpack_spins(words: list[int], n: int) -> np.ndarray:
    """Spin words read from SPINS or the trace stream -> (n,) bool (True = +1)."""
    bits = [(int(words[i // 32]) >> (i % 32)) & 1 for i in range(n)]
    return np.array(bits, dtype=bool)


# ---- the lattice array ---------------------------------------------------------------------------------


def lattice_weight_address(cfg: Config, plan: LatticePlan, regmap: RegMap, unit: int, addr: int, lane: int) -> int:
    """Byte address of lane ``lane`` of word ``addr`` (bank, then slot) of unit ``unit``'s weight memory."""
    bits = lattice_fields(cfg, plan)
    return regmap["WEIGHTS"].offset + 4 * ((unit << bits["addr"] + bits["lane"]) | (addr << bits["lane"]) | lane)


def lattice_weight_writes(cfg: Config, plan: LatticePlan, regmap: RegMap, banks: Banks) -> Writes:
    """The writes that put ``banks`` (stored bias and couplings) into every unit's weight words (the padding
    words of the memories, beyond the slots or the banks, are left alone)."""
    sw = ceil_log2(plan.slots)
    return [
        (lattice_weight_address(cfg, plan, regmap, unit, addr, lane), data)
        for unit, addr, lane, data in lattice_load_writes(cfg, plan, banks)
        if addr % (1 << sw) < plan.slots and addr >> sw < cfg.schedule.steps
    ]


def lattice_visible_writes(plan: LatticePlan, regmap: RegMap, visible: np.ndarray) -> Writes:
    """The writes of every unit's visible flags (:func:`~pbitgen.gen.lattice.visible_words`)."""
    vb = lattice_fields(plan.cfg, plan)["vis"]
    base = regmap["VISIBLE"].offset
    return [(base + 4 * ((u << vb) | w), word) for u, w, word in visible_words(plan, visible)]


def lattice_seed_writes(cfg: Config, plan: LatticePlan, regmap: RegMap, array: int) -> Writes:
    """The generator loads that start every unit on array ``array``'s streams (``b U + u``): the golden
    model's :meth:`~pbitgen.model.lattice_golden.LatticeGolden.run` with ``first_array = array``."""
    base = regmap["SEEDS"].offset
    out = []
    for u in range(plan.n_units):
        state = lfsr.first_state(cfg.rng.seed, array * plan.n_units + u, cfg.rng.draw_bits)
        out += [(base + 4 * u, c) for c in lfsr.load_chunks(state, cfg.rng.draw_bits)]
    return out


def lattice_elements(plan: LatticePlan, positions: np.ndarray) -> np.ndarray:
    """Ring contents (..., 2R, U) bool, position p of unit u (a read-out or trace frames) -> spins (..., C, N)
    bool."""
    out = np.zeros((*positions.shape[:-2], plan.chains, plan.graph.n), dtype=bool)
    for g, group in enumerate(plan.groups):
        for j, chain in enumerate(group):
            pos = g * plan.phase_clocks + np.arange(plan.slots) * plan.per_group + j  # (M,)
            out[..., chain, plan.cells] = positions[..., pos[None, :], np.arange(plan.n_units)[:, None]]
    return out


@dataclass(frozen=True)
class Expected:
    """The golden model's answer for ``runs`` runs: final spins (runs, I, N) and, when recorded, every
    sweep's spins (runs, T K, I, N), bool, with ``I`` images per run."""

    spins: np.ndarray
    trace: np.ndarray | None


class Host:
    """What a bench needs of a design to drive it and check it, for either array, from its config.

    A *run* starts with ``CTRL.start`` and makes ``images`` images; its random source is chosen by an
    ``index`` (the generic array's chain, the lattice array's array number), and run ``r`` of a session
    started at ``index`` uses ``index + r``. ``readback`` is the bus traffic that reads one run's images
    (``("R", addr, count)`` reads and ``("W", addr, data)`` writes, in order); :meth:`spins` decodes what its
    reads returned, :meth:`frame` one sweep's trace frame."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.lattice = cfg.array.layout == "lattice"
        if self.lattice:
            self.plan: ArrayPlan | LatticePlan = LatticePlan(cfg)
            self.regmap = build_lattice_regmap(cfg, self.plan)
            self.images = self.plan.chains
        else:
            self.plan = ArrayPlan(cfg)
            self.regmap = build_regmap(cfg, self.plan)
            self.images = 1
        self.n = self.plan.graph.n

    def runs(self, first: int, images: int) -> list[int]:
        """The run indices that make ``images`` images from index ``first`` on (the last run's extra images,
        if any, are dropped by the caller)."""
        return list(range(first, first + -(-images // self.images)))

    def load(self, banks: Banks, run: Config, index: int) -> Writes:
        """Weights, the first run's random source and ``run``'s schedule (at most the design's T and K: the
        schedule memories hold no more)."""
        for name in ("steps", "sweeps"):
            have, want = getattr(self.cfg.schedule, name), getattr(run.schedule, name)
            if want > have:
                raise ValueError(f"schedule.{name} {want}: the design holds at most {have}; expected 1..{have}")
        if not self.lattice:
            return load_writes(self.cfg, self.plan, self.regmap, banks, run, index)
        rm = self.regmap
        inputs = [(rm["INPUT"].offset + 4 * k, _u32(w)) for k, w in enumerate(banks.input.tolist())]
        return (
            lattice_weight_writes(self.cfg, self.plan, rm, banks)
            + lattice_visible_writes(self.plan, rm, banks.visible)
            + inputs
            + self.reseed(index)
            + schedule_writes(rm, run)
        )

    def reseed(self, index: int) -> Writes:
        if self.lattice:
            return lattice_seed_writes(self.cfg, self.plan, self.regmap, index)
        return seed_writes(self.cfg, self.plan, self.regmap, index)

    def start(self, trace: bool) -> int:
        return start_word(self.regmap, trace)

    @property
    def readback(self) -> list[tuple[str, int, int]]:
        rm = self.regmap
        if not self.lattice:
            return [("R", rm["SPINS"].offset, -(-self.n // 32))]
        words = -(-self.plan.n_units // 32)
        return [
            op
            for _ in range(self.plan.ring)
            for op in (("R", rm["SPINS"].offset, words), ("W", rm["ROTATE"].offset, 0))
        ]

    def traced_clocks(self, run: Config) -> int:
        """``CYCLES`` after a traced run of ``run``'s schedule whose stream never stalls."""
        t, k = run.schedule.steps, run.schedule.sweeps
        if self.lattice:
            return self.plan.traced_run_clocks(t, k)
        return self.plan.run_clocks(t, k, trace=True)

    def clock_bound(self, run: Config) -> int:
        """Clocks a traced run of ``run``'s schedule takes when the stream never stalls (an upper bound for
        time-outs)."""
        t, k = run.schedule.steps, run.schedule.sweeps
        if self.lattice:
            return self.plan.traced_run_clocks(t, k)
        return (self.plan.sweep_clocks + 64) * (t * k + 2)

    def bias_word(self, cell: int, bank: int) -> int:
        """Byte address of the bus word that holds ``cell``'s bias in bank ``bank`` (low bits first)."""
        if not self.lattice:
            return weight_address(self.plan, self.regmap, cell, bank)
        addr = bank << ceil_log2(self.plan.slots) | int(self.plan.slot_of[cell])
        return lattice_weight_address(self.cfg, self.plan, self.regmap, int(self.plan.unit_of[cell]), addr, 0)

    def seed_words(self, cell: int) -> set[int]:
        """Byte addresses of the bus words that seed ``cell``'s generator (the lattice: its unit's)."""
        if self.lattice:
            return {self.regmap["SEEDS"].offset + 4 * int(self.plan.unit_of[cell])}
        low = seed_address(self.plan, self.regmap, cell)
        return {low, low + 4}

    def where(self, cell: int) -> str:
        """Where a cell lives in the array, for mismatch reports."""
        unit = int(self.plan.unit_of[cell])
        if self.lattice:
            return f"unit {unit}, slot {int(self.plan.slot_of[cell])}, cell {cell}"
        return f"tile {self.plan.units[unit].tile}, unit {unit}, cell {cell}"

    def spins(self, reads: list[list[int]]) -> np.ndarray:
        """(images, N) bool from the words of :attr:`readback`'s reads."""
        if not self.lattice:
            return unpack_spins(reads[0], self.n)[None]
        u = self.plan.n_units
        rows = np.array([[(int(r[i // 32]) >> (i % 32)) & 1 for i in range(u)] for r in reads], dtype=bool)
        return lattice_elements(self.plan, rows)

    @property
    def frame_beats(self) -> int:
        """Beats of one trace frame: every ring position (lattice) or the spin words (generic)."""
        return self.plan.ring if self.lattice else -(-self.n // 32)

    def frame(self, beats: list[int]) -> np.ndarray:
        """(images, N) bool from one trace frame."""
        width = self.plan.n_units if self.lattice else 32
        bits = (np.array(beats, dtype=object)[:, None] >> np.arange(width)) & 1
        return self.frames(bits.astype(bool)[None])[0]

    def frames(self, bits: np.ndarray) -> np.ndarray:
        """(F, images, N) bool from F whole trace frames as bits (F, :attr:`frame_beats`, at least the beat's
        used width), bit ``i`` of a beat's ``tdata`` in column ``i``: one decode for many sweeps."""
        if self.lattice:
            return lattice_elements(self.plan, bits[..., : self.plan.n_units])
        return bits[..., :32].reshape(len(bits), -1)[:, None, : self.n]

    def expected(self, run: Config, banks: Banks, index: int, runs: int, record: bool = False) -> Expected:
        """The golden model's spins for ``runs`` runs from ``index`` on ``run``'s schedule (``banks`` as
        the run uses them: :func:`pbitgen.sim.job.runtime_banks`)."""
        t, k = run.schedule.steps, run.schedule.sweeps
        if self.lattice:
            r = LatticeGolden(run, banks, self.plan).run(arrays=runs, first_array=index, record=record)
            trace = None if r.trace is None else np.moveaxis(r.trace, 2, 0).reshape(runs, t * k, self.images, self.n)
            return Expected(r.spins > 0, trace)
        g = GoldenArray(run, banks, graph=self.plan.graph).run(chains=runs, first_chain=index, record=record)
        trace = None if g.trace is None else np.moveaxis(g.trace, 2, 0).reshape(runs, t * k, 1, self.n)
        return Expected(g.spins[:, None] > 0, trace)
