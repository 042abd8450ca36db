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

import numpy as np

from pbitgen.config import Config
from pbitgen.model.beta import quantize_beta
from pbitgen.model.golden import Banks

from .image import cell_words, seeds
from .plan import ArrayPlan
from .regmap import RegMap

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
