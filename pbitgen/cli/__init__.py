"""The ``pbitgen`` command: one entry point, one subcommand module per job.

Each subcommand module has ``add_arguments(parser)`` and ``run(args) -> int``; :func:`main` keeps it
testable (``main(["graph", ...])`` returns the exit code). A :class:`~pbitgen.errors.PbitgenError` prints
``pbitgen: error: <message>`` and exits 1 with no traceback, as does a file error no check could foresee
(disk full) or running out of memory; Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129, after ending worker
processes and removing temporary files (whatever a library the signal interrupted fails with next is
reported as the signal); a closed output pipe (``| head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from pbitgen import __version__
from pbitgen.errors import PbitgenError

from . import eval, fpga, graph, mutate, power, regress, sample, sim, stability, synth, train, verilog, warmup
from .common import received, signals_raise, stop_raising

COMMANDS = {
    "graph": (graph, "export a DTM grid graph (edges and colours) as .npz"),
    "train": (train, "train a denoising thermodynamic model (resumable; --compare adds the MEBM and no-ACP baselines)"),
    "stability": (
        stability,
        "the Fig.-5b experiment: DTM with and without ACP and the MEBM over epochs, several seeds",
    ),
    "warmup": (warmup, "short-run bias of a model's training moments against the chains' warm-up sweeps"),
    "eval": (eval, "quality table of a model folder: FD in the project's classifier features, autocorrelation"),
    "sample": (sample, "sample a Boltzmann machine (float reference or bit-exact golden model)"),
    "verilog": (verilog, "generate the sampling array's Verilog, register map and memory images"),
    "synth": (synth, "synthesize a generated design with Yosys and count resources per tile"),
    "fpga": (fpga, "place and route a design on an FPGA (Yosys + nextpnr): LUTs, FFs, BRAM, Fmax, flips/ns"),
    "sim": (sim, "run a model end to end on the generated hardware in co-simulation"),
    "power": (power, "joules per flip and per image of a model on the generated hardware (SAIF toggles, tech table)"),
    "regress": (regress, "randomized RTL-vs-golden regression over many configurations (Dask)"),
    "mutate": (mutate, "mutation score of the bit-exact bench: faults planted in a netlist, how many it catches"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbitgen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pbitgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the reader of a pipe going away (``| head -1``) ends the command
    quietly, without a second broken-pipe report when Python flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, closed)
        pass


def main(argv: list[str] | None = None) -> int:
    with signals_raise():
        try:  # the parser too: building it takes a moment in which a Ctrl-C may come
            args = build_parser().parse_args(argv)
            logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
            code = int(args.run(args) or 0)
            sys.stdout.flush()  # here, where a closed pipe is caught, rather than at exit
            return code
        except SystemExit:  # --help, --version, usage errors: argparse has said why
            raise
        except BaseException as e:
            while True:  # a signal now would escape the report below as a traceback
                try:
                    stop_raising()
                    break
                except KeyboardInterrupt:  # one sent again (or a second Ctrl-C) before it took effect
                    continue
            return report(e)


def report(e: BaseException) -> int:
    """Say in one line why the command ended early, and return its exit status; an exception none of these
    explains is a bug, raised again with its traceback."""
    if isinstance(e, KeyboardInterrupt) or received:
        # a signal; or what failed after one: its exception, raised inside a library, can leave the library
        # broken (numba's compiler then fails with "no compiled object yet"), and the user asked to stop
        if isinstance(e, KeyboardInterrupt):
            signum = getattr(e, "signum", signal.SIGINT)
        else:
            signum = received[0]
            logging.getLogger(__name__).debug("what failed after the signal:", exc_info=e)  # for -v
        if signum == signal.SIGINT:
            print("pbitgen: interrupted", file=sys.stderr)
        else:
            print(f"pbitgen: terminated ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    if isinstance(e, PbitgenError):
        print(f"pbitgen: error: {e}", file=sys.stderr)
        return 1
    if isinstance(e, BrokenPipeError):
        quiet_stdout()
        return 128 + signal.SIGPIPE
    if isinstance(e, MemoryError):
        print("pbitgen: error: out of memory; expected smaller sizes (--chains, --images, --grid)", file=sys.stderr)
        return 1
    if isinstance(e, OSError):  # a file problem no check before the work could foresee (disk full, permissions)
        where = f"{e.filename}: " if e.filename else ""
        print(f"pbitgen: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    raise e


if __name__ == "__main__":
    sys.exit(main())
