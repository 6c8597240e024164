from rich.console import Console

from hpsearch.commands.common import warn_if_slow
from hpsearch.core import hardware
from hpsearch.core.config import TrainConfig


def test_cpu_defaults_are_the_measured_ones():
    device = hardware.setup(TrainConfig())
    assert device.kind == "CPU"                       # CI and the tests have no GPU
    assert device.jit_compile is False
    assert device.precision == ("mixed_bfloat16" if hardware.cpu_has_bf16() else "float32")
    assert str(device).startswith("CPU: ") and "no XLA" in str(device)


def test_explicit_settings_win():
    device = hardware.setup(TrainConfig(jit_compile=True, precision="float32"))
    assert device.jit_compile is True and device.precision == "float32"
    assert "(XLA, float32)" in str(device)


def test_full_profile_on_cpu_says_it_takes_hours_and_names_the_cpu_profile():
    console = Console(record=True, width=200)
    warn_if_slow(console, "full", "CPU")
    text = console.export_text()
    assert "hours" in text and "--profile cpu" in text
    quiet = Console(record=True, width=200)
    warn_if_slow(quiet, "full", "GPU")
    warn_if_slow(quiet, "cpu", "CPU")
    assert quiet.export_text() == ""
