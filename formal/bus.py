"""(a) The AXI4-Lite subordinate: :class:`~pbitgen.gen.axil.AXI4LiteSlave` alone and behind the lattice
array's register map (:class:`~pbitgen.gen.lattice_top.LatticeTop`).

The manager is free (every input an ``AnySeq``) but keeps the AXI4-Lite manager rules, assumed: a raised
``AWVALID``/``WVALID``/``ARVALID`` stays high, with its address, protection, data and strobes unchanged,
until its handshake, and the valid signals are low during reset (AMBA AXI IHI 0022, A3.2.1, A3.1.2).
``BREADY`` and ``RREADY`` are free. The reset is free too (a synchronous ``rst``).

What the subordinate must do, asserted:

* a raised ``BVALID``/``RVALID`` stays high with ``BRESP``/``RRESP``/``RDATA`` unchanged until
  ``BREADY``/``RREADY`` (A3.2.1), and both are low in the clock after a reset (A3.1.2);
* one response per request: a write response only after both the address and the data handshake, a read
  response only after the address handshake, and every request answered (a response is presented while
  one is owed); this subordinate keeps at most one write and one read in flight;
* every response is OKAY (the register map has no error responses);
* the register side (``gen/axil.py``): a write handshake is exactly one ``w_en`` clock with the address and
  the whole 32-bit ``WDATA`` whatever ``WSTRB`` says (the subordinate ignores the strobes, which AXI4-Lite
  allows, B1.1: "treat all write accesses as being the full data bus width"), no address is accepted while
  ``r_hold``, and ``RDATA`` is the register block's ``r_data`` at the address handshake.

Behind the register map (:func:`~pbitgen.gen.regmap.build_lattice_regmap`), also asserted:

* a write raises exactly the strobe of the register it hits (weights, generator loads, visible flags,
  beta, input coupling, STEPS, SWEEPS, CTRL's start and trace bits, ROTATE), with the window's word index
  split as the map documents (unit, bank and slot, lane) and the whole ``WDATA`` as the load data; nothing
  while the array is busy (the map: every write is ignored while STATUS.busy), nothing outside every
  writable register, nothing without a write;
* STEPS and SWEEPS take the written word clamped to 1..T and 1..K in the next clock;
* a read returns 0 at every address that no readable register covers (write-only registers and the
  holes), the constants (ID, VERSION, CELLS, SHAPE, RING) at theirs, and STATUS, STEPS and SWEEPS as they
  were at the address handshake.
"""

from __future__ import annotations

from amaranth import Cat, Const, Elaboratable, Module, Mux, ResetSignal, Signal, Value
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover

from pbitgen.config import Config
from pbitgen.gen.axil import AXI4LiteSlave
from pbitgen.gen.lattice_top import LatticeTop
from pbitgen.gen.regmap import LATTICE_REGMAP_VERSION, MAGIC, Register, lattice_fields
from pbitgen.model.lattice import LatticePlan

OKAY = 0
_MANAGER = (
    "awaddr",
    "awprot",
    "awvalid",
    "wdata",
    "wstrb",
    "wvalid",
    "bready",
    "araddr",
    "arprot",
    "arvalid",
    "rready",
)


class Bus:
    """The handshakes of one AXI4-Lite port, as the checks below name them."""

    def __init__(self, bus: object) -> None:
        self.bus = bus
        self.aw = bus.awvalid & bus.awready
        self.w = bus.wvalid & bus.wready
        self.b = bus.bvalid & bus.bready
        self.ar = bus.arvalid & bus.arready
        self.r = bus.rvalid & bus.rready


def held(m: Module, value: Value, name: str) -> Signal:
    """``value`` one clock ago (a register the reset clears)."""
    reg = Signal.like(value, name=name)
    m.d.sync += reg.eq(value)
    return reg


def manager(m: Module, bus: object) -> Bus:
    """Drive the manager side of ``bus`` freely under the AXI4-Lite manager rules (assumptions)."""
    for name in _MANAGER:
        port = getattr(bus, name)
        m.d.comb += port.eq(AnySeq(len(port)))
    rst = ResetSignal()
    m.d.comb += Assume(~rst | ~(bus.awvalid | bus.wvalid | bus.arvalid))
    for valid, ready, payload in (
        ("awvalid", "awready", ("awaddr", "awprot")),
        ("wvalid", "wready", ("wdata", "wstrb")),
        ("arvalid", "arready", ("araddr", "arprot")),
    ):
        v, r = getattr(bus, valid), getattr(bus, ready)
        waiting = held(m, v & ~r & ~rst, f"m_{valid}_waiting")
        was = {p: held(m, getattr(bus, p), f"m_{p}_was") for p in payload}
        with m.If(waiting):
            m.d.comb += Assume(v)
            for p in payload:
                m.d.comb += Assume(getattr(bus, p) == was[p])
    return Bus(bus)


