"""The `hpsearch` command: parse, hand over to one command module, print. Errors for people exit 2."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from hpsearch.commands.common import add_backend_argument
from hpsearch.core.device import choose_backend, use_compilation_cache
from hpsearch.errors import HpsearchError

# subcommand -> module in hpsearch.commands with add_arguments(parser) and run(args) -> int
COMMANDS = {
    "baseline": "Train and evaluate the baseline (or a given configuration) and write a run report.",
    "study": "Run (or resume) an Optuna / keras-tuner study around the baseline.",
    "confirm": "Retrain a study's best configuration and the baseline over several seeds; Welch t-test.",
    "report": "Write the reports of a stored study (never trains).",
    "bench": "Benchmark hpsearch's training path against a plain model.fit, side by side for each installed backend.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpsearch", description="Hyperparameter search around a strong CIFAR-10 baseline.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"hpsearch.commands.{name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        add_backend_argument(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide the default backend's start-up chatter
    args = build_parser().parse_args(argv)        # imports no Keras, so the backend can still be chosen
    module = importlib.import_module(f"hpsearch.commands.{args.command}")
    try:
        if args.command != "bench" or args.backend:   # a bare `bench` runs every installed backend in turn
            choose_backend(args.backend)
            if args.command != "report":              # the commands that compile
                use_compilation_cache(args.cache_dir)
        return int(module.run(args) or 0)
    except HpsearchError as exc:
        print(f"hpsearch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hpsearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
