"""One loader for every ``--model``: a single Boltzmann machine (``.npz`` file) or a DTM model folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pbitgen.errors import PbitgenError

from .io import IsingModel, load_ising

if TYPE_CHECKING:
    from pbitgen.trainer.dtm import DTM


def load_model(path: str | Path) -> IsingModel | DTM:
    """Load ``path``: a folder is a DTM (:func:`pbitgen.trainer.dtm.load_dtm`), a file a single machine
    (:func:`pbitgen.model.io.load_ising`). Returns either model type."""
    path = Path(path)
    if path.is_dir():
        from pbitgen.trainer.dtm import load_dtm  # the trainer's modules load only for DTM folders

        return load_dtm(path)
    if not path.exists():
        raise PbitgenError(f"{path}: no such model file or folder")
    return load_ising(path)
