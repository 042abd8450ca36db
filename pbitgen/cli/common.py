"""Arguments every subcommand that needs a :class:`~pbitgen.config.Config` shares: ``--config FILE``
(TOML or JSON) and ``--set SECTION.FIELD=VALUE`` overrides, applied in that order."""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any

from pbitgen.config import Config
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
