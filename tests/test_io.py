"""Model files: every malformed input is one line naming the file and field, exit 1, no partial output."""

from __future__ import annotations

import numpy as np
import pytest

from pbitgen.cli import main
from pbitgen.errors import PbitgenError
from pbitgen.model.graph import graph_from_arrays
from pbitgen.model.io import IsingModel, load_ising, read_npz, save_ising


def good_arrays() -> dict[str, np.ndarray]:
    g = graph_from_arrays(4, [(0, 1), (1, 2), (2, 3), (0, 3)])
    return {
        "edges": g.edges,
        "J": np.array([0.5, -0.2, 0.1, 0.3]),
        "h": np.array([0.1, 0.0, -0.1, 0.2]),
        "beta": np.array(1.0),
        "colors": g.colors,
    }


def write(tmp_path, **changes) -> str:
    a = good_arrays()
    a.update(changes)
    for k in [k for k, v in a.items() if v is None]:
        del a[k]
    p = tmp_path / "m.npz"
    np.savez(p, **a)
    return str(p)


def test_round_trip(tmp_path):
    a = good_arrays()
    m = IsingModel(graph_from_arrays(4, a["edges"], a["colors"]), a["J"], a["h"], 1.0)
    save_ising(tmp_path / "x.npz", m)
    back = load_ising(tmp_path / "x.npz")
    assert np.array_equal(back.graph.edges, m.graph.edges) and np.array_equal(back.J, m.J) and back.beta == 1.0


def test_edges_in_any_order_keep_their_couplings(tmp_path):
    p = write(tmp_path, edges=np.array([[3, 0], [2, 3], [1, 0], [1, 2]]), J=np.array([0.3, 0.1, 0.5, -0.2]))
    m = load_ising(p)
    assert m.graph.edges.tolist() == [[0, 1], [0, 3], [1, 2], [2, 3]]
    assert m.J.tolist() == [0.5, 0.3, -0.2, 0.1]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"J": None}, r"field 'J' is missing; expected arrays edges, J, h, beta, colors"),
        ({"J": np.array([0.5, np.nan, 0.1, 0.3])}, r"field 'J' must be finite, but holds 1 NaN/inf values"),
        ({"J": np.ones(3)}, r"field 'J' must have shape \(4,\), not \(3,\)"),
        ({"J": np.ones(4, dtype=np.int32)}, r"field 'J' must hold floats, not int32"),
        ({"h": np.ones((2, 2))}, r"field 'h' must have shape \(N,\), not \(2, 2\)"),
        (
            {"edges": np.array([[0, 1], [1, 2], [2, 3], [0, 9]])},
            r"field 'edges' row 3 = \(0, 9\) is out of range \[0, 4\)",
        ),
        ({"edges": np.array([[0, 1], [1, 2], [2, 2], [0, 3]])}, r"field 'edges' row 2 = \(2, 2\) is a self-loop"),
        ({"edges": np.array([[0, 1], [1, 0], [2, 3], [0, 3]])}, r"field 'edges' holds the edge \(0, 1\) twice"),
        ({"edges": np.array([0.0, 1.0])}, r"field 'edges' must have shape \(E, 2\), not \(2,\)"),
        (
            {"colors": np.array([0, 0, 1, 1])},
            r"field 'colors' is not a proper colouring: edge \(0, 1\) joins two nodes of colour 0",
        ),
        ({"colors": np.array([0, 1, 0])}, r"field 'colors' must have shape \(4,\), not \(3,\)"),
        ({"beta": np.array([1.0, 2.0])}, r"field 'beta' must have shape \(\), not \(2,\)"),
        ({"beta": np.array(-1.0)}, r"field 'beta' must be >= 0, not -1\.0"),
    ],
)
def test_malformed_model_files(tmp_path, changes, message):
    p = write(tmp_path, **changes)
    with pytest.raises(PbitgenError, match=r"^" + p.replace(".", r"\.") + ": " + message + "$"):
        load_ising(p)


def test_pickled_arrays_are_refused(tmp_path):
    p = write(tmp_path, J=np.array([{"evil": 1}, 2, 3, 4], dtype=object))
    with pytest.raises(PbitgenError, match=r"field 'J' holds pickled objects; only plain arrays are read$"):
        load_ising(p)


def test_optional_arrays_are_read_where_present_and_checked_like_the_rest(tmp_path):
    np.savez(tmp_path / "with.npz", a=np.arange(3), b=np.int64(7))
    np.savez(tmp_path / "without.npz", a=np.arange(3))
    both = read_npz(tmp_path / "with.npz", ("a",), optional=("b",))
    assert sorted(both) == ["a", "b"] and int(both["b"]) == 7
    assert sorted(read_npz(tmp_path / "without.npz", ("a",), optional=("b",))) == ["a"]
    np.savez(tmp_path / "pickled.npz", a=np.arange(3), b=np.array([{"x": 1}], dtype=object))
    with pytest.raises(PbitgenError, match=r"pickled\.npz: field 'b' holds pickled objects"):
        read_npz(tmp_path / "pickled.npz", ("a",), optional=("b",))


def test_truncated_and_foreign_files(tmp_path):
    p = write(tmp_path)
    data = open(p, "rb").read()
    t = tmp_path / "t.npz"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(PbitgenError, match=r"t\.npz: "):
        load_ising(t)
    txt = tmp_path / "x.npz"
    txt.write_text("hello")
    with pytest.raises(PbitgenError, match=r"x\.npz: not a readable \.npz file"):
        load_ising(txt)
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(PbitgenError, match=r"a\.npy: not an \.npz archive"):
        load_ising(npy)
    with pytest.raises(PbitgenError, match=r"nope\.npz: no such file$"):
        load_ising(tmp_path / "nope.npz")
    with pytest.raises(PbitgenError, match=r"is a directory"):
        load_ising(tmp_path)


@pytest.mark.parametrize("golden", [False, True])
def test_cli_bad_model_one_line_no_output(tmp_path, capsys, golden):
    p = write(tmp_path, J=np.array([0.5, np.inf, 0.1, 0.3]))
    out = tmp_path / "out.npz"
    argv = ["sample", "--model", p, "--chains", "4", "--sweeps", "2", "--out", str(out)] + (
        ["--golden"] if golden else []
    )
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pbitgen: error: ") and "field 'J'" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "m.npz"]


def test_cli_impossible_format(tmp_path, capsys):
    p = write(tmp_path)
    out = tmp_path / "out.npz"
    argv = [
        "sample",
        "--model",
        p,
        "--golden",
        "--out",
        str(out),
        "--set",
        "formats.coupling.frac=9",
        "--set",
        "formats.coupling.width=8",
    ]
    assert main(argv) == 1
    assert capsys.readouterr().err == "pbitgen: error: --set: formats.coupling.frac must be less than width 8, not 9\n"
    assert not out.exists()


def test_cli_golden_sample_writes_samples_and_config(tmp_path, capsys):
    p = write(tmp_path)
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", p, "--golden", "--chains", "500", "--sweeps", "10", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as z:
        s = z["samples"]
    assert s.shape == (500, 4) and s.dtype == np.int8 and set(np.unique(s)) <= {-1, 1}
    assert (tmp_path / "s.config.json").exists()
    text = capsys.readouterr().out
    assert "golden model" in text and "max |error|" in text
