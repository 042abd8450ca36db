"""An update unit: the memories of the cells it serves and one :class:`~pbitgen.gen.cell.Cell` datapath.

A unit updates one of its cells per clock in a pipeline of an issue stage and one or more execute stages:

* issue (cycle 0): the controller broadcasts ``issue``, ``color``, ``pos`` and ``bank``; the unit is
  active when ``pos < count[color]`` and presents slot ``base[color] + pos`` to its weight and generator
  memories (synchronous reads);
* execute (cycle 1): the memories' data, the neighbour spins of the slot's cell (a ``slots``-way
  multiplexer per neighbour slot, plain wires when the unit has one cell) and the controller's
  execute-stage ``beta``, ``w`` and ``init`` feed the cell datapath; ``we`` / ``slot`` / ``spin`` go to the
  tile's spin register and the generator's new state is written back, all at the end of the cycle.

Neighbour spins are read in the execute stage, one cycle after issue, and written at its end, so the first
cell of the next colour phase (issued right after the last of this one) sees every update of this phase.
With pipelined units (``cfg.array.execute_stages = s > 1``) the execute stage is the first of ``s`` clocks
(see :class:`~pbitgen.gen.cell.Cell`): the generator state is still written back in the first, the spin
``s - 1`` clocks later, and the controller leaves ``s - 1`` clocks between colour phases for it.

Memories (written over the bus while the array is idle): ``bias`` and ``coupling`` (``D`` couplings per
word; the bus writes them ``32 // width`` at a time, through a write granularity of one coupling), each
``slots x banks`` deep at address ``{bank, slot}``; ``state``, ``slots`` deep, written one 32-bit half at
a time by the bus and whole by the datapath.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2

from .cell import Cell
from .plan import ArrayPlan, Unit


class UnitImage:
    """Initial memory contents of one unit (integers), or None for zero-initialised memories."""

    def __init__(self, bias: list[int], coupling: list[int], state: list[int]) -> None:
        self.bias, self.coupling, self.state = bias, coupling, state


class UpdateUnit(wiring.Component):
    """See module docstring. ``nbrs`` bit ``s * D + d`` is the spin of slot ``s``'s neighbour ``d``;
    ``xin``/``vis`` bit ``s`` are slot ``s``'s input spin and visible flag."""

    def __init__(self, cfg: Config, plan: ArrayPlan, unit: Unit, image: UnitImage | None = None) -> None:
        self.cfg, self.plan, self.unit, self.image = cfg, plan, unit, image
        n = len(unit.cells)
        d = max(plan.degree, 1)
        f = cfg.formats
        self.weight_words = plan.weight_words
        super().__init__(
            {
                "issue": In(1),
                "color": In(range(max(plan.n_colors, 2))),
                "pos": In(plan.slot_width + 1),
                "bank": In(range(max(plan.banks, 2))),
                "ex_beta": In(unsigned(f.beta.width)),
                "ex_w": In(signed(f.input.width)),
                "ex_init": In(1),
                "nbrs": In(n * d),
                "xin": In(n),
                "vis": In(n),
                "we": Out(1),
                "slot": Out(plan.slot_width),
                "spin": Out(1),
                # bus writes: word index inside this unit's WEIGHTS or SEEDS range
                "wr_index": In(plan.slot_width + ceil_log2(plan.banks) + ceil_log2(self.weight_words) + 1),
                "wr_data": In(32),
                "wr_weight": In(1),
                "wr_seed": In(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, unit = self.cfg, self.plan, self.unit
        f = cfg.formats
        n, d, slots, banks = len(unit.cells), max(plan.degree, 1), plan.slots, plan.banks
        sw, bw = plan.slot_width, ceil_log2(banks)
        state_w = cfg.rng.state_width
        img = self.image

        m.submodules.bias = bias = memory.Memory(
            shape=signed(f.bias.width), depth=slots * banks, init=img.bias if img else []
        )
        m.submodules.coupling = coup = memory.Memory(
            shape=unsigned(d * f.coupling.width), depth=slots * banks, init=img.coupling if img else []
        )
        m.submodules.state = state = memory.Memory(shape=unsigned(state_w), depth=slots, init=img.state if img else [])
        bias_rd, coup_rd, state_rd = bias.read_port(), coup.read_port(), state.read_port()
        bias_wr = bias.write_port()
        coup_wr = coup.write_port(granularity=f.coupling.width)
        state_wr = state.write_port(granularity=32 if state_w == 64 else state_w)

        # ---- issue stage ----
        base = Array(Const(b, sw + 1) for b in unit.base)
        count = Array(Const(c, sw + 1) for c in unit.count)
        slot = Signal(sw)
        active = Signal()
        m.d.comb += [
            active.eq(self.issue & (self.pos < count[self.color])),
            slot.eq(base[self.color] + self.pos),
            bias_rd.addr.eq(Cat(slot, self.bank[:bw]) if bw else slot),
            coup_rd.addr.eq(Cat(slot, self.bank[:bw]) if bw else slot),
            state_rd.addr.eq(slot),
        ]
        ex_active = Signal()
        ex_slot = Signal(sw)
        m.d.sync += [ex_active.eq(active), ex_slot.eq(slot)]

        # ---- execute stage ----
        m.submodules.cell = cell = Cell(cfg, plan.degree)

        # one n-way multiplexer of (D neighbour spins, visible, x) words: the slot's cell context
        ctx = [Cat(self.nbrs[s * d : (s + 1) * d], self.vis[s], self.xin[s]) for s in range(n)]
        sel = Signal(d + 2)
        m.d.comb += sel.eq(ctx[0] if n == 1 else Array(ctx)[ex_slot])

        m.d.comb += [
            cell.bias.eq(bias_rd.data),
            cell.coupling.eq(coup_rd.data),
            cell.nbr.eq(sel[:d]),
            cell.visible.eq(sel[d]),
            cell.x.eq(sel[d + 1]),
            cell.w.eq(self.ex_w),
            cell.beta.eq(self.ex_beta),
            cell.init.eq(self.ex_init),
            cell.state.eq(state_rd.data),
            self.spin.eq(cell.spin),
        ]
        we, we_slot = ex_active, ex_slot  # the spin write lands when the cell's pipeline ends
        for k in range(cfg.array.execute_stages - 1):
            we_r, slot_r = Signal(name=f"we_{k + 1}"), Signal(sw, name=f"slot_{k + 1}")
            m.d.sync += [we_r.eq(we), slot_r.eq(we_slot)]
            we, we_slot = we_r, slot_r
        m.d.comb += [self.we.eq(we), self.slot.eq(we_slot)]

        # ---- memory writes: the datapath's generator update, else the bus ----
        ww = ceil_log2(self.weight_words)
        per, cw = plan.couplings_per_word, f.coupling.width
        k = self.wr_index[:ww]
        w_bank = self.wr_index[ww : ww + bw] if bw else Const(0, 1)
        w_slot = self.wr_index[ww + bw : ww + bw + sw] if sw else Const(0, 1)
        w_addr = Cat(w_slot, w_bank) if bw else w_slot
        m.d.comb += [
            bias_wr.addr.eq(w_addr),
            bias_wr.data.eq(self.wr_data),
            bias_wr.en.eq(self.wr_weight & (k == 0)),
            coup_wr.addr.eq(w_addr),
            coup_wr.data.eq(Cat(*(self.wr_data[(j % per) * cw : (j % per + 1) * cw] for j in range(d)))),
        ]
        for j in range(d):  # bus word k >= 1 carries the couplings of slots per (k - 1) .. per k - 1
            m.d.comb += coup_wr.en[j].eq(self.wr_weight & (k == 1 + j // per))
        halves = 2 if state_w == 64 else 1
        with m.If(ex_active):
            m.d.comb += [state_wr.addr.eq(ex_slot), state_wr.data.eq(cell.next_state), state_wr.en.eq(-1)]
        with m.Else():
            half = self.wr_index[0]
            m.d.comb += [
                state_wr.addr.eq(self.wr_index[1 : 1 + sw] if sw else 0),
                state_wr.data.eq(Cat(*([self.wr_data[: min(32, state_w)]] * halves))),
            ]
            for h in range(halves):  # a 32-bit state has no high word: writes to it are dropped
                m.d.comb += state_wr.en[h].eq(self.wr_seed & (half == h))
        return m
