"""What the subcommands share.

Arguments every subcommand that needs a :class:`~pbitgen.config.Config` takes: ``--config FILE`` (TOML or
JSON) and ``--set SECTION.FIELD=VALUE`` overrides, applied in that order; the ``count`` argument type
(``--chains 1e5``). Checks to run before any work, each failing with one :class:`PbitgenError` line that
names the option: output files and folders (:func:`check_output_file`, :func:`check_output_folder`),
memory (:func:`check_memory`), seeds (:func:`check_seed`), torus jumps (:func:`check_torus_jumps`).
And signals: :func:`signals_raise` (which :func:`pbitgen.cli.main` wraps every command in) turns SIGINT,
SIGTERM and SIGHUP into exceptions after ending worker processes, so that ``finally`` blocks clean up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pbitgen.config import Config, GraphConfig
from pbitgen.errors import PbitgenError


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="configuration file, TOML or JSON (default: built-in)")
    parser.add_argument(
        "--set",
        metavar="SECTION.FIELD=VALUE",
        action="append",
        default=[],
        help="override one config field, VALUE in TOML syntax, e.g. --set formats.lut_range=16 (repeatable)",
    )


def count(text: str) -> int:
    """An argparse type for sizes: an integer, also written like ``1e5`` (which must be a whole number)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text.strip())
        if value.is_finite() and value.adjusted() < 100 and value == value.to_integral_value():
            return int(value)
    except InvalidOperation:
        pass
    raise argparse.ArgumentTypeError(f"invalid count {text!r}; expected a whole number such as 1000 or 1e3")


def int_list(what: str, minimum: int) -> Callable[[str], list[int]]:
    """An argparse type for comma-separated distinct integers ``>= minimum`` (``what`` names them in errors)."""

    def parse(text: str) -> list[int]:
        try:
            out = [int(s) for s in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2, not {text!r}") from None
        if len(set(out)) != len(out) or min(out) < minimum:
            raise argparse.ArgumentTypeError(f"expected distinct {what} >= {minimum}, not {text!r}")
        return out

    return parse


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"rng.seed=3"`` -> ``("rng", "seed", 3)``; values are TOML literals (bare words are strings)."""
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise PbitgenError(f"--set {text!r}: expected SECTION.FIELD=VALUE, e.g. rng.seed=3")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, name, value


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The config the command line describes: ``base`` (or the file, or the defaults) plus overrides."""
    cfg = Config.load(args.config) if getattr(args, "config", None) else (base or Config())
    if not getattr(args, "set", None):
        return cfg
    data = cfg.to_dict()
    for text in args.set:
        section, name, value = parse_override(text)
        if section not in data or not isinstance(data[section], dict):
            raise PbitgenError(f"--set {text!r}: unknown section {section!r}")
        if "." in name:  # formats.coupling.width
            outer, _, inner = name.partition(".")
            data[section].setdefault(outer, {})[inner] = value
        else:
            data[section][name] = value
    try:
        return Config.from_dict(json.loads(json.dumps(data)))
    except (TypeError, ValueError) as e:
        raise PbitgenError(f"--set: {e}") from None


# ---------------------------------------------------------------------------------------------------------
# outputs, sizes and signals: checks every command can run before its work starts
# ---------------------------------------------------------------------------------------------------------
def _writable_folder(folder: Path, where: str) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder this process can write in."""
    d = folder if str(folder) else Path(".")
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise PbitgenError(f"{where}: {d} is a file, not a folder; expected a path whose folders are folders")
    try:
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as e:
        raise PbitgenError(f"{where}: cannot write in folder {d} ({e.strerror}); expected a writable folder") from None


def check_output_file(path: str | Path, option: str = "--out", suffix: str | None = None) -> Path:
    """Refuse, before any work, an output file that cannot be written: an existing folder, a path under
    a regular file, a folder that is not writable, or (with ``suffix``) a name not ending in ``suffix``.
    Meant for every command that writes a file (sim, verilog, power, regress and fpga can adopt it)."""
    p = Path(path)
    where = f"{option} {path}"
    if suffix is not None and p.suffix != suffix:
        raise PbitgenError(f"{where}: expected a file name ending in {suffix}")
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise PbitgenError(f"{where}: is a folder; expected a file name")
    _writable_folder(p.parent, where)
    return p


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be made or written (it is a file, lies under
    a file, or in a folder that is not writable)."""
    p = Path(path)
    where = f"{option} {path}"
    if p.exists() and not p.is_dir():
        raise PbitgenError(f"{where}: is a file; expected a folder")
    _writable_folder(p, where)
    return p


def check_torus_jumps(graph: GraphConfig, option: str = "--jumps") -> None:
    """Refuse a torus on which a jump wraps onto itself or onto another jump (the four rotations of every
    jump must reach distinct offsets modulo the side), which would silently drop edges. Meant for every
    command that builds a grid from the command line (verilog and fpga can adopt it)."""
    if graph.kind != "grid" or not graph.torus:
        return
    side, seen = graph.side, {}
    for jump in graph.jump_list:
        dx, dy = jump
        for d in ((dx, dy), (-dy, dx), (-dx, -dy), (dy, -dx)):
            key = (d[0] % side, d[1] % side)
            if key in seen:
                other = seen[key]
                what = "onto itself" if other == jump else f"onto the jump {other}"
                raise PbitgenError(
                    f"{option}: the jump {jump} wraps {what} on the {side}x{side} torus, so edges would be lost; "
                    f"expected jumps that stay distinct modulo {side} (a larger --grid, or other jumps)"
                )
            seen[key] = jump


def available_memory() -> int:
    """Bytes of memory this machine can give now (Linux: MemAvailable + SwapFree), else its physical size."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return (int(info["MemAvailable"].split()[0]) + int(info.get("SwapFree", "0 kB").split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # unreachable


def check_memory(need: float, where: str, expected: str) -> None:
    """Refuse, before any work, a size whose estimated memory ``need`` (bytes) this machine cannot give:
    ``where`` names the option and value, ``expected`` what would fit."""
    have = available_memory()
    if need > have:
        raise PbitgenError(
            f"{where}: needs about {_bytes(need)} of memory, this machine has {_bytes(have)} available; "
            f"expected {expected}"
        )


def check_seed(seed: int, option: str = "--seed") -> int:
    """A seed the configs and samplers accept: an integer in [0, 2**63 - 1]."""
    if not 0 <= seed <= MAX_SEED:
        raise PbitgenError(f"{option} {seed}: out of range; expected an integer in [0, {MAX_SEED}]")
    return seed


#: The largest seed every part accepts (``rng.seed`` of a config).
MAX_SEED = (1 << 63) - 1


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP raised as an exception (like Ctrl-C's KeyboardInterrupt), so that ``finally``
    blocks run on the way out and remove temporary files."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def design_seed(args: argparse.Namespace) -> int:
    """The seed of the generated design and of the placer: ``--seed``, else the config's ``rng.seed`` (as
    ``--config`` and ``--set`` leave it), else 1. ``--seed`` beside a different ``--set rng.seed`` is refused,
    not silently preferred."""
    sets = [value for section, name, value in map(parse_override, args.set) if (section, name) == ("rng", "seed")]
    if args.seed is None:
        return 1 if getattr(args, "design", None) else config_from_args(args).rng.seed
    check_seed(args.seed)
    if sets and sets[-1] != args.seed:
        raise PbitgenError(
            f"--seed {args.seed}: conflicts with --set rng.seed={sets[-1]}; expected one of the two, or the same seed"
        )
    return args.seed


def stop_workers() -> None:
    """End the processes this process started through multiprocessing (process pools, local clusters):
    they also receive the terminal's Ctrl-C, and one killed while holding a pool's queue lock would leave
    the pool's shutdown waiting forever."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return
    for p in mp.active_children():
        with contextlib.suppress(Exception):
            p.terminate()


