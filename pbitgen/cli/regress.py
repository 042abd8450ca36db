"""``pbitgen regress``: randomized RTL-vs-golden regression over many configurations, farmed out with
Dask (see :mod:`pbitgen.sim.regress`); exits non-zero on any mismatch.

Everything a run needs is checked before it starts, each failure one line: counts, the seed, the output
folder, and a ``--scheduler`` that must answer within :data:`CONNECT_SECONDS`. Ctrl-C ends the run and
its local workers at once; so does the reader of the progress going away (``| head``), quietly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Iterator

from pbitgen.errors import PbitgenError

from .common import check_output_folder, check_seed, count, stop_workers
from .sim import check_counts

#: how long a ``--scheduler`` may take to accept a connection
CONNECT_SECONDS = 5.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--configs", type=count, default=20, metavar="N", help="configurations to run (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the draw (default: %(default)s)")
    p.add_argument(
        "--structures",
        type=count,
        default=8,
        metavar="B",
        help="structural builds the configurations share (default: %(default)s)",
    )
    p.add_argument(
        "--simulator", default="verilator", choices=["verilator", "icarus"], help="simulator (default: %(default)s)"
    )
    p.add_argument(
        "--layout",
        default="any",
        choices=["any", "generic", "lattice"],
        help="arrays the structures are drawn from (default: %(default)s: both, a quarter lattice)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler of a cluster (default: a local cluster)")
    p.add_argument(
        "--workers", type=count, default=2, metavar="W", help="local worker processes (default: %(default)s)"
    )
    p.add_argument("--out", "-o", default="build/regress", metavar="DIR", help="output folder (default: %(default)s)")


def check_scheduler(address: str, timeout: float = CONNECT_SECONDS) -> None:
    """Refuse, before anything is drawn or written, a scheduler address that is malformed, where nothing
    accepts a connection, or where what answers within ``timeout`` seconds is not a Dask scheduler (Dask
    itself would retry for half a minute, or fail with whatever the other side sent). TCP-based addresses
    are first tried with a plain socket, which a closed port refuses at once."""
    from distributed.comm.addressing import parse_address, parse_host_port

    where = f"--scheduler {address}"
    expected = "expected the address of a running Dask scheduler, such as tcp://HOST:8786"
    try:
        protocol, location = parse_address(address)
        host_port = parse_host_port(location) if protocol in ("tcp", "tls", "ws", "wss") else None
    except (TypeError, ValueError) as e:
        raise PbitgenError(f"{where}: not an address ({e}); {expected}") from None
    try:
        if host_port:
            socket.create_connection(host_port, timeout=timeout).close()
        asyncio.run(_handshake(address, timeout))
    except TimeoutError:
        raise PbitgenError(f"{where}: no answer within {timeout:g} s; {expected}") from None
    except OSError as e:
        raise PbitgenError(f"{where}: cannot connect ({e.strerror or e}); {expected}") from None
    except Exception:  # a web server, say, whose reply Dask reads as a message's length
        raise PbitgenError(f"{where}: no Dask scheduler answers there (another protocol?); {expected}") from None


async def _handshake(address: str, timeout: float) -> None:
    from distributed.comm import connect

    comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
    await comm.close()


def _quiet_dask() -> None:
    """Silence Dask's logs in this process (lost tasks, restarting workers): chatter when the run ends."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name == "distributed" or name.startswith("distributed.")) and isinstance(logger, logging.Logger):
            logger.setLevel(logging.CRITICAL)


def _end_workers() -> None:
    _quiet_dask()
    stop_workers()


class _PipeWatch:
    """Standard output for the run: when its reader goes away (``BrokenPipeError``), the local workers are
    ended at once, as a signal ends them, so that closing the cluster cancels no running task (whose
    workers would each log the cancellation); then the error goes on to :func:`pbitgen.cli.main`, which
    ends quietly."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    @staticmethod
    def _guard(call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            _end_workers()
            raise


@contextlib.contextmanager
def _ending_quietly() -> Iterator[None]:
    """Inside the block, a closed standard output or a signal the command line turns into an exception
    (:func:`pbitgen.cli.common.signals_raise`) first quiets Dask's logs and ends the local workers; and the
    local scheduler's HTTP server moving to a free port (another run holds the usual one) says nothing."""
    old = {}
    if threading.current_thread() is threading.main_thread():
        for num in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")):
            handler = signal.getsignal(num) if num is not None else None
            if callable(handler):
                old[num] = signal.signal(num, lambda signum, frame, h=handler: (_end_workers(), h(signum, frame)))
    try:
        with contextlib.redirect_stdout(_PipeWatch(sys.stdout)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
            yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)


def run(args: argparse.Namespace) -> int:
    from pbitgen.sim.regress import regress

    check_counts(args, "configs", "structures", "workers")
    check_seed(args.seed)
    check_output_folder(args.out)
    if args.scheduler:
        check_scheduler(args.scheduler)
    with _ending_quietly():
        s = regress(
            args.configs,
            args.seed,
            args.out,
            args.structures,
            args.simulator,
            args.scheduler,
            args.workers,
            layout=args.layout,
        )
        print(
            f"regress: {s['passed']}/{s['configs']} bit-exact on {s['structures']} structural builds "
            f"({s['simulator']}) in {s['wall_seconds']:.0f} s; JUnit XML and summary in {args.out}/"
        )
        for f in s["failures"][:10]:
            print(f"  job{f['index']:05d} (structure {f['structure']}): {f['message']}")
    return 0 if s["failed"] == 0 else 1