def subordinate(m: Module, h: Bus) -> None:
    """The AXI4-Lite subordinate rules on the port (assertions)."""
    bus, rst = h.bus, ResetSignal()
    after_reset = Signal(name="s_after_reset", reset_less=True)
    m.d.sync += after_reset.eq(rst)
    with m.If(after_reset):
        m.d.comb += Assert(~bus.bvalid & ~bus.rvalid, "BVALID and RVALID low after reset")
    for valid, ready, payload in (("bvalid", "bready", ("bresp",)), ("rvalid", "rready", ("rresp", "rdata"))):
        v, r = getattr(bus, valid), getattr(bus, ready)
        waiting = held(m, v & ~r & ~rst, f"s_{valid}_waiting")
        was = {p: held(m, getattr(bus, p), f"s_{p}_was") for p in payload}
        with m.If(waiting):
            m.d.comb += Assert(v, f"{valid} held until {ready}")
            for p in payload:
                m.d.comb += Assert(getattr(bus, p) == was[p], f"{p} stable until {ready}")
    # requests minus responses, per channel (at most 2: an assertion keeps them at 1)
    owed = {}
    for name, req, resp in (("aw", h.aw, h.b), ("w", h.w, h.b), ("ar", h.ar, h.r)):
        n = Signal(range(3), name=f"s_{name}_owed")
        m.d.sync += n.eq(n + req - resp)
        m.d.comb += Assert(n <= 1, f"one {name} request in flight")
        owed[name] = n
    write_owed = (owed["aw"] != 0) & (owed["w"] != 0)
    # this subordinate takes a write's address and data in one clock (AXI4 lets it wait for both)
    m.d.comb += Assert(owed["aw"] == owed["w"], "address and data accepted together")
    m.d.comb += [
        Assert(bus.bvalid == write_owed, "a write response exactly when one is owed"),
        Assert(bus.rvalid == (owed["ar"] != 0), "a read response exactly when one is owed"),
        Assert(~bus.bvalid | (bus.bresp == OKAY), "BRESP is OKAY"),
        Assert(~bus.rvalid | (bus.rresp == OKAY), "RRESP is OKAY"),
    ]


class SlaveHarness(Elaboratable):
    """:class:`AXI4LiteSlave` with a free register block (``r_data``, ``r_hold``)."""

    def __init__(self, addr_width: int = 8, slave: AXI4LiteSlave | None = None) -> None:
        self.dut = AXI4LiteSlave(addr_width) if slave is None else slave

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = self.dut
        h = manager(m, dut.bus)
        subordinate(m, h)
        bus = dut.bus
        m.d.comb += [dut.r_data.eq(AnySeq(32)), dut.r_hold.eq(AnySeq(1))]
        m.d.comb += [
            Assert(dut.w_en == (h.aw & h.w), "one register write per write handshake"),
            Assert(h.aw == h.w, "address and data accepted together"),
            Assert(~dut.w_en | ((dut.w_addr == bus.awaddr) & (dut.w_data == bus.wdata)), "the whole word, any WSTRB"),
            Assert(~dut.r_hold | ~bus.arready, "no read accepted while r_hold"),
            Assert(~h.ar | (dut.r_addr == bus.araddr), "r_addr at the read handshake"),
        ]
        expect = Signal(32, name="h_rdata_expected")
        with m.If(h.ar):
            m.d.sync += expect.eq(dut.r_data)
        m.d.comb += Assert(~bus.rvalid | (bus.rdata == expect), "RDATA is r_data at the address handshake")
        m.d.comb += [Cover(h.b), Cover(h.r)]
        return m


class DroppingSlave(AXI4LiteSlave):
    """Negative control: the real subordinate with a planted bug, ``BVALID`` dropped before ``BREADY``
    whenever a free ``glitch`` input says so."""

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        glitch = Signal(name="glitch")
        m.d.comb += glitch.eq(AnySeq(1))
        with m.If(glitch & self.bus.bvalid & ~self.bus.bready):
            m.d.sync += self.bus.bvalid.eq(0)
        return m


def _in(addr: Value, r: Register) -> Value:
    return (addr >= r.offset) & (addr < r.offset + r.size)


