"""`pbitgen fpga`: a tiny design through Yosys and nextpnr (slow), and the one-line errors (fast)."""

from __future__ import annotations

import json

import pytest

from pbitgen.cli import main
from pbitgen.errors import PbitgenError
from pbitgen.gen.fpga import DEVICES, failure_reason, nextpnr_args, parse_report, place_and_route

#: 16 cells in one update unit, narrow formats, a one-entry-per-step sigmoid: about 1,100 LUTs on ECP5
TINY = [
    "--random-weights",
    "--grid",
    "4",
    "--pattern",
    "G8",
    "--torus",
    "--steps",
    "1",
    "--sweeps",
    "2",
    "--cells-per-unit",
    "16",
    "--set",
    "formats.lut_range=1",
    "--set",
    "formats.coupling={width=4,frac=2}",
    "--set",
    "formats.bias={width=5,frac=2}",
    "--set",
    "formats.input={width=4,frac=2}",
    "--set",
    "formats.beta={width=4,frac=2,signed=false}",
    "--set",
    "rng.kind=xorshift32",
    "--set",
    "rng.draw_bits=8",
]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.slow
def test_tiny_design_places_and_routes(tmp_path, capsys):
    out, figures = tmp_path / "run", tmp_path / "fpga.json"
    argv = ["fpga", *TINY, "--device", "ecp5-25k", "--freq", "50", "--out", str(out), "--json", str(figures)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "synthesis finished in" in printed and "place and route finished in" in printed
    assert "flips/ns per 1k LUTs" in printed
    assert (out / "design" / "pbitgen_top.v").is_file() and (out / "report.json").is_file()
    r = json.loads(figures.read_text())
    assert r["device"] == "ecp5-25k" and r["target_mhz"] == 50 and r["seed"] == 1 and r["router"] == "router2"
    assert (r["cells"], r["units"], r["stages"], r["routed"]) == (16, 1, 1, True)
    assert 0 < r["luts"] <= r["lut_sites"] and r["ffs"] > 0 and r["fmax_mhz"] > 0
    assert r["flips_per_clock"] == pytest.approx(16 / 18)  # 16 cells in one unit: 16 clocks, drain, next sweep
    assert r["flips_per_ns"] == pytest.approx(r["flips_per_clock"] * r["fmax_mhz"] / 1000)
    assert r["flips_per_ns_per_klut"] == pytest.approx(r["flips_per_ns"] / (r["luts"] / 1000))
    assert r["utilisation_percent"] == pytest.approx(100 * r["luts"] / r["lut_sites"])
    assert not list(tmp_path.glob(".fpga.json.*"))  # the JSON's temporary file is gone


@pytest.mark.slow
def test_place_only_is_labelled_an_estimate(tmp_path, capsys):
    figures = tmp_path / "fpga.json"
    argv = [
        "fpga",
        *TINY,
        "--device",
        "ecp5-25k",
        "--place-only",
        "--out",
        str(tmp_path / "run"),
        "--json",
        str(figures),
    ]
    assert main(argv) == 0
    assert "Fmax (post-placement estimate, not routed)" in capsys.readouterr().out
    r = json.loads(figures.read_text())
    assert r["routed"] is False and r["fmax_mhz"] > 0 and 0 < r["luts"] <= r["lut_sites"]


def test_unknown_device_is_one_line(tmp_path, capsys):
    assert main(["fpga", "--design", str(tmp_path), "--device", "xc7a35t", "--out", str(tmp_path / "r")]) == 1
    err = error_line(capsys)
    assert "--device 'xc7a35t'" in err and "ecp5-85k" in err
    with pytest.raises(PbitgenError, match="unknown device"):
        place_and_route(tmp_path, "ice40-hx8k", tmp_path / "r")


def test_missing_design_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing"
    assert main(["fpga", "--design", str(missing), "--device", "ecp5-25k", "--out", str(tmp_path / "r")]) == 1
    assert f"{missing}: no pbitgen_top.v here" in error_line(capsys)
    assert not (tmp_path / "r").exists()  # nothing was run


def test_design_source_flags(tmp_path, capsys):
    assert main(["fpga", "--design", str(tmp_path), "--grid", "4", "--device", "ecp5-25k"]) == 1
    assert "--grid" in error_line(capsys)
    assert main(["fpga", "--device", "ecp5-25k", "--out", str(tmp_path)]) == 1
    assert "no design" in error_line(capsys)
    with pytest.raises(SystemExit):  # argparse: --design and --random-weights are exclusive
        main(["fpga", "--design", str(tmp_path), "--random-weights", "--device", "ecp5-25k"])


def test_nextpnr_arguments_and_bad_timeout(tmp_path, capsys):
    dev = DEVICES["ecp5-85k"]
    routed, placed = nextpnr_args(dev, 50, 3), nextpnr_args(dev, 50, 3, "router1", route=False)
    assert "--no-route" not in routed and routed[routed.index("--router") + 1] == "router2"
    assert "--no-route" in placed and placed[placed.index("--router") + 1] == "router1"
    assert main(["fpga", *TINY, "--device", "ecp5-25k", "--timeout", "0", "--out", str(tmp_path / "r")]) == 1
    assert "--timeout 0: expected a positive number of minutes" in error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_report_parsing():
    report = {
        "fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 42.5, "constraint": 100}},
        "utilization": {
            "ICESTORM_LC": {"available": 5280, "used": 890},
            "ICESTORM_RAM": {"available": 30, "used": 5},
        },
    }
    fig = parse_report(report, DEVICES["ice40-up5k"])
    assert fig["fmax_mhz"] == 42.5 and fig["lut"] == (890, 5280) and fig["bram"] == (5, 30) and fig["dsp"] == (0, 0)
    with pytest.raises(PbitgenError, match="no clock 'clk'"):
        parse_report({"fmax": {"other": {"achieved": 1}}, "utilization": {}}, DEVICES["ecp5-25k"])


def test_failure_reason_names_the_full_site():
    log = (
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    7414/   5280   140%\n"
        "Info: \t        ICESTORM_RAM:      20/     30    66%\n"
        "ERROR: Unable to place cell '" + "x_SB_LUT4" * 20 + "', no BELs remaining to implement cell type "
        "'ICESTORM_LC'\n1 warning, 1 error\n"
    )
    reason = failure_reason(log)
    assert reason.startswith("does not fit (ICESTORM_LC 7414/5280 used): ERROR: Unable to place cell")
    assert "\n" not in reason and len(reason) < 200
