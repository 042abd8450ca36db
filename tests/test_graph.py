"""Graphs: the DTM grid family against an independent construction, colourings, edge-list graphs."""

from __future__ import annotations

import numpy as np
import pytest

from pbitgen.cli import main
from pbitgen.config import PATTERNS, GraphConfig
from pbitgen.model.graph import Graph, build_graph, dsatur, graph_from_arrays

from .util import random_graph


def neighbour_sets(side: int, jumps, torus: bool) -> list[set[int]]:
    """The replication's rule, node by node: (r, c) sees (r + d0, c + d1) for the 4 rotations of each jump."""
    out = []
    for r in range(side):
        for c in range(side):
            nb = set()
            for dx, dy in jumps:
                for d0, d1 in ((dx, dy), (-dy, dx), (-dx, -dy), (dy, -dx)):
                    r2, c2 = r + d0, c + d1
                    if torus:
                        r2, c2 = r2 % side, c2 % side
                    elif not (0 <= r2 < side and 0 <= c2 < side):
                        continue
                    nb.add(r2 * side + c2)
            out.append(nb)
    return out


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("side, torus", [(6, False), (8, True), (13, False), (30, True), (32, False)])
def test_grid_matches_replication_neighbour_sets(pattern, side, torus):
    cfg = GraphConfig(side=side, pattern=pattern, torus=torus)
    g = build_graph(cfg)
    expect = neighbour_sets(side, PATTERNS[pattern], torus)
    got = [set() for _ in range(g.n)]
    for i, j in g.edges.tolist():
        got[i].add(j)
        got[j].add(i)
    assert got == expect
    assert g.n_colors == 2
    r, c = np.divmod(np.arange(g.n), side)
    assert np.array_equal(g.colors, (r + c) % 2)


def test_interior_degree_is_four_per_jump():
    g = build_graph(GraphConfig(side=70, pattern="G12", torus=True))
    assert (g.degree == 12).all() and len(g.edges) == 70 * 70 * 6
    g = build_graph(GraphConfig(side=70, pattern="G12", torus=False))
    assert g.degree.max() == 12 and g.degree.min() < 12


def test_explicit_jumps_paper_g16():
    paper = ((0, 1), (4, 1), (8, 7), (14, 9))
    g = build_graph(GraphConfig(side=40, jumps=paper, torus=True))
    assert (g.degree == 16).all()
    assert g.n_colors == 2


def test_dsatur_colours_properly_and_bipartite_with_two():
    for seed in range(20):
        g = random_graph(30, 0.15, seed)
        assert (g.colors[g.edges[:, 0]] != g.colors[g.edges[:, 1]]).all()
    grid = build_graph(GraphConfig(side=10, pattern="G8"))
    assert dsatur(grid.n, grid.edges).max() == 1
    tri = graph_from_arrays(3, [(0, 1), (1, 2), (0, 2)])
    assert sorted(tri.colors.tolist()) == [0, 1, 2]


def test_improper_colouring_is_refused_naming_the_edge():
    with pytest.raises(
        ValueError, match=r"^colors is not a proper colouring: edge \(1, 2\) joins two nodes of colour 1$"
    ):
        Graph(3, np.array([[0, 1], [1, 2]]), np.array([0, 1, 1]))


def test_bad_edges_refused():
    with pytest.raises(ValueError, match=r"out of range"):
        graph_from_arrays(3, [(0, 5)])
    with pytest.raises(ValueError, match=r"self-loop"):
        graph_from_arrays(3, [(1, 1)])


def test_edge_config_builds_graph():
    cfg = GraphConfig(kind="edges", n_nodes=4, edges=((2, 1), (0, 1), (3, 2)))
    g = build_graph(cfg)
    assert g.edges.tolist() == [[0, 1], [1, 2], [2, 3]]
    assert cfg.max_degree == 2


def test_neighbor_tables_agree():
    g = random_graph(25, 0.2, 3)
    ptr, nbr, eid = g.neighbors()
    for i in range(g.n):
        for j, e in zip(nbr[ptr[i] : ptr[i + 1]], eid[ptr[i] : ptr[i + 1]], strict=True):
            assert sorted(g.edges[e].tolist()) == sorted([i, int(j)])
    _, _, tm = g.padded_neighbors()
    assert tm.sum() == 2 * len(g.edges)


def test_cli_graph_export(tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert main(["graph", "--grid", "8", "--pattern", "G8", "--torus", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == ["colors", "edges"]
        g = Graph(64, z["edges"], z["colors"])
    assert (g.degree == 8).all()
    assert "64 nodes" in capsys.readouterr().out


def test_cli_graph_bad_input(tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert main(["graph", "--grid", "7", "--torus", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "pbitgen: error: graph.side must be even on a torus (for a chessboard colouring), not 7"
    assert not out.exists()
