"""AXI4-Lite slave that turns bus transactions into single-cycle register accesses.

Amaranth-soc is not installable here, so this is the project's own small bus block, shaped so that
cocotbext-axi's ``AxiLiteMaster`` (and any SoC interconnect) drives it: the signal names are the AXI4-Lite
ones (``awaddr``, ``awvalid``, ...), flattened by Amaranth as ``bus__awaddr`` etc.

Timing
------
* Write: when ``awvalid`` and ``wvalid`` are both high and no response is pending (or the pending one is
  taken in this cycle), both are accepted in the same cycle; ``w_en`` pulses for that cycle with
  ``w_addr``/``w_data``; ``bvalid`` rises on the next cycle and stays until ``bready``. A manager that
  keeps ``bready`` high writes one word per clock. ``wstrb`` is ignored: every write is a full 32-bit word.
* Read: when ``arvalid`` is high, no read data is pending and the register side does not hold reads off
  (``r_hold``: a write's effect still on its way), the address is accepted; ``r_addr`` shows it
  during that cycle and ``r_data`` (combinational from the register block) is captured, so ``rdata`` is
  valid with ``rvalid`` on the next cycle and stays until ``rready``.
* Responses are always OKAY.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite from the manager's side (flip it for a subordinate)."""

    def __init__(self, addr_width: int, data_width: int = 32) -> None:
        if not isinstance(addr_width, int) or addr_width < 2:
            raise TypeError(f"Address width must be an integer >= 2, not {addr_width!r}")
        super().__init__(
            {
                "awaddr": Out(addr_width),
                "awprot": Out(3),
                "awvalid": Out(1),
                "awready": In(1),
                "wdata": Out(data_width),
                "wstrb": Out(data_width // 8),
                "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(2),
                "bvalid": In(1),
                "bready": Out(1),
                "araddr": Out(addr_width),
                "arprot": Out(3),
                "arvalid": Out(1),
                "arready": In(1),
                "rdata": In(data_width),
                "rresp": In(2),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )


class AXI4StreamSignature(wiring.Signature):
    """AXI4-Stream, manager side: ``tdata``, ``tvalid``, ``tready``, ``tlast``."""

    def __init__(self, data_width: int = 32) -> None:
        super().__init__({"tdata": Out(data_width), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)})


class AXI4LiteSlave(wiring.Component):
    """Bus side ``bus``; register side ``w_en``/``w_addr``/``w_data`` and ``r_addr``/``r_data`` (byte
    addresses, word aligned)."""

    def __init__(self, addr_width: int) -> None:
        self.addr_width = addr_width
        super().__init__(
            {
                "bus": In(AXI4LiteSignature(addr_width)),
                "w_en": Out(1),
                "w_addr": Out(addr_width),
                "w_data": Out(32),
                "r_addr": Out(addr_width),
                "r_data": In(32),
                "r_hold": In(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bus = self.bus
        accept_w = Signal()
        m.d.comb += [
            accept_w.eq(bus.awvalid & bus.wvalid & (~bus.bvalid | bus.bready)),
            bus.awready.eq(accept_w),
            bus.wready.eq(accept_w),
            self.w_en.eq(accept_w),
            self.w_addr.eq(bus.awaddr),
            self.w_data.eq(bus.wdata),
            bus.bresp.eq(0),
            bus.rresp.eq(0),
        ]
        with m.If(accept_w):
            m.d.sync += bus.bvalid.eq(1)
        with m.Elif(bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        accept_r = Signal()
        m.d.comb += [
            accept_r.eq(bus.arvalid & ~bus.rvalid & ~self.r_hold),
            bus.arready.eq(accept_r),
            self.r_addr.eq(bus.araddr),
        ]
        with m.If(accept_r):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(self.r_data)]
        with m.Elif(bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m
