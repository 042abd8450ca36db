"""What the array's memories must hold for a model: the words of each cell and the generation-time contents.

The bus form (:mod:`pbitgen.gen.host`) writes the same words: both come from the same
:class:`~pbitgen.model.golden.Banks` and the same seeding function as the golden model
(:func:`pbitgen.model.rng.stream_states` of ``chain * N + cell``), so a design loaded either way runs chain
``chain`` of the golden model.
"""

from __future__ import annotations

import numpy as np

from pbitgen.config import Config
from pbitgen.model import rng
from pbitgen.model.golden import Banks

from .plan import ArrayPlan
from .top import Image
from .unit import UnitImage


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
