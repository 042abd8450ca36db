"""(b) No adder or accumulator on a lattice unit's update path overflows, for any weights the formats admit.

The harness wraps one real :class:`~pbitgen.gen.lattice.LatticeUnit` (unpipelined, ``array.stages = 1``:
the datapath is then one combinational block from the unit's operand registers, with the same widths
at every depth; every input free) and reads its nets by name: the registered weight word (``word``), neighbour taps
(``taps_r``), x^t and visible bits (``x_r``, ``op2_b``), beta (``op3_b``), the input term's candidates
(``iota_p``, ``iota_n``, registered from the step's ``w``), every adder of the coupling tree
(``sum<level>_<i>``), the field (``gamma``), the scaled field (``q``), the table index before its clamp
(``idx``) and the table address (``tab_addr``).

Assumed: the weight word is one the loader can write (:func:`~pbitgen.gen.lattice.unit_weights`): its
``D`` couplings are any values of the coupling format, and its stored bias is ``h' = h - sum_k J_k`` for
some ``h`` of the bias format (aligned to the field's fraction bits). Beta, ``w`` and the flag bits are any
values of their formats (their wires are exactly as wide).

Asserted, against sums computed at 2 x ``MAX_SCALED_WIDTH`` bits: every adder of the tree equals the
exact sum of its couplings, ``gamma = h' + 2 sum_{b_k = 1} J_k``, the input candidates equal the exact
``+-w`` terms, ``q`` and ``idx`` equal the exact scaled field and index, and the table address is the
golden model's :func:`~pbitgen.model.lattice_golden.folded_index` of the exact field and input term, so
no net on the path wraps. k-induction (the base case starts from the power-on registers; the induction
step lets every register hold any admitted value).
"""

from __future__ import annotations

from amaranth import Const, Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume

from pbitgen.config import MAX_SCALED_WIDTH, Config
from pbitgen.gen.lattice import LatticeUnit, word_layout
from pbitgen.model import fixed, lfsr
from pbitgen.model.lattice import LatticePlan

from .runner import open_up

WIDE = signed(2 * MAX_SCALED_WIDTH)


def tree_nodes(n: int) -> dict[str, list[int]]:
    """The terms each adder of :class:`LatticeUnit`'s coupling tree sums, by net name: a balanced tree of
    two-input adders over consecutive pairs, an odd term carried to the next level."""
    terms = [[k] for k in range(n)]
    nodes, level = {}, 0
    while len(terms) > 1:
        pairs = []
        for i in range(0, len(terms) - 1, 2):
            nodes[f"sum{level}_{i // 2}"] = pairs_terms = terms[i] + terms[i + 1]
            pairs.append(pairs_terms)
        terms = [*pairs, *terms[len(pairs) * 2 :]]
        level += 1
    return nodes


