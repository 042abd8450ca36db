"""Reading and writing model and sample files: data only (no pickle), validated, written atomically.

A single Boltzmann machine is an ``.npz`` with arrays

=========  ===========  ===========================================================
key        shape        meaning
=========  ===========  ===========================================================
edges      (E, 2) int   node pairs, any order; stored canonically as i < j, sorted
J          (E,) float   coupling of each edge (in the order of ``edges``)
h          (N,) float   bias of each node
beta       () float     inverse temperature
colors     (N,) int     proper colouring (no edge inside one colour)
=========  ===========  ===========================================================

Every problem raises :class:`~pbitgen.errors.PbitgenError` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from pbitgen.errors import PbitgenError

from .graph import Graph, check_coloring

MODEL_KEYS = ("edges", "J", "h", "beta", "colors")


@dataclass(frozen=True, eq=False)
class IsingModel:
    """One Boltzmann machine: a coloured graph, couplings ``J`` (E,), biases ``h`` (N,) and ``beta``."""

    graph: Graph
    J: np.ndarray
    h: np.ndarray
    beta: float

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "edges": self.graph.edges,
            "J": self.J,
            "h": self.h,
            "beta": np.array(self.beta),
            "colors": self.graph.colors,
        }


def read_npz(path: str | Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load the named arrays of an ``.npz`` without pickle; missing keys and non-npz files are errors.
    The ``optional`` arrays (fields added to a format later) are read too where the file has them."""
    path = Path(path)
    if not path.exists():
        raise PbitgenError(f"{path}: no such file")
    if path.is_dir():
        raise PbitgenError(f"{path}: is a directory; expected an .npz model file")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
        if head.startswith(b"\x93NUMPY"):
            raise PbitgenError(f"{path}: not an .npz archive (a single .npy array?); expected arrays {', '.join(keys)}")
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise PbitgenError(
                f"{path}: not a readable .npz file: it is not a zip archive, so not what numpy.savez writes; "
                f"expected arrays {', '.join(keys)}"
            )
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise PbitgenError(f"{path}: not an .npz archive (a single .npy array?)")
        with z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise PbitgenError(f"{path}: field '{missing[0]}' is missing; expected arrays {', '.join(keys)}")
            out = {}
            for k in (*keys, *(k for k in optional if k in z.files)):
                try:
                    out[k] = z[k]
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise PbitgenError(
                            f"{path}: field '{k}' holds pickled objects; only plain arrays are read"
                        ) from None
                    raise PbitgenError(f"{path}: field '{k}' is unreadable: {e}") from None
                except (zipfile.BadZipFile, OSError, EOFError) as e:
                    raise PbitgenError(f"{path}: field '{k}' is truncated or corrupt: {e}") from None
            return out
    except PbitgenError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise PbitgenError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None


def _field(path: Path, key: str, msg: str) -> PbitgenError:
    return PbitgenError(f"{path}: field '{key}' {msg}")


def _check_array(path: Path, key: str, a: np.ndarray, kind: str, shape: tuple[int, ...]) -> None:
    ok_kind = np.issubdtype(a.dtype, np.integer) if kind == "int" else np.issubdtype(a.dtype, np.floating)
    if not ok_kind:
        want = "integers" if kind == "int" else "floats"
        raise _field(path, key, f"must hold {want}, not {a.dtype}")
    if a.shape != shape:
        raise _field(path, key, f"must have shape {shape}, not {a.shape}")
    if kind == "float" and not np.isfinite(a).all():
        raise _field(path, key, f"must be finite, but holds {np.count_nonzero(~np.isfinite(a))} NaN/inf values")