class TopHarness(Elaboratable):
    """:class:`LatticeTop` for one config: the bus rules and the register map's promises (module
    docstring). ``covers`` adds the cover points (a write of STEPS answered, ID read back, STEPS read
    back after a write)."""

    def __init__(self, cfg: Config, covers: bool = False) -> None:
        self.cfg, self.covers = cfg, covers
        self.top = LatticeTop(cfg)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        top, cfg = self.top, self.cfg
        plan: LatticePlan = top.plan
        rm = top.regmap
        inner = top.elaborate(platform)
        top._MustUse__used = True  # elaborated here, so that the harness can read the core's strobes
        core = inner.submodules.core
        m.submodules.top = inner
        m.d.comb += top.trace.tready.eq(AnySeq(1))
        h = manager(m, top.bus)
        subordinate(m, h)
        bus = top.bus

        # ---- writes: exactly the strobe of the register hit, only while idle ----
        wa, wd = bus.awaddr, bus.wdata
        aligned = wa[:2] == 0
        idle = ~core.busy
        strobes = {
            "WEIGHTS": core.load_en,
            "SEEDS": core.load_seed,
            "VISIBLE": core.load_vis,
            "BETA": core.wr_beta,
            "INPUT": core.wr_input,
            "STEPS": core.wr_steps,
            "SWEEPS": core.wr_sweeps,
            "CTRL": core.start,
            "ROTATE": core.rotate,
        }
        writable = [r for r in rm.registers if "w" in r.access]
        if sorted(strobes) != sorted(r.name for r in writable):
            raise AssertionError(f"writable registers {[r.name for r in writable]} are not the checked {list(strobes)}")
        ctrl = h.aw & idle & aligned & (wa == rm["CTRL"].offset)
        m.d.comb += Assert(core.trace_en == (ctrl & wd[1]), "CTRL.trace")
        for r in writable:
            hit = h.aw & idle & _in(wa, r)
            want = hit & wd[0] if r.name == "CTRL" else hit
            with m.If(~aligned):  # an unaligned address: this register's strobe or none
                m.d.comb += Assert(~strobes[r.name] | want, f"{r.name}: unaligned")
            with m.If(aligned):
                m.d.comb += Assert(strobes[r.name] == want, f"{r.name} strobe")
        # the load data is the whole word; the window indices as the map documents them
        bits = lattice_fields(cfg, plan)
        for name, reg in (("WEIGHTS", rm["WEIGHTS"]), ("VISIBLE", rm["VISIBLE"]), ("SEEDS", rm["SEEDS"])):
            word = (wa - reg.offset)[2:]
            if name == "WEIGHTS":
                lane, addr = bits["lane"], bits["addr"]
                want = [
                    (core.load_unit, word >> (lane + addr)),
                    (core.load_addr, (word >> lane)[:addr]),
                    (core.load_lane, word[:lane] if lane else Const(0)),
                ]
            elif name == "VISIBLE":
                want = [(core.load_unit, word >> bits["vis"]), (core.load_addr, word[: bits["vis"]])]
            else:
                want = [(core.load_unit, word)]
            with m.If(strobes[name]):
                m.d.comb += Assert(core.load_data == wd, f"{name}: the whole word")
                for got, value in want:
                    m.d.comb += Assert(got == value, f"{name}: index")
        for name in ("BETA", "INPUT"):
            with m.If(strobes[name]):
                word = (wa - rm[name].offset)[2:]
                m.d.comb += [Assert(core.load_data == wd), Assert(core.wr_addr == word, f"{name}: index")]
        for name, reg, most in (
            ("STEPS", core.steps, cfg.schedule.steps),
            ("SWEEPS", core.sweeps, cfg.schedule.sweeps),
        ):
            wrote = held(m, strobes[name], f"h_{name}_written")
            data = held(m, wd, f"h_{name}_data")
            clamped = Mux(data == 0, 1, Mux(data > most, most, data))
            with m.If(wrote):
                m.d.comb += Assert(reg == clamped, f"{name} takes the clamped word")

        # ---- reads: holes and write-only registers read 0, constants and live registers as mapped ----
        ra = bus.araddr
        readable = [r for r in rm.registers if "r" in r.access]
        hole = ~Cat(*(_in(ra, r) for r in readable)).any()
        known = {
            "ID": MAGIC,
            "VERSION": LATTICE_REGMAP_VERSION,
            "CELLS": plan.graph.n,
            "SHAPE": plan.n_units | plan.chains << 16,
            "RING": plan.ring,
            "STATUS": Cat(core.busy, core.done),
            "STEPS": core.steps,
            "SWEEPS": core.sweeps,
        }
        value = Signal(32, name="h_read_value")
        checked = Signal(name="h_read_checked")
        m.d.comb += checked.eq(hole)
        for name, v in known.items():
            with m.If(ra == rm[name].offset):
                m.d.comb += [value.eq(v), checked.eq(1)]
        expect = Signal(32, name="h_rdata_expected")
        check = Signal(name="h_rdata_checked")
        with m.If(h.ar):
            m.d.sync += [expect.eq(value), check.eq(checked)]
        m.d.comb += Assert(~(bus.rvalid & check) | (bus.rdata == expect), "RDATA as the register map says")

        if self.covers:
            read_addr = Signal.like(ra, name="h_read_addr")
            with m.If(h.ar):
                m.d.sync += read_addr.eq(ra)
            steps_one = Signal(name="h_wrote_steps_1")
            with m.If(h.aw):
                m.d.sync += steps_one.eq((wa == rm["STEPS"].offset) & (wd == 1))
            m.d.comb += [
                Cover(h.b & steps_one),
                Cover(h.r & (read_addr == rm["ID"].offset) & (bus.rdata == MAGIC)),
                Cover(h.r & (read_addr == rm["STEPS"].offset) & (bus.rdata == 1) & (cfg.schedule.steps != 1)),
            ]
        return m
