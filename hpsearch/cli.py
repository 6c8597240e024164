"""The `hpsearch` command: parse, hand over to one command module, print. Errors for people exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys

from hpsearch import __version__, interrupts
from hpsearch.commands.common import add_backend_argument
from hpsearch.core.config import profile_descriptions
from hpsearch.core.device import choose_backend, load_quietly, use_compilation_cache
from hpsearch.errors import HpsearchError
from hpsearch.files import shown_path
from hpsearch.record.urls import redacting

# subcommand -> (module in hpsearch.commands with add_arguments(parser) and run(args) -> int, help, example)
COMMANDS = {
    "baseline": (
        "Train and evaluate the baseline (or a given configuration) and write a run report.",
        "hpsearch baseline --profile cpu --data-dir ~/data",
    ),
    "study": (
        "Run (or resume) an Optuna / keras-tuner study around the baseline.",
        "hpsearch study --spec default --profile cpu --trials 20",
    ),
    "confirm": (
        "Retrain a study's best configuration and the baseline over several seeds, at any profile; paired "
        "t-test on the seeds (Welch's when a seed ran in one arm only).",
        "hpsearch confirm --study-name default-cpu --profile full --seeds 2",
    ),
    "report": ("Write the reports of a stored study (never trains).", "hpsearch report --study-name default-cpu"),
    "export": (
        "Write a trial's kept model (hpsearch study --keep-models) to a .keras file; --evaluate scores it on test.",
        "hpsearch export --study-name default-cpu --to model.keras --evaluate",
    ),
    "bench": (
        "Benchmark hpsearch's training path against a plain model.fit, side by side for each installed "
        "backend; --study: trials/hour with one worker and with several.",
        "hpsearch bench --images 1024 --rounds 3",
    ),
}
TRAINS = ("baseline", "study", "confirm", "bench", "export")  # the commands that load a Keras backend
VERBOSE_HELP = "show the backend's C++ start-up lines (cuInit / oneDNN notices), hidden by default"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpsearch",
        description="Hyperparameter search around a strong CIFAR-10 baseline.",
        epilog="example: hpsearch baseline --profile cpu",
    )
    parser.add_argument("--version", action="version", version=f"hpsearch {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    verbose = argparse.ArgumentParser(add_help=False)  # --verbose also after the subcommand
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, (help_text, example) in COMMANDS.items():
        child = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[verbose] if name in TRAINS else [],
            epilog=_epilog(example, profiles=name not in ("report", "export")),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        importlib.import_module(f"hpsearch.commands.{name}").add_arguments(child)
        if name in TRAINS:  # report reads stored results: no backend, no compiled programs, no C++ start-up lines
            add_backend_argument(child)
    return parser


def _epilog(example: str, profiles: bool = True) -> str:
    """The profiles (for the commands that take --profile) and an example."""
    listed = "\n".join(f"  {name:6s} {text}" for name, text in profile_descriptions().items())
    return (f"profiles (--profile):\n{listed}\n\n" if profiles else "") + f"example:\n  {example}"


def parse(argv: list[str] | None, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse; an unknown option after a subcommand is reported with that subcommand's usage."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def check_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every option that takes a value and was given one: not empty (`--storage "$UNSET"` would quietly mean
    the default, `--params ""` nothing), and UTF-8 text (bytes that are not end up in file names and pages).
    One place for all options, so a new option is checked too."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # argparse: no public way
    for action in sub.choices[args.command]._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.nargs == 0 or value is action.default:
            continue
        option = "/".join(action.option_strings)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not text.strip():
                raise HpsearchError(f"{option} is empty (an unset variable?); pass a value, or leave {option} out")
            if isinstance(text, str) and shown_path(text) != text:
                raise HpsearchError(f"{option} {shown_path(text)} is not UTF-8 text; pass it in UTF-8")


def main(argv: list[str] | None = None) -> int:
    """Run one command; its status: 0, 2 (an error for people, one line), 130 (Ctrl-C or SIGTERM, one line),
    or what the command returns."""
    with redacting(), interrupts.signals_as_interrupt():  # redacting: no password from a storage URL is shown
        try:
            return _main(argv)
        except HpsearchError as exc:
            print(f"hpsearch: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            interrupts.ending()  # a second Ctrl-C while this line is printed ends the process at once
            print(interrupts.line(exc), file=sys.stderr, flush=True)
            interrupts.said()
            return interrupts.EXIT_STATUS


def _main(argv: list[str] | None) -> int:
    parser = build_parser()  # imports every command module: under signals_as_interrupt too
    args = parse(argv, parser)
    module = importlib.import_module(f"hpsearch.commands.{args.command}")
    check_values(parser, args)
    backend = getattr(args, "backend", None)  # report takes no --backend
    # a bare `bench` runs every installed backend in turn, each in its own process
    if args.command != "bench" or backend or args.search:
        choose_backend(backend)  # before Keras is first imported
        if args.command != "report":  # the commands that compile
            use_compilation_cache(args.cache_dir)
        parent = args.command == "study" and module.starts_workers(args)  # the workers load it, not this one
        if args.command in TRAINS and not args.verbose and not parent:
            load_quietly()
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