def load_ising(path: str | Path) -> IsingModel:
    """Load and validate a single-machine model file (see module docstring)."""
    path = Path(path)
    a = read_npz(path, MODEL_KEYS)
    h, edges = a["h"], a["edges"]
    if h.ndim != 1:
        raise _field(path, "h", f"must have shape (N,), not {h.shape}")
    n = len(h)
    if n == 0:
        raise _field(path, "h", "must hold at least one node")
    if edges.ndim != 2 or edges.shape[1:] != (2,):
        raise _field(path, "edges", f"must have shape (E, 2), not {edges.shape}")
    e = len(edges)
    _check_array(path, "edges", edges, "int", (e, 2))
    _check_array(path, "J", a["J"], "float", (e,))
    _check_array(path, "h", h, "float", (n,))
    _check_array(path, "beta", a["beta"], "float", ())
    _check_array(path, "colors", a["colors"], "int", (n,))
    beta = float(a["beta"])
    if beta < 0:
        raise _field(path, "beta", f"must be >= 0, not {beta!r}")
    edges = edges.astype(np.int64)
    bad = np.flatnonzero(((edges < 0) | (edges >= n)).any(1))
    if len(bad):
        raise _field(path, "edges", f"row {bad[0]} = {tuple(edges[bad[0]].tolist())} is out of range [0, {n})")
    bad = np.flatnonzero(edges[:, 0] == edges[:, 1])
    if len(bad):
        raise _field(path, "edges", f"row {bad[0]} = {tuple(edges[bad[0]].tolist())} is a self-loop")
    canon = np.sort(edges, axis=1)
    order = np.lexsort((canon[:, 1], canon[:, 0]))
    canon = canon[order]
    dup = np.flatnonzero((np.diff(canon, axis=0) == 0).all(1))
    if len(dup):
        raise _field(path, "edges", f"holds the edge {tuple(canon[dup[0]].tolist())} twice")
    colors = a["colors"].astype(np.int64)
    try:
        check_coloring(canon, colors, n)
    except ValueError as err:
        raise _field(path, "colors", str(err).removeprefix("colors ")) from None
    graph = Graph(n, canon, colors)
    return IsingModel(graph, a["J"].astype(np.float64)[order], h.astype(np.float64), beta)


#: Signals held back while a group of files is renamed into place, so that they appear together.
HELD_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

#: The files staged by :func:`written_together` (path -> temporary file), or None outside it.
_staged: dict[Path, Path] | None = None


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP until the block ends, so that a short sequence of renames is
    not cut in half: the first one that arrives is raised again afterwards. Works from the main thread,
    whichever thread the signal lands on; elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {}
    for num in HELD_SIGNALS:
        if signal.getsignal(num) not in (signal.SIG_IGN, None):
            old[num] = signal.signal(num, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)
        if caught:
            signal.raise_signal(caught[0])


def _publish(files: dict[Path, Path]) -> None:
    """Rename each temporary file onto its path, all or none: signals are held back, and if a rename fails
    the files already replaced get their old contents back (kept as hard links) or are removed."""
    with signals_held():
        backups: dict[Path, Path | None] = {}
        try:
            for path, tmp in files.items():
                backups[path] = None
                if path.exists():
                    old = tmp.with_name(tmp.name + ".old")
                    with contextlib.suppress(OSError):  # no hard links here: no way back for this one
                        os.link(path, old)
                        backups[path] = old
                os.replace(tmp, path)
        except BaseException:
            for path, old in backups.items():
                if old is not None:
                    os.replace(old, path)
                elif not files[path].exists():  # published, and there was nothing before
                    path.unlink(missing_ok=True)
            raise
        finally:
            for old in backups.values():
                if old is not None:
                    old.unlink(missing_ok=True)


@contextlib.contextmanager
def written_together() -> Iterator[None]:
    """Make every :func:`atomic_write` inside the block (``save_npz``, ``save_text``, PNGs...) appear
    together when the block ends, or not at all: each file is written to a temporary file beside it, and
    only when the block finishes are they all renamed into place, with signals held back. An exception,
    Ctrl-C or SIGTERM (when the CLI turns it into an exception) inside the block removes the temporary
    files and leaves the old outputs as they were. Nested blocks join the outermost one."""
    global _staged
    if _staged is not None:
        yield
        return
    _staged = {}
    try:
        yield
        _publish(_staged)
    finally:
        for tmp in _staged.values():
            tmp.unlink(missing_ok=True)
        _staged = None


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(fileobj)`` into a temporary file beside it, then rename: readers never
    see half a file, and a failure leaves nothing behind. Inside :func:`written_together` the rename waits
    for the block's end."""
    path = Path(path)
    if _staged is not None and path.absolute() in {p.absolute() for p in _staged}:
        raise PbitgenError(f"{path}: would be written twice by one command; expected distinct output names")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written artifact gets ordinary permissions
        if _staged is not None:
            _staged[path] = tmp
        else:
            _publish({path: tmp})
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Atomically write an uncompressed ``.npz`` of plain arrays."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def save_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def save_ising(path: str | Path, model: IsingModel) -> None:
    save_npz(path, **model.arrays())
