"""The mutation score (``pbitgen mutate``, :mod:`pbitgen.sim.mutate`): the structural equivalence check on
a netlist small enough to reason about, where a mutant is reported, the command's report and refusals, and
the bench over mutants on a 16-cell design, chosen to be caught two ways (a wrong spin on the trace, a bus
that never answers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbitgen.cli import main
from pbitgen.config import Config
from pbitgen.sim import mutate
from pbitgen.sim.tools import missing

from .test_toolchain import IN_CI

ROOT = Path(__file__).resolve().parents[1]

#: a 4-bit sum computed by an 8-bit adder: the adder's upper input bits are read by nothing
ADDER = """
module pbitgen_top(input wire [7:0] a, input wire [7:0] b, output wire [3:0] y);
  assign y = a + b;
endmodule
"""

#: the 16-cell design of the flow test: 4x4 G4 torus, one tile of 4 units, one step of 2 sweeps
TINY = Config().replace(
    graph={"kind": "grid", "side": 4, "pattern": "G4", "torus": True},
    schedule={"steps": 1, "sweeps": 2},
    array={"tiles": 1, "cells_per_unit": 4},
)


def need_verilator() -> None:
    why = missing("verilator")
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)


def adder_mutants(tmp_path: Path, only: str) -> tuple[Path, list[mutate.Mutant]]:
    (tmp_path / "design.v").write_text(ADDER)
    mutate.yosys(
        f"read_verilog design.v; {mutate.PREPARE.format(top='pbitgen_top')}; write_rtlil prepared.il", tmp_path, "p.log"
    )
    prepared = tmp_path / "prepared.il"
    return prepared, mutate.draw(prepared, 1, 1, ROOT, f"-mode inv {only}")


def test_a_mutant_of_a_bit_nothing_reads_is_proved_equivalent(tmp_path):
    prepared, mutants = adder_mutants(tmp_path, "-port A -portbit 6")
    assert "$add" in mutants[0].cell
    assert mutate.equivalent(prepared, mutants[0], tmp_path)


COMPARE = """
module pbitgen_top(input wire [1:0] k, output wire y);
  assign y = k == 2'd1;
endmodule
"""


def test_a_comparison_the_fault_changes_goes_through_the_prover_and_is_not_proved(tmp_path):
    """``k == 1`` with the constant's bit 1 tied to 0 (what it is already) is equivalent; k's bit 1 xor-ed
    with bit 0 (cnot1) makes k = 3 compare equal and k = 1 not: its cells stay (the output reads them), the
    prover runs over their cone and must not prove it."""
    (tmp_path / "design.v").write_text(COMPARE)
    script = f"read_verilog design.v; {mutate.PREPARE.format(top='pbitgen_top')}; write_rtlil prepared.il"
    mutate.yosys(script, tmp_path, "p.log")
    prepared = tmp_path / "prepared.il"
    (same,) = mutate.draw(prepared, 1, 1, ROOT, "-mode const0 -port B -portbit 1")
    assert mutate.equivalent(prepared, same, tmp_path)
    (wrong,) = mutate.draw(prepared, 1, 1, ROOT, "-mode cnot1 -port A -portbit 1")
    assert not mutate.equivalent(prepared, wrong, tmp_path)
    assert "Of those cells" in (tmp_path / "equivalent.log").read_text()  # the prover ran, not a shortcut


def test_a_mutant_of_a_bit_the_output_reads_is_not_equivalent(tmp_path):
    """The check must not clear a real fault: the adder's low input bits reach the output."""
    prepared, mutants = adder_mutants(tmp_path, "-port A -portbit 1")
    assert "$add" in mutants[0].cell
    assert not mutate.equivalent(prepared, mutants[0], tmp_path)


