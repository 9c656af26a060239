"""The command line of a study, generated from its config record.

Every field becomes an option (``--name``, sequences take several values, booleans
``--name/--no-name``) whose type function validates the value with the field's own
rules, so a bad value is an ``argparse`` usage error naming the option (exit code 2),
never a traceback or a silent default. Every study also takes ``--out``, ``--quick``
or ``--full`` (presets), ``--executor``, ``--workers``, ``--scheduler`` and
``--quiet``; ``--seed`` is a field of every study config. A study whose options have
``paper`` values (:func:`sim.studies.config.has_preset`) also takes ``--paper``.

Before anything is written, the command line also checks what a run would otherwise
fail on later: that ``--out`` (and the results folder in it) can be made and written,
the study's own ``check`` of its config (its data exist and are large enough), and
that a ``--scheduler`` accepts connections (within
:data:`sim.studies.executors.SCHEDULER_TIMEOUT` seconds). A failure is a usage error
too: exit code 2, one ``error:`` line, no folder left behind.

The studies of the package (:data:`STUDIES`) run as ``python -m sim.studies NAME``
(:func:`main_named`), with the command line of ``scripts/NAME.py``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
import textwrap
from dataclasses import MISSING
from pathlib import Path

from sim.studies.config import PRESETS, check_scalar, has_preset, preset, spec
from sim.studies.core import EXECUTORS, Study, check_study, run
from sim.studies.executors import check_scheduler
from sim.studies.store import check_out

STUDIES = ("toy_example", "diagram", "monte_carlo", "moment_spectrum", "nn_sharpness",
           "nn_diagram", "nn_correlation", "nn_escape", "nn_edge", "nn_stay", "nn_conv",
           "bench_linear", "bench_mlp", "bench_torch")
"""The studies of the package: the module ``sim.studies.<name>`` defines ``STUDY``."""


def _converter(name: str, typ: type, meta: dict):
    def convert(text: str):
        if typ is int:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        elif typ is float:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        else:
            value = text
        try:
            return check_scalar(name, typ, meta, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{name} ")) from None

    convert.__name__ = typ.__name__  # argparse names the type in its messages
    return convert


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser(study: Study, description: str | None = None,
           prog: str | None = None) -> argparse.ArgumentParser:
    """The ``argparse`` parser of ``study`` (every option defaults to "not given")."""
    return config_parser(study.name, study.config, description, prog)


def config_parser(name: str, config: type, description: str | None = None,
                  prog: str | None = None):
    """The parser of any config record declared with :func:`sim.studies.option`, plus the
    run options every study takes; ``prog`` defaults to ``<name>.py``."""
    ap = argparse.ArgumentParser(prog=prog or f"{name}.py", description=description,
                                 argument_default=argparse.SUPPRESS)
    group = ap.add_argument_group("study options (part of the config and its hash)")
    for name, typ, elem, meta, default in spec(config):
        flag = "--" + name.replace("_", "-")
        shown = default
        extra = []
        for key in PRESETS:
            if meta.get(key, MISSING) is not MISSING:
                extra.append(f"{key}: {meta[key]}")
        helptext = (f"{meta['help']} (default: {shown}" + (f"; {'; '.join(extra)}" if extra
                                                           else "") + ")").replace("%", "%%")
        if typ is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               help=helptext)
        elif typ is tuple:
            group.add_argument(flag, dest=name, nargs="+", type=_converter(name, elem, meta),
                               help=helptext, metavar=elem.__name__.upper())
        else:
            group.add_argument(flag, dest=name, type=_converter(name, typ, meta), help=helptext,
                               choices=meta.get("choices"), metavar=None
                               if meta.get("choices") else typ.__name__.upper())
    run_opts = ap.add_argument_group("how to run (not part of the config)")
    run_opts.add_argument("--out", default="results", help="parent folder of the results "
                          "(default: results)")
    size = run_opts.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="preset", action="store_const", const="quick",
                      help="the quick preset (small, minutes)")
    size.add_argument("--full", dest="preset", action="store_const", const="full",
                      help="the full preset (larger; wall time in the README)")
    if has_preset(config, "paper"):
        size.add_argument("--paper", dest="preset", action="store_const", const="paper",
                          help="the paper's own sizes (hours on 2 cores: spread the models "
                               "over a Dask cluster)")
    run_opts.add_argument("--executor", choices=EXECUTORS, default="serial",
                          help="serial, or dask (a LocalCluster, or --scheduler)")
    run_opts.add_argument("--workers", type=_positive_int, default=None,
                          help="worker processes of the local dask cluster (default: CPUs)")
    run_opts.add_argument("--scheduler", default=None, metavar="ADDRESS",
                          help="address of a running dask scheduler (implies --executor dask)")
    run_opts.add_argument("--quiet", action="store_true", default=False, help="no progress bars")
    return ap


OUT = "argument --out"
SCHEDULER = "argument --scheduler"
"""How the checks made before a run name the options they reject (as argparse does)."""


def parse(study: Study, argv=None, description: str | None = None, prog: str | None = None):
    """``(config, run options)`` from the command line; exits with code 2 on a bad value,
    an ``--out`` that cannot be written, a config that fails ``study.check`` or a
    scheduler that does not answer."""
    return parse_config(study.name, study.config, argv, description, study.serial_only, prog,
                        check=lambda cfg, options: check_study(study, cfg, options["out"], OUT))


def parse_config(name: str, config: type, argv=None, description: str | None = None,
                 serial_only: bool = False, prog: str | None = None, check=None):
    """``(config record, run options)`` of any config type (see :func:`config_parser`).

    Before returning, with nothing written: ``--out`` must be a folder that exists or can
    be made, and be writable; ``check(record, options)`` (optional) must pass; a
    ``--scheduler`` must accept a connection. Each failure (``ValueError``) is a usage
    error, exit code 2."""
    ap = config_parser(name, config, description, prog)
    ns = vars(ap.parse_args(argv))
    options = {k: ns.pop(k) for k in ("out", "executor", "workers", "scheduler", "quiet")}
    chosen = ns.pop("preset", None)
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in ns.items()}
    try:
        record = preset(config, chosen, **fields)
    except (ValueError, TypeError) as exc:
        ap.error(str(exc))
    if serial_only and (options["executor"] != "serial" or options["scheduler"]):
        ap.error(f"{name} runs serially only (it measures time)")
    try:
        check_out(options["out"], OUT)
        if check is not None:
            check(record, options)
        if options["scheduler"]:
            check_scheduler(options["scheduler"], SCHEDULER)
    except ValueError as exc:
        ap.error(" ".join(str(exc).split()))  # one line, whatever the message
    return record, options


def main(study: Study, argv=None, description: str | None = None,
         prog: str | None = None) -> Path:
    """Parse the command line, run the study, print the results folder."""
    config, options = parse(study, argv, description, prog)
    folder = run(study, config, **options)
    if not options["quiet"]:
        print(f"wrote {folder}")
    return folder


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _summary_line(name: str) -> str:
    """The first paragraph of ``sim.studies.<name>``'s docstring, read without importing
    it (a study may import the networks and their kernels)."""
    path = importlib.util.find_spec(f"sim.studies.{name}").origin
    return _first_paragraph(ast.get_docstring(ast.parse(Path(path).read_text())))


def main_named(argv=None) -> Path:
    """``python -m sim.studies NAME [options]``: run the package study ``NAME`` with its
    command line (``python -m sim.studies NAME --help``); ``python -m sim.studies --help``
    lists the studies."""
    argv = sys.argv[1:] if argv is None else list(argv)
    width = max(map(len, STUDIES)) + 2
    listing = "\n".join(textwrap.fill(_summary_line(name), 96, initial_indent=
                                      f"  {name:<{width}}", subsequent_indent=" " * (width + 2))
                        for name in STUDIES)
    ap = argparse.ArgumentParser(prog="python -m sim.studies",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Run a study of the package, as scripts/NAME.py "
                                             "does.", epilog=f"studies:\n{listing}")
    ap.add_argument("name", metavar="NAME", choices=STUDIES, help="the study (below)")
    ap.add_argument("options", nargs="*", default=[], metavar="OPTIONS",
                    help="its options (python -m sim.studies NAME --help)")
    name = ap.parse_args(argv[:1]).name
    module = importlib.import_module(f"sim.studies.{name}")
    return main(module.STUDY, argv[1:], description=_first_paragraph(module.__doc__),
                prog=f"python -m sim.studies {name}")


__all__ = ["parser", "parse", "main", "config_parser", "parse_config", "main_named",
           "STUDIES"]