#: The signals :func:`signals_raise`'s handler has received in the current block, in order (one block at a
#: time per process: the command line's).
received: list[int] = []
#: Set once the command is ending (:func:`stop_raising`): signals are then recorded, not raised.
_ending = threading.Event()
#: Timers that send a dropped signal again (:func:`_redeliver`), and the lock that keeps one from sending
#: after :func:`stop_raising`.
_resend: list[threading.Timer] = []
_resend_lock = threading.RLock()  # re-entered by a finalizer that runs while it is held


def _raise_on_signal(signum: int, frame: object) -> None:
    received.append(signum)
    if _ending.is_set():
        return
    stop_workers()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def stop_raising() -> None:
    """From here on, record signals instead of raising them, and send no dropped one again: the command is
    already ending, and an exception raised while it says why would escape as a traceback. A signal sent
    again before this returns is handled, by the time it is, as one to record."""
    with _resend_lock:
        _ending.set()
        for timer in _resend:
            timer.cancel()
        _resend.clear()


def _send_again(signum: int) -> None:
    with _resend_lock:
        if not _ending.is_set():
            os.kill(os.getpid(), signum)


def _redeliver(unraisable: Any, default: Callable[[Any], None]) -> None:
    """An exception raised where Python cannot pass it on (inside a C library's callback, such as the one
    numba's compiler calls while it compiles a kernel, or in a finalizer) is printed and dropped, and the
    command runs on as if never signalled. When it is a signal's, send the signal again instead, from a
    thread a moment later: the handler then runs at a line of Python the main thread executes after this
    hook, usually outside the callback (inside another one, it is dropped and sent again once more).
    Raising it here, as ``signal.raise_signal`` or ``_thread.interrupt_main`` would, runs the handler
    inside the hook, whose exception is dropped too."""
    exc = unraisable.exc_value
    if not (isinstance(exc, KeyboardInterrupt) and received):
        default(unraisable)
        return
    with _resend_lock:
        if _ending.is_set():
            return
        timer = threading.Timer(0.01, _send_again, (getattr(exc, "signum", signal.SIGINT),))
        timer.daemon = True
        _resend.append(timer)
        timer.start()


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Inside the block, SIGINT raises KeyboardInterrupt and SIGTERM/SIGHUP raise :class:`Terminated`,
    after ending worker processes (:func:`stop_workers`), until :func:`stop_raising`; such an exception
    dropped inside a C callback is sent again (:func:`_redeliver`). Signals that were ignored stay ignored;
    only the main thread can set handlers, elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received.clear()
    _ending.clear()
    old = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        num = getattr(signal, name, None)
        if num is not None and signal.getsignal(num) is not signal.SIG_IGN:
            old[num] = signal.signal(num, _raise_on_signal)
    default_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: _redeliver(unraisable, default_hook)
    try:
        yield
    finally:
        stop_raising()
        sys.unraisablehook = default_hook
        for num, handler in old.items():
            signal.signal(num, handler)
        received.clear()  # no later block, nor a command run in another thread, reads this one's
