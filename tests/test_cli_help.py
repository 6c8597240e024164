"""The command line a person meets first: --version, help on every option, choices listed, an example per
subcommand, a subcommand's own usage for its mistakes, and no backend start-up noise unless --verbose."""

import argparse
import os
import subprocess
import sys

import pytest

from hpsearch import __version__
from hpsearch.cli import COMMANDS, build_parser, main
from hpsearch.commands.common import profile_choices


def subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"hpsearch {__version__}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_has_help_and_the_help_ends_with_an_example(name):
    sub = subparsers()[name]
    missing = [a.option_strings for a in sub._actions if a.option_strings and not (a.help or "").strip()]
    assert missing == []
    text = sub.format_help()
    assert text.rstrip().splitlines()[-1].strip() == COMMANDS[name][1]
    if any("--profile" in a.option_strings for a in sub._actions):
        assert profile_choices() in sub.format_usage() and "  smoke  " in text
    else:  # the profiles are listed only where a --profile takes them
        assert "profiles (--profile)" not in text


def test_report_lists_only_the_options_it_uses():
    """report reads stored results: no backend to choose, no compiled programs, no start-up lines to hide."""
    options = {o for a in subparsers()["report"]._actions for o in a.option_strings}
    assert not options & {"--backend", "--cache-dir", "--verbose"}
    for name in ("baseline", "study", "confirm", "bench"):  # they train: they take all three
        trains = {o for a in subparsers()[name]._actions for o in a.option_strings}
        assert {"--backend", "--cache-dir", "--verbose"} <= trains, name


def test_bench_counts_rounds_and_keeps_epochs_as_a_deprecated_alias(capsys):
    parser = subparsers()["bench"]
    assert parser.parse_args(["--rounds", "3"]).rounds == 3 and parser.parse_args([]).rounds == 7
    assert parser.parse_args(["--epochs", "4"]).rounds == 4
    assert "deprecated" in capsys.readouterr().err
    assert "--rounds" in parser.format_help() and "deprecated" in parser.format_help()


def test_an_unknown_option_prints_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["baseline", "--bogus"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("usage: hpsearch baseline") and "unrecognized arguments: --bogus" in err


def test_backend_start_up_lines_stay_hidden_unless_verbose(tmp_path):
    """`baseline --summary` loads the backend and builds the model; TensorFlow's C++ lines (I0000 ... oneDNN,
    E0000 ... cuInit) never reach the terminal."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    quiet = subprocess.run(
        [sys.executable, "-m", "hpsearch.cli", "baseline", "--profile", "smoke", "--summary"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if line[:5] in ("I0000", "E0000", "W0000")]
    assert "whitening_conv" in quiet.stdout
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return  # the lines below are TensorFlow's own
    # and --verbose shows them: TensorFlow's start-up always says something (on a CPU build with CUDA stubs,
    # "Could not find cuda drivers"; on a GPU, the devices it created)
    loud = subprocess.run(
        [sys.executable, "-m", "hpsearch.cli", "baseline", "--profile", "smoke", "--summary", "--verbose"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert loud.returncode == 0, loud.stderr
    assert [line for line in loud.stderr.splitlines() if line[:5] in ("I0000", "E0000", "W0000")], loud.stderr


@pytest.mark.parametrize("command", ["baseline", "study", "confirm"])
def test_cache_dir_reaches_the_compilation_cache_of_every_command_that_compiles(command, tmp_path, monkeypatch):
    """--cache-dir is handed to device.use_compilation_cache before the command runs (the command itself is
    stopped there: what it would do is not this test's business)."""
    import hpsearch.cli as cli

    seen = []

    class Stop(Exception):
        pass

    def recorded(folder=None):
        seen.append(folder)
        raise Stop

    monkeypatch.setattr(cli, "use_compilation_cache", recorded)
    with pytest.raises(Stop):
        cli._main([command, "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    assert seen == [str(tmp_path / "cache")]
