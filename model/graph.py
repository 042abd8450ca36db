"""Sparse coloured graphs: the DTM grid family and arbitrary edge lists.

A :class:`Graph` is the structure every sampler and the generator share: ``n`` nodes, an ``(E, 2)``
edge array with ``i < j`` in lexicographic order, and a proper colouring (no edge joins two nodes of
one colour), so that all nodes of a colour can update at once (chromatic Gibbs).

Grid family (following the public replication): node ``(r, c)`` of an ``L x L`` grid has index
``r * L + c`` and colour ``(r + c) % 2``. Each jump ``(dx, dy)`` with ``dx + dy`` odd joins ``(r, c)`` to
``(r + d0, c + d1)`` for the four rotations ``(dx, dy), (-dy, dx), (-dx, -dy), (dy, -dx)``; on a torus the
offsets wrap, at an open boundary they are dropped. Duplicate edges (two jumps that land on the same
node after wrapping) are merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbitgen.config import GraphConfig


@dataclass(frozen=True, eq=False)
class Graph:
    """A properly coloured sparse graph.

    Attributes
    ----------
    n : int
        Number of nodes.
    edges : ndarray of shape (E, 2), int64
        Undirected edges, each ``(i, j)`` with ``i < j``, sorted, no duplicates.
    colors : ndarray of shape (n,), int64
        Colour of every node, in ``[0, n_colors)``; no edge joins two nodes of one colour.
    """

    n: int
    edges: np.ndarray
    colors: np.ndarray

    def __post_init__(self) -> None:
        check_edges(self.edges, self.n)
        check_coloring(self.edges, self.colors, self.n)

    @property
    def n_colors(self) -> int:
        return int(self.colors.max()) + 1 if self.n else 0

    @property
    def degree(self) -> np.ndarray:
        return np.bincount(self.edges.ravel(), minlength=self.n)

    @property
    def max_degree(self) -> int:
        return int(self.degree.max()) if len(self.edges) else 0

    def color_blocks(self) -> list[np.ndarray]:
        """Node indices of each colour, ascending: the update order of one sweep."""
        return [np.flatnonzero(self.colors == c) for c in range(self.n_colors)]

    def neighbors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Compressed adjacency: ``(ptr, nbr, eid)`` so that node ``i``'s neighbours are
        ``nbr[ptr[i]:ptr[i+1]]`` (ascending) joined by edges ``eid[...]`` (indices into ``edges``)."""
        e = len(self.edges)
        src = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        dst = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
        eid = np.concatenate([np.arange(e), np.arange(e)])
        order = np.lexsort((dst, src))
        ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=self.n), out=ptr[1:])
        return ptr, dst[order].astype(np.int64), eid[order].astype(np.int64)

    def padded_neighbors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense ``(n, max_degree)`` tables ``(nbr, eid, mask)`` for vectorised field sums; padded slots
        point at node 0 / edge 0 with ``mask`` False."""
        ptr, nbr, eid = self.neighbors()
        d = max(self.max_degree, 1)
        deg = np.diff(ptr)
        slot = np.arange(len(nbr)) - np.repeat(ptr[:-1], deg)
        row = np.repeat(np.arange(self.n), deg)
        tn = np.zeros((self.n, d), dtype=np.int64)
        te = np.zeros((self.n, d), dtype=np.int64)
        tm = np.zeros((self.n, d), dtype=bool)
        tn[row, slot], te[row, slot], tm[row, slot] = nbr, eid, True
        return tn, te, tm


def check_edges(edges: object, n: int) -> None:
    """Refuse edge arrays that are not ``(E, 2)`` integers in range, ``i < j``, sorted and unique."""
    if not isinstance(edges, np.ndarray) or edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must be an integer array of shape (E, 2), not {_shape(edges)}")
    if not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"edges must be integers, not {edges.dtype}")
    if len(edges) == 0:
        return
    bad = np.flatnonzero((edges < 0).any(1) | (edges >= n).any(1))
    if len(bad):
        raise ValueError(f"edges[{bad[0]}] = {tuple(edges[bad[0]].tolist())} is out of range [0, {n})")
    bad = np.flatnonzero(edges[:, 0] >= edges[:, 1])
    if len(bad):
        raise ValueError(f"edges[{bad[0]}] = {tuple(edges[bad[0]].tolist())} must have i < j")
    key = edges[:, 0] * n + edges[:, 1]
    bad = np.flatnonzero(np.diff(key) <= 0)
    if len(bad):
        raise ValueError(
            f"edges[{bad[0] + 1}] = {tuple(edges[bad[0] + 1].tolist())} is a duplicate or out of order "
            "(edges must be sorted and unique)"
        )


def check_coloring(edges: np.ndarray, colors: object, n: int) -> None:
    """Refuse a colouring that is not ``(n,)`` non-negative integers or that puts an edge in one colour."""
    if not isinstance(colors, np.ndarray) or colors.shape != (n,):
        raise ValueError(f"colors must be an integer array of shape ({n},), not {_shape(colors)}")
    if not np.issubdtype(colors.dtype, np.integer):
        raise ValueError(f"colors must be integers, not {colors.dtype}")
    if n and colors.min() < 0:
        raise ValueError(f"colors must be >= 0, not {int(colors.min())}")
    if n and len(np.unique(colors)) != int(colors.max()) + 1:
        raise ValueError("colors must use every colour from 0 to the largest (no gaps)")
    if len(edges):
        same = np.flatnonzero(colors[edges[:, 0]] == colors[edges[:, 1]])
        if len(same):
            i, j = edges[same[0]].tolist()
            raise ValueError(
                f"colors is not a proper colouring: edge ({i}, {j}) joins two nodes of colour {int(colors[i])}"
            )


def _shape(a: object) -> str:
    return f"shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__


def normalize_edges(pairs: np.ndarray | list, n: int) -> np.ndarray:
    """Turn any list of node pairs into the canonical sorted, unique ``i < j`` array (self-loops refused)."""
    e = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(e) and ((e < 0) | (e >= n)).any():
        k = int(np.flatnonzero(((e < 0) | (e >= n)).any(1))[0])
        raise ValueError(f"edges[{k}] = {tuple(e[k].tolist())} is out of range [0, {n})")
    if len(e) and (e[:, 0] == e[:, 1]).any():
        k = int(np.flatnonzero(e[:, 0] == e[:, 1])[0])
        raise ValueError(f"edges[{k}] = {tuple(e[k].tolist())} is a self-loop")
    e = np.sort(e, axis=1)
    return np.unique(e, axis=0) if len(e) else e


def grid_edges(side: int, jumps: tuple[tuple[int, int], ...], torus: bool) -> np.ndarray:
    """Edges of the DTM grid (see module docstring)."""
    r, c = np.divmod(np.arange(side * side), side)
    pairs = []
    for dx, dy in jumps:
        for d0, d1 in ((dx, dy), (-dy, dx), (-dx, -dy), (dy, -dx)):
            r2, c2 = r + d0, c + d1
            if torus:
                r2, c2 = r2 % side, c2 % side
                keep = np.ones_like(r2, dtype=bool)
            else:
                keep = (r2 >= 0) & (r2 < side) & (c2 >= 0) & (c2 < side)
            src = (r * side + c)[keep]
            dst = (r2 * side + c2)[keep]
            pairs.append(np.stack([src, dst], 1))
    return normalize_edges(np.concatenate(pairs) if pairs else np.zeros((0, 2)), side * side)


def dsatur(n: int, edges: np.ndarray) -> np.ndarray:
    """Colour a graph with DSATUR (Brélaz 1979): repeatedly colour the uncoloured node whose neighbours
    already use the most distinct colours (ties: highest degree, then lowest index) with the smallest free
    colour. Exact for bipartite graphs, and deterministic."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges.tolist():
        adj[i].append(j)
        adj[j].append(i)
    colors = np.full(n, -1, dtype=np.int64)
    seen: list[set[int]] = [set() for _ in range(n)]
    degree = [len(a) for a in adj]
    import heapq

    heap = [(0, -degree[i], i) for i in range(n)]
    heapq.heapify(heap)
    while heap:
        neg_sat, _, i = heapq.heappop(heap)
        if colors[i] >= 0 or -neg_sat != len(seen[i]):
            continue  # stale entry
        c = 0
        while c in seen[i]:
            c += 1
        colors[i] = c
        for j in adj[i]:
            if colors[j] < 0 and c not in seen[j]:
                seen[j].add(c)
                heapq.heappush(heap, (-len(seen[j]), -degree[j], j))
    return colors