class DatapathHarness(Elaboratable):
    """One unit of ``cfg`` (at ``array.stages = 1``) with the module docstring's assumptions and checks."""

    def __init__(self, cfg: Config, unit: int = 0) -> None:
        if cfg.array.stages != 1:  # the widths do not depend on the depth; the harness reads one block
            d = cfg.to_dict()
            d["array"]["stages"] = 1
            cfg = Config.from_dict(d)
        self.cfg = cfg
        self.plan = plan = LatticePlan(cfg)
        state = lfsr.first_state(cfg.rng.seed, unit, cfg.rng.draw_bits)
        self.unit = LatticeUnit(cfg, plan, unit, [], [], state)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, f = self.cfg, self.plan, self.cfg.formats
        if plan.pipeline_cuts != {k: 0 for k in plan.pipeline_cuts}:
            raise ValueError("the datapath harness needs array.stages = 1")
        dut, net = open_up(self.unit)
        m.submodules.dut = dut
        unit = self.unit
        for name in ("issue", "init", "shift", "copy", "load", "load_seed", "load_vis", "fetch", "latch"):
            m.d.comb += getattr(unit, name).eq(AnySeq(1))
        wide_inputs = ("slot", "bank", "frow", "fslot", "beta", "w", "wrap_a", "wrap_b", "nbr", "tab_data")
        for name in (*wide_inputs, "load_addr", "load_lane"):
            port = getattr(unit, name)
            m.d.comb += port.eq(AnySeq(len(port)))
        m.d.comb += unit.load_data.eq(AnySeq(32))

        def wide(v: Value) -> Value:
            return v.as_signed() if isinstance(v, Value) and not v.shape().signed else v

        ff, deg = cfg.field_frac, plan.degree
        lay = word_layout(cfg, plan)
        cw = f.coupling.width
        word, taps = net["word"], net["taps_r"]
        x, vis, beta = net["x_r"], net["op2_b"], net["op3_b"]
        bias = word[: lay["bias"]].as_signed()
        couplings = [word[lay["coupling"] + k * cw :][:cw].as_signed() for k in range(deg)]

        # ---- the admitted weight words ----
        h = Signal(signed(f.bias.width), name="h_bias")
        m.d.comb += h.eq(AnySeq(signed(f.bias.width)))
        aligned = [Signal(WIDE, name=f"h_j{k}") for k in range(deg)]
        for k in range(deg):
            m.d.comb += aligned[k].eq(couplings[k] << (ff - f.coupling.frac))
        stored = Signal(WIDE, name="h_stored_bias")
        m.d.comb += stored.eq((h << (ff - f.bias.frac)) - sum(aligned, Const(0, WIDE)))
        m.d.comb += Assume(bias == stored)

        # ---- the coupling tree and the field ----
        terms = [Signal(WIDE, name=f"h_term{k}") for k in range(deg)]
        for k in range(deg):
            m.d.comb += terms[k].eq(Mux(taps[k], couplings[k], 0))
        for name, members in tree_nodes(deg).items():
            total = Signal(WIDE, name=f"h_{name}")
            m.d.comb += total.eq(sum((terms[k] for k in members), Const(0, WIDE)))
            m.d.comb += Assert(wide(net[name]) == total, f"{name} wraps")
        sum_j = Signal(WIDE, name="h_sum_j")
        m.d.comb += sum_j.eq(sum(terms, Const(0, WIDE)))
        gamma = Signal(WIDE, name="h_gamma")
        m.d.comb += gamma.eq(bias + (sum_j << (ff - f.coupling.frac + 1)))
        m.d.comb += Assert(net["gamma"] == gamma, "gamma wraps")

        # ---- the input term: the candidates registered from the clock before's w ----
        lut = fixed.lut_offset(cfg)
        scaled = cfg.schedule.beta_scales_input
        w_before = Signal(signed(f.input.width), name="h_w_before")
        started = Signal(name="h_started")
        m.d.sync += [w_before.eq(net["w_bc"]), started.eq(1)]
        w_al = Signal(WIDE, name="h_w_aligned")
        m.d.comb += w_al.eq(w_before << (ff - f.input.frac))
        for cand, v in ((net["iota_p"], w_al), (net["iota_n"], -w_al)):
            want = v if scaled else (v << 1) + 2 * lut + 1
            with m.If(started):
                m.d.comb += Assert(cand == want, f"{cand.name} wraps")
        iota = Signal(WIDE, name="h_iota")  # the input term in field units (+-w on visible cells)
        m.d.comb += iota.eq(Mux(vis, Mux(x, w_al, -w_al), 0))

        with m.If(started):
            want = iota if scaled else (iota << 1) + 2 * lut + 1
            m.d.comb += Assert(net["iota"] == want, "the input term")

        # ---- product, index, table address (the golden model's folded_index) ----
        # The exact product of beta and the unit's own field (just proven exact): Amaranth's product is as
        # wide as its operands together, so this multiplier cannot wrap, and it is the one the unit builds
        # (a second multiplier at another width would cost the solver an equivalence proof).
        fb = f.beta.frac
        prod = Signal(WIDE, name="h_product")
        m.d.comb += prod.eq(beta * (net["gamma"] + net["iota"] if scaled else net["gamma"]))
        q = Signal(WIDE, name="h_q")
        m.d.comb += q.eq((prod >> (fb - 1)) if fb else (prod << 1))
        idx = Signal(WIDE, name="h_idx")
        m.d.comb += idx.eq(q + (2 * lut + 1 if scaled else (iota << 1) + 2 * lut + 1))
        clipped = Signal(WIDE, name="h_index")
        q_golden = q if scaled else q + (iota << 1)
        m.d.comb += clipped.eq(
            Mux(q_golden < -2 * lut - 1, -2 * lut - 1, Mux(q_golden > 2 * lut - 2, 2 * lut - 2, q_golden)) + 2 * lut + 1
        )
        with m.If(started):
            m.d.comb += [
                Assert(net["q"] == q, "q wraps"),
                Assert(net["idx"] == idx, "idx wraps"),
                Assert(unit.tab_addr == clipped, "table address is not folded_index"),
            ]
        return m
