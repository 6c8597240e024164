"""`--spec` takes a path or the bare name of a spec shipped inside the package, from any folder."""

from pathlib import Path

import pytest

import hpsearch
from hpsearch.search import specs
from hpsearch.search.space import SpecError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_specs_are_package_data():
    assert specs.SHIPPED.parent == Path(hpsearch.__file__).resolve().parent
    assert {"default", "future_work", "architecture", "lr_schedule"} <= set(specs.shipped_names())
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "studies/*.toml" in package_data["hpsearch"]


@pytest.mark.parametrize("arg", ["default", "default.toml", "studies/default.toml"])
def test_a_bare_name_finds_the_shipped_spec_from_any_folder(arg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert specs.find_spec(arg) == specs.SHIPPED / "default.toml"
    assert specs.load(arg).params


def test_a_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default.toml").write_text('[params]\npeak_lr = { type = "float", low = 1e-4, high = 1e-2 }\n')
    assert specs.find_spec("default.toml") == Path("default.toml")
    assert list(specs.load("default.toml").params) == ["peak_lr"]


def test_a_missing_spec_lists_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        specs.find_spec("defualt")
    assert "'defualt'" in str(info.value) and "default, future_work" in str(info.value)
    with pytest.raises(SpecError, match="no such file"):
        specs.find_spec(tmp_path / "nowhere" / "x.toml")
