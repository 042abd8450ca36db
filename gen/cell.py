"""One cell update in gateware: local field, beta scaling, sigmoid lookup and the draw.

This is the combinational datapath of step 3b of :mod:`pbitgen.model.golden`'s contract, bit for bit:

* ``gamma = (bias << (F - f_h)) + sum_d (spin_d ? +J_d : -J_d) << (F - f_J)`` (no multiplier: ``-J_d`` is
  ``~J_d + 1`` with the +1s counted once; a tree of two-input adders), ``iota = visible ? (x ? +w : -w) <<
  (F - f_w) : 0``;
* ``z = (beta * (gamma [+ iota]) + 2^(fb-1)) >> fb [+ iota]`` (one multiplier per cell by beta, which is
  the same for every cell in a sweep);
* ``p = lut[clamp(z) + offset]`` from a ROM holding :func:`pbitgen.model.fixed.sigmoid_table`;
* the generator advances one step and the spin is ``u < p`` with ``u`` its top ``P`` bits (or, in the
  initial-noise pass, the top bit of ``u``).

With ``cfg.array.stages = s > 1`` the datapath is a pipeline of ``min(s, 6)`` clocks: registers after
the field (``gamma``, ``iota``; ``s >= 2``), on the table address (a synchronous table read, which an FPGA
flow may put in block RAM; ``s >= 3``), after the beta product (``s >= 4``), on the operands (``s >= 5``)
and after the second level of the field's adder tree (``s >= 6``; after the whole tree when it is
shorter). The inputs are sampled in the first clock; ``spin`` is valid ``min(s, 6) - 1`` clocks later,
``next_state`` is combinational in the first clock (the unit writes the generator state back at once) and
``field`` in the first (``s < 5``), second or third. The arithmetic is the same at every depth.
"""

from __future__ import annotations

from functools import partial

from amaranth import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config
from pbitgen.model import fixed

from .rng import xorshift_step


def pipeline_cut(m: Module, value: Value, on: bool, name: str) -> Value:
    """``value`` itself, or a register of it (in ``m``'s sync domain) when this pipeline cut is in use."""
    if not on:
        return value
    reg = Signal(value.shape(), name=name)
    m.d.sync += reg.eq(value)
    return reg


def _tree_sum(values: list[Value]) -> Value:
    """Sum of ``values`` as a balanced tree (depth log2 n, not a chain of n - 1 adders)."""
    while len(values) > 1:
        values = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)] + values[len(values) // 2 * 2 :]
    return values[0]


class Cell(wiring.Component):
    """Update of one cell (combinational, or pipelined with ``cfg.array.stages > 1``; module docstring).

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
        stages = cfg.array.execute_stages

        cut = partial(pipeline_cut, m)

        # Each cut below is in use from the ``stages`` value in brackets; every cut adds one clock.
        # [5] the operands: memory and neighbour reads from across the array get a clock of their own
        ops = stages >= 5
        bias, coupling, nbr = (
            cut(v, ops, f"{n}_r") for v, n in ((self.bias, "bias"), (self.coupling, "coupling"), (self.nbr, "nbr"))
        )
        visible, x, w, beta = (
            cut(v, ops, f"{n}_r")
            for v, n in ((self.visible, "visible"), (self.x, "x"), (self.w, "w"), (self.beta, "beta_in"))
        )

        # -J = ~J + 1: each coupling is XORed with its spin's negation and the +1s are added as one count,
        # so no term needs a negating adder of its own
        terms = [bias << (ff - f.bias.frac)]
        cw = f.coupling.width
        down = [~nbr[d] for d in range(self.degree)]
        for d in range(self.degree):
            j = coupling[d * cw : (d + 1) * cw].as_signed()
            terms.append((j ^ down[d].replicate(cw).as_signed()) << (ff - f.coupling.frac))
        if down:
            terms.append(_tree_sum(down) << (ff - f.coupling.frac))
        # A tree of two-input adders, each kept as its own wire: left alone, Yosys merges the sum into one
        # multi-operand adder built of LUT full adders, about twice the LUTs of carry-chain adders on an
        # FPGA. Partial sums may be off the true ones by the uncounted +1s (at most D << shift, less than
        # the field bound), so one extra bit keeps them exact; the total fits ``field_width``.
        level, mid_cut = 0, False
        while len(terms) > 1:
            pairs = []
            for i in range(0, len(terms) - 1, 2):
                t = Signal(signed(width + 1), name=f"sum{level}_{i // 2}", attrs={"keep": 1})
                m.d.comb += t.eq(terms[i] + terms[i + 1])
                pairs.append(t)
            terms = pairs + terms[len(pairs) * 2 :]
            level += 1
            if level == 2 and len(terms) > 1:  # [6] after the tree's second level
                terms = [cut(t, stages >= 6, f"part{i}") for i, t in enumerate(terms)]
                mid_cut = True
        if not mid_cut:  # a tree of two levels or fewer (degree <= 2): the cut goes after it
            terms = [cut(terms[0], stages >= 6, "part0")]
        gamma = Signal(signed(width))
        m.d.comb += gamma.eq(terms[0])
        w_al = w << (ff - f.input.frac)
        iota = Signal(signed(width))
        m.d.comb += iota.eq(Mux(visible, Mux(x, w_al, -w_al), 0))

        nxt = Signal(state_w)
        m.d.comb += nxt.eq(xorshift_step(self.state, state_w))
        draw = Cat(nxt[state_w - p_bits :], self.init)  # u and the init flag travel to the last stage
        for k in range(stages - 1):
            draw = cut(draw, True, f"draw_{k + 1}")

        # [2] the field, the input term and beta (the last two in step with the tree's cut)
        gamma_r = cut(gamma, stages >= 2, "gamma_r")
        iota_r = cut(cut(iota, stages >= 6, "iota_t"), stages >= 2, "iota_r")
        beta_r = cut(cut(beta, stages >= 6, "beta_t"), stages >= 2, "beta_r")
        fb = f.beta.frac
        half = (1 << fb) >> 1
        product = beta_r * (gamma_r + iota_r) if cfg.schedule.beta_scales_input else beta_r * gamma_r
        # [4] the product
        product_r = cut(product, stages >= 4, "product_r")
        iota_p = cut(iota_r, stages >= 4, "iota_p")
        z = Signal(signed(cfg.scaled_width + 2))
        if cfg.schedule.beta_scales_input:
            m.d.comb += z.eq((product_r + half) >> fb)
        else:
            m.d.comb += z.eq(((product_r + half) >> fb) + iota_p)
        off = fixed.lut_offset(cfg)
        clamped = Signal(signed(cfg.scaled_width + 2))
        m.d.comb += clamped.eq(Mux(z < -off, -off, Mux(z > off - 1, off - 1, z)))

        # [3] the table address: a synchronous read, which an FPGA flow can map to block RAM
        m.submodules.lut = lut = memory.Memory(
            shape=unsigned(p_bits), depth=f.lut_entries, init=fixed.sigmoid_table(cfg).tolist()
        )
        rd = lut.read_port(domain="sync" if stages >= 3 else "comb")
        m.d.comb += rd.addr.eq((clamped + off)[: f.lut_index_width])

        u, init = draw[:p_bits], draw[p_bits]
        m.d.comb += [
            self.next_state.eq(nxt),
            self.spin.eq(Mux(init, u[p_bits - 1], u < rd.data)),
            self.field.eq(gamma),
        ]
        return m
