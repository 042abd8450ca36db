"""A tile: the update units of a set of cells (a band or block of the grid), their spin and input registers.

A tile owns the spin bit and the input bit x^t of each of its cells (and, with ``array.stages = 7``, a
register stage for the controller's broadcast). It reads the spins it needs (its own
and those of neighbours in other tiles, :meth:`ArrayPlan.tile_reads`) on ``reads``: edges that leave the
tile are wires from the tiles that own those cells. Controller signals and bus writes are broadcast; a
bus write reaches the unit whose index it carries.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2

from .plan import ArrayPlan
from .unit import UnitImage, UpdateUnit


class Tile(wiring.Component):
    """Members: the controller's broadcast (``issue``, ``color``, ``pos``, ``bank``, ``ex_*``, ``latch``),
    ``reads`` (spins of :meth:`ArrayPlan.tile_reads`), ``visible`` (flags of the tile's cells, in the order
    of ``cells``), ``spins`` (the tile's spin register, same order) and the bus write port (``wr_unit``,
    ``wr_index``, ``wr_data``, ``wr_weight``, ``wr_seed``)."""

    def __init__(self, cfg: Config, plan: ArrayPlan, tile: int, images: dict[int, UnitImage] | None = None) -> None:
        self.cfg, self.plan, self.tile = cfg, plan, tile
        self.images = images or {}
        self.cells = [int(c) for c in plan.tile_cells[tile]]
        self.n = len(self.cells)
        self.read_cells = plan.tile_reads(tile)
        self.units = [u for u in plan.units if u.tile == tile]
        f = cfg.formats
        ww = ceil_log2(plan.weight_words)
        super().__init__(
            {
                "issue": In(1),
                "color": In(range(max(plan.n_colors, 2))),
                "pos": In(plan.slot_width + 1),
                "bank": In(range(max(plan.banks, 2))),
                "ex_beta": In(unsigned(f.beta.width)),
                "ex_w": In(signed(f.input.width)),
                "ex_init": In(1),
                "latch": In(1),
                "reads": In(max(len(self.read_cells), 1)),
                "visible": In(self.n),
                "spins": Out(self.n),
                "wr_unit": In(range(max(plan.n_units, 2))),
                "wr_index": In(plan.slot_width + ceil_log2(plan.banks) + ww + 1),
                "wr_data": In(32),
                "wr_weight": In(1),
                "wr_seed": In(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        plan = self.plan
        local = {cell: i for i, cell in enumerate(self.cells)}
        nbr, _ = plan.neighbor_slots
        read_pos = {cell: k for k, cell in enumerate(self.read_cells)}
        x = Signal(self.n)
        with m.If(self.latch):
            m.d.sync += x.eq(self.spins & self.visible)
        d = max(plan.degree, 1)
        # the controller's broadcast, registered here when the config asks (it crosses the whole array)
        bc = {k: getattr(self, k) for k in ("issue", "color", "pos", "bank", "ex_beta", "ex_w", "ex_init")}
        if self.cfg.array.broadcast_register:
            for k, sig in list(bc.items()):
                bc[k] = Signal.like(sig, name=f"{k}_r")
                m.d.sync += bc[k].eq(sig)
        for u in self.units:
            unit = UpdateUnit(self.cfg, plan, u, self.images.get(u.index))
            m.submodules[f"unit{u.index}"] = unit
            nb = []  # slot s, neighbour k -> the wire of that neighbour's spin (0 for an unused slot)
            for cell in u.cells:
                for k in range(d):
                    j = int(nbr[cell, k]) if plan.degree else -1
                    nb.append(Const(0, 1) if j < 0 else self.reads[read_pos[j]])
            m.d.comb += [
                *(getattr(unit, k).eq(v) for k, v in bc.items()),
                unit.nbrs.eq(Cat(*nb)),
                unit.xin.eq(Cat(*(x[local[c]] for c in u.cells))),
                unit.vis.eq(Cat(*(self.visible[local[c]] for c in u.cells))),
                unit.wr_index.eq(self.wr_index),
                unit.wr_data.eq(self.wr_data),
                unit.wr_weight.eq(self.wr_weight & (self.wr_unit == u.index)),
                unit.wr_seed.eq(self.wr_seed & (self.wr_unit == u.index)),
            ]
            for s, cell in enumerate(u.cells):
                with m.If(unit.we & (unit.slot == s)):
                    m.d.sync += self.spins[local[cell]].eq(unit.spin)
        return m