def test_where_names_the_generator_line_or_the_hierarchy():
    assert mutate.where(r"tile2.unit8.coupling$51", [f"{ROOT}/gen/unit.py:89"], ROOT) == "gen/unit.py:89"
    cell = r"$flatten\tile2.\unit8.$procmux$31066"
    assert mutate.where(cell, ["design.v:16516.9-16516.23"], ROOT) == "tile2.unit8: procmux at design.v:16516"
    assert mutate.where("$procmux$33087", ["design.v:682.151-682.151"], ROOT) == "pbitgen_top: procmux at design.v:682"
    assert mutate.where("$add$design.v:3$1", ["design.v:3.21-3.42"], ROOT) == "pbitgen_top: add at design.v:3"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """One flow on the tiny design: 2 trace bits inverted (a wrong spin), the bus's write-address ready
    held low (no write ever ends: the bench times out and a fresh simulation takes the rest), 1 more trace
    bit."""
    need_verilator()
    out = tmp_path_factory.mktemp("mutate")
    design = out / "design"
    from pbitgen.gen.build import generate

    generate(TINY, design, src=True)
    prepared = mutate.prepare(design, out)
    trace = mutate.draw(prepared, 3, 1, ROOT, "-wire trace__tdata -mode inv")
    bus = mutate.draw(prepared, 1, 1, ROOT, "-wire bus__awready -mode const0")
    mutants = []
    for m in [*trace[:2], *bus, trace[2]]:
        index = len(mutants) + 1
        mutants.append(mutate.Mutant(index, m.mode, m.cell, m.where, m.command))
    lines = [m.command.replace("mutate ", f"mutate -ctrl {mutate.MUTSEL} 3 {m.index} ", 1) for m in mutants]
    (out / "list.ys").write_text("\n".join(lines) + "\n")
    mdesign = mutate.mutant_design(design, prepared)
    from pbitgen.sim import runner

    b = runner.build(mdesign, "verilator", out / "builds")
    jobs = mutate.bench_jobs(TINY, mdesign.resolve(), out, 1)
    ticks: list[bool] = []
    verdicts = mutate.run(b, jobs, mutants, out, ticks.append)
    return {"out": out, "mutants": mutants, "verdicts": verdicts, "ticks": ticks}


def test_every_mutant_gets_one_verdict_and_the_unmutated_design_passes(tiny):
    assert sorted(tiny["verdicts"]) == [0, 1, 2, 3, 4]
    assert tiny["verdicts"][0] == (False, "")
    assert len(tiny["ticks"]) == 4


def test_a_wrong_spin_on_the_trace_is_caught_by_the_scoreboard(tiny):
    for k in (1, 2, 4):
        killed, message = tiny["verdicts"][k]
        assert killed and "expected" in message and "got" in message, message


def test_a_bus_that_never_answers_times_out_and_a_fresh_simulation_takes_the_rest(tiny):
    killed, message = tiny["verdicts"][3]
    assert killed and "TimeoutError" in message, message  # the player's own limit or the job's (SimTimeoutError)
    runs = sorted(p.name for p in tiny["out"].glob("run*"))
    assert runs == ["run000", "run001"]  # mutant 4 ran in the second simulation
    lines = [json.loads(ln) for ln in (tiny["out"] / "run001" / "verdicts.jsonl").read_text().splitlines()]
    assert lines == [{"start": 4}, {**lines[1], "mutant": 4}]


def test_the_command_prints_the_summary_score_and_every_survivor(tmp_path, capsys, monkeypatch):
    survivor = {"index": 7, "mode": "inv", "cell": "c", "where": "gen/unit.py:89", "command": "mutate"}
    summary = {"killed": 5, "equivalent": 2, "survived": 1, "mutants": 8, "score_percent": 83.3, "seconds": 1.0,
               "survivors": [survivor]}  # fmt: skip
    seen = {}

    def fake(out, n, seed, cfg=None, design=None):
        seen.update(n=n, seed=seed, cfg=cfg)
        return summary

    monkeypatch.setattr(mutate, "score", fake)
    assert (
        main(["mutate", "--mutants", "8", "--seed", "3", "--set", "array.cells_per_unit=2", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "mutation score: 5 of 6 non-equivalent mutants killed (83.3 %); 2 proved equivalent" in out
    assert "survived: mutant 7: inv at gen/unit.py:89" in out
    assert seen["n"] == 8 and seen["seed"] == 3
    assert seen["cfg"].graph.side == 8 and seen["cfg"].array.cells_per_unit == 2  # the small design, --set applied


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--design", "nowhere"], "--design nowhere: has no pbitgen_top.v"),
        (["--design", ".", "--set", "array.tiles=2"], "expected no --config or --set with it"),
        (["--mutants", "70000"], "--mutants 70000: expected 1 to 65536"),
        (["--mutants", "0"], "--mutants 0: expected 1 to 65536"),
        (["--seed", "4294967296"], "expected at most 2147483647"),
    ],
)
def test_bad_arguments_get_one_line(tmp_path, capsys, extra, expected):
    assert main(["mutate", "--out", str(tmp_path / "m"), *extra]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "m").exists()
