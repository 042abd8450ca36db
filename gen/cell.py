"""One cell update in gateware: local field, beta scaling, sigmoid lookup and the draw.

This is the combinational datapath of step 3b of :mod:`pbitgen.model.golden`'s contract, bit for bit:

* ``gamma = (bias << (F - f_h)) + sum_d (spin_d ? +J_d : -J_d) << (F - f_J)`` (conditional negation, no
  multiplier), ``iota = visible ? (x ? +w : -w) << (F - f_w) : 0``;
* ``z = (beta * (gamma [+ iota]) + 2^(fb-1)) >> fb [+ iota]`` (one multiplier per cell by beta, which is
  the same for every cell in a sweep);
* ``p = lut[clamp(z) + offset]`` from a ROM holding :func:`pbitgen.model.fixed.sigmoid_table`;
* the generator advances one step and the spin is ``u < p`` with ``u`` its top ``P`` bits (or, in the
  initial-noise pass, the top bit of ``u``).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config
from pbitgen.model import fixed

from .rng import xorshift_step


class Cell(wiring.Component):
    """Combinational update of one cell.

    Members
    -------
    bias : In(signed(bias.width))
    coupling : In(D * coupling.width), neighbour slot d in bits [d w, (d + 1) w)
    nbr : In(D), neighbour spins (1 = +1)
    visible, x : In(1), whether the cell is input-coupled and its input spin x^t
    w : In(signed(input.width)), the step's input coupling
    beta : In(beta.width)
    init : In(1), initial-noise pass
    state : In(state_width), the cell's generator state before the update
    next_state : Out(state_width), after one step
    spin : Out(1), the new spin
    field : Out(signed(field_width)), gamma (for observation)
    """

    def __init__(self, cfg: Config, degree: int) -> None:
        self.cfg = cfg
        self.degree = degree
        f = cfg.formats
        super().__init__(
            {
                "bias": In(signed(f.bias.width)),
                "coupling": In(max(degree, 1) * f.coupling.width),
                "nbr": In(max(degree, 1)),
                "visible": In(1),
                "x": In(1),
                "w": In(signed(f.input.width)),
                "beta": In(unsigned(f.beta.width)),
                "init": In(1),
                "state": In(cfg.rng.state_width),
                "next_state": Out(cfg.rng.state_width),
                "spin": Out(1),
                "field": Out(signed(cfg.field_width)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, f = self.cfg, self.cfg.formats
        ff, width = cfg.field_frac, cfg.field_width
        p_bits, state_w = cfg.rng.draw_bits, cfg.rng.state_width

        terms = [self.bias << (ff - f.bias.frac)]
        cw = f.coupling.width
        for d in range(self.degree):
            j = self.coupling[d * cw : (d + 1) * cw].as_signed() << (ff - f.coupling.frac)
            terms.append(Mux(self.nbr[d], j, -j))
        gamma = Signal(signed(width))
        m.d.comb += gamma.eq(sum(terms[1:], terms[0]))
        w_al = self.w << (ff - f.input.frac)
        iota = Signal(signed(width))
        m.d.comb += iota.eq(Mux(self.visible, Mux(self.x, w_al, -w_al), 0))

        fb = f.beta.frac
        half = (1 << fb) >> 1
        z = Signal(signed(cfg.scaled_width + 2))
        if cfg.schedule.beta_scales_input:
            m.d.comb += z.eq((self.beta * (gamma + iota) + half) >> fb)
        else:
            m.d.comb += z.eq(((self.beta * gamma + half) >> fb) + iota)
        off = fixed.lut_offset(cfg)
        clamped = Signal(signed(cfg.scaled_width + 2))
        m.d.comb += clamped.eq(Mux(z < -off, -off, Mux(z > off - 1, off - 1, z)))

        m.submodules.lut = lut = memory.Memory(
            shape=unsigned(p_bits), depth=f.lut_entries, init=fixed.sigmoid_table(cfg).tolist()
        )
        rd = lut.read_port(domain="comb")
        m.d.comb += rd.addr.eq((clamped + off)[: f.lut_index_width])

        nxt = Signal(state_w)
        m.d.comb += nxt.eq(xorshift_step(self.state, state_w))
        u = nxt[state_w - p_bits :]
        m.d.comb += [
            self.next_state.eq(nxt),
            self.spin.eq(Mux(self.init, u[p_bits - 1], u < rd.data)),
            self.field.eq(gamma),
        ]
        return m
