"""The small Boltzmann machine that ships as ``weights/ising16.npz`` for the demo.

Sixteen spins on a 4 x 4 grid with nearest-neighbour edges plus three diagonals, so that the graph has
triangles and needs three colours (the array is not limited to chessboards). Couplings J ~ N(0, 0.5),
biases h ~ N(0, 0.3), beta = 1, drawn with NumPy's default generator from seed 16: small enough for exact
enumeration, strongly coupled enough that a wrong sampler shows.
"""

from __future__ import annotations

import numpy as np

from pbitgen.config import GraphConfig

from .graph import build_graph, graph_from_arrays
from .io import IsingModel

SEED = 16
DIAGONALS = ((0, 5), (6, 11), (9, 14))


def ising16() -> IsingModel:
    grid = build_graph(GraphConfig(side=4, pattern="G4"))
    g = graph_from_arrays(16, np.concatenate([grid.edges, np.array(DIAGONALS)]))
    r = np.random.default_rng(SEED)
    return IsingModel(g, r.normal(0, 0.5, len(g.edges)), r.normal(0, 0.3, g.n), 1.0)
