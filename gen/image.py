"""What the array's memories must hold for a model, as bus writes or as generation-time contents.

Both forms come from the same :class:`~pbitgen.model.golden.Banks` and the same seeding function as the
golden model (:func:`pbitgen.model.rng.stream_states` of ``chain * N + cell``), so a design loaded either
way runs chain ``chain`` of the golden model.
"""

from __future__ import annotations

import numpy as np

from pbitgen.config import Config
from pbitgen.model import rng
from pbitgen.model.golden import Banks

from .plan import ArrayPlan
from .regmap import RegMap
from .top import Image
from .unit import UnitImage


def _u32(v: int) -> int:
    return int(v) & 0xFFFFFFFF


def cell_words(cfg: Config, plan: ArrayPlan, banks: Banks) -> tuple[np.ndarray, np.ndarray]:
    """Per (step bank, cell): bias (T, N) and couplings by neighbour slot (T, N, D), 0 in unused slots."""
    _, eid = plan.neighbor_slots
    coupling = np.where(eid[None] >= 0, banks.coupling[:, np.maximum(eid, 0)], 0)
    return banks.bias, coupling


def seeds(cfg: Config, plan: ArrayPlan, chain: int) -> np.ndarray:
    """Generator state of every cell for chain ``chain`` (as the golden model seeds it)."""
    n = plan.graph.n
    return rng.stream_states(cfg.rng, rng.stream_id(chain, np.arange(n), n))


def memory_image(cfg: Config, plan: ArrayPlan, banks: Banks, chain: int = 0) -> Image:
    """Generation-time memory contents (the design then runs without any bus writes)."""
    bias, coupling = cell_words(cfg, plan, banks)
    state = seeds(cfg, plan, chain)
    cw = cfg.formats.coupling.width
    units = {}
    t = cfg.schedule.steps
    for u in plan.units:
        b = [0] * (plan.slots * plan.banks)
        c = [0] * (plan.slots * plan.banks)
        s = [0] * plan.slots
        for slot, cell in enumerate(u.cells):
            s[slot] = int(state[cell])
            for bank in range(t):
                addr = bank * plan.slots + slot
                b[addr] = int(bias[bank, cell])
                c[addr] = sum((int(v) & ((1 << cw) - 1)) << (cw * k) for k, v in enumerate(coupling[bank, cell]))
        units[u.index] = UnitImage(b, c, s)
    return Image(units, banks.beta.tolist(), banks.input.tolist(), banks.visible.astype(int).tolist())


def bus_writes(cfg: Config, plan: ArrayPlan, regmap: RegMap, banks: Banks, chain: int = 0) -> list[tuple[int, int]]:
    """Every (byte address, 32-bit word) the host writes to load ``banks`` and chain ``chain``'s seeds."""
    bias, coupling = cell_words(cfg, plan, banks)
    ww, per, cw = plan.weight_words, plan.couplings_per_word, cfg.formats.coupling.width
    mask = (1 << cw) - 1
    wbase = regmap["WEIGHTS"].offset
    state = seed_writes(cfg, plan, regmap, chain)
    per_cell = len(state) // plan.graph.n
    out = []
    for cell in range(plan.graph.n):
        u, slot = int(plan.unit_of[cell]), int(plan.slot_of[cell])
        record = (u * plan.slots + slot) * plan.banks
        for bank in range(cfg.schedule.steps):
            word = (record + bank) * ww
            out.append((wbase + 4 * word, _u32(bias[bank, cell])))
            for k in range(0, plan.degree, per):  # `per` couplings per word, slot k + j in bits cw j
                packed = sum((int(c) & mask) << (cw * j) for j, c in enumerate(coupling[bank, cell, k : k + per]))
                out.append((wbase + 4 * (word + 1 + k // per), packed))
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


def seed_writes(cfg: Config, plan: ArrayPlan, regmap: RegMap, chain: int) -> list[tuple[int, int]]:
    """The writes of chain ``chain``'s generator seeds alone: what changes between images on one load."""
    state = seeds(cfg, plan, chain)
    sbase = regmap["SEEDS"].offset
    out = []
    for cell in range(plan.graph.n):
        s, word = int(state[cell]), 2 * (int(plan.unit_of[cell]) * plan.slots + int(plan.slot_of[cell]))
        out.append((sbase + 4 * word, s & 0xFFFFFFFF))
        if cfg.rng.state_width == 64:
            out.append((sbase + 4 * (word + 1), s >> 32))
    return out


def unpack_spins(words: list[int], n: int) -> np.ndarray:
    """Spin words read from SPINS or the trace stream -> (n,) bool (True = +1)."""
    bits = [(int(words[i // 32]) >> (i % 32)) & 1 for i in range(n)]
    return np.array(bits, dtype=bool)
