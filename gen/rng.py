"""The random source in gateware: one xorshift step as an XOR network, with its software twin.

:func:`xorshift_step` builds the combinational next-state logic of :mod:`pbitgen.model.rng`'s generator
(same shifts, same width), so one clock advances a cell's generator by one full step; :func:`generate` is
the twin the tests compare it with.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Value

from pbitgen.config import RngConfig
from pbitgen.model import rng as model_rng


def xorshift_step(x: Value, width: int) -> Value:
    """Next state of a ``width``-bit xorshift generator (pure wiring and XOR gates)."""
    a, b, c = model_rng._SHIFTS[width]
    y = (x ^ (x << a))[:width]
    y = y ^ (y >> b)
    return (y ^ (y << c))[:width]


def generate(cfg: RngConfig, state: int, n: int) -> list[int]:
    """The software twin: ``n`` successive states from ``state``."""
    out, x = [], np.array([state], dtype=np.uint64 if cfg.state_width == 64 else np.uint32)
    for _ in range(n):
        x = model_rng.step(x, cfg.state_width)
        out.append(int(x[0]))
    return out