def build_graph(cfg: GraphConfig) -> Graph:
    """The graph a :class:`~pbitgen.config.GraphConfig` describes, with its colouring (chessboard for
    grids, DSATUR for edge lists)."""
    if cfg.kind == "grid":
        edges = grid_edges(cfg.side, cfg.jump_list, cfg.torus)
        r, c = np.divmod(np.arange(cfg.nodes), cfg.side)
        return Graph(cfg.nodes, edges, ((r + c) % 2).astype(np.int64))
    edges = normalize_edges(np.asarray(cfg.edges, dtype=np.int64).reshape(-1, 2), cfg.n_nodes)
    colors = np.asarray(cfg.colors, dtype=np.int64) if cfg.colors else dsatur(cfg.n_nodes, edges)
    return Graph(cfg.n_nodes, edges, colors)


def graph_config(graph: Graph) -> GraphConfig:
    """The config that describes an arbitrary graph exactly (edges and colouring)."""
    return GraphConfig(
        kind="edges",
        n_nodes=graph.n,
        edges=tuple(map(tuple, graph.edges.tolist())),
        colors=tuple(graph.colors.tolist()),
    )


def graph_from_arrays(n: int, edges: np.ndarray, colors: np.ndarray | None = None) -> Graph:
    """A graph from user arrays: the edges are normalised, a colouring is computed when none is given and
    checked when one is."""
    e = normalize_edges(edges, n)
    return Graph(n, e, dsatur(n, e) if colors is None else np.asarray(colors))
