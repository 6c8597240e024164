"""Study specs and --params files as users hand them over: non-finite bounds, other encodings, deep
nesting, huge files. Each is one line naming the file and the fix, before any training."""

import json

import pytest

from hpsearch.commands.common import MAX_PARAMS_BYTES, read_params
from hpsearch.core.config import TrainConfig
from hpsearch.errors import HpsearchError
from hpsearch.search.space import MAX_SPEC_BYTES, SpecError, load_spec


@pytest.mark.parametrize(
    "body, problem",
    [
        (
            'peak_lr = { type = "float", low = 1e-3, high = inf }',
            r"\[params.peak_lr\] low, high and step must be finite",
        ),
        (
            'peak_lr = { type = "float", low = -inf, high = 1e-2 }',
            r"\[params.peak_lr\] low, high and step must be finite",
        ),
        (
            'peak_lr = { type = "float", low = nan, high = 1e-2 }',
            r"\[params.peak_lr\] low, high and step must be finite",
        ),
        ('label_smoothing = { type = "float", low = 0.0, high = 0.2, step = inf }', "must be finite"),
        ('min_lr = { type = "categorical", choices = [1e-5, inf] }', "min_lr must be finite"),
        ('lr_values = { type = "categorical", choices = [[0.001, nan, 0.0001]] }', "lr_values must be finite"),
    ],
)
def test_a_spec_with_non_finite_values_is_refused_at_load_time(tmp_path, body, problem):
    path = tmp_path / "s.toml"
    path.write_text(f"[params]\n{body}\n")
    with pytest.raises(SpecError, match=problem) as err:
        load_spec(path)
    assert str(path) in str(err.value)


def test_a_spec_that_is_not_utf8_is_one_clear_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[study]\ndescription = "Étude"\n[params]\nlookahead = { type = "bool" }\n'.encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == f"{path} is not UTF-8 text (byte 0xc9 at offset 23); save the spec as UTF-8"
    path.write_text('[study]\ndescription = "Étude"\n[params]\nlookahead = { type = "bool" }\n', encoding="utf-8")
    assert load_spec(path).description == "Étude"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a = " + "[" * 50_000 + "]" * 50_000, "RecursionError"),
        ('[params]\nepochs = { type = "int", low = 1, high = ' + "9" * 5000 + " }", "ValueError"),
    ],
)
def test_a_pathological_spec_is_one_line(tmp_path, text, problem):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=f"{problem}") as err:
        load_spec(path)
    assert len(str(err.value)) < 400 and "\n" not in str(err.value)


def test_a_huge_spec_is_refused_before_reading_and_problems_are_capped(tmp_path):
    path = tmp_path / "big.toml"
    with open(path, "wb") as f:
        f.truncate(MAX_SPEC_BYTES + 1)
    with pytest.raises(SpecError, match="too large for a study spec"):
        load_spec(path)
    path.write_text("[params]\n" + "".join(f'bogus_{i} = {{ type = "bool" }}\n' for i in range(5000)))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "and 4980 more" in str(err.value) and len(str(err.value)) < 20 * 400


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b'{"peak_lr": NaN}', "NaN is not a number JSON allows"),
        (b'{"params": {"min_lr": -Infinity}}', "-Infinity is not a number JSON allows"),
        (b'{"optimizer": "\xe9"}', r"not UTF-8 text \(byte 0xe9 at offset 15\)"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "not readable JSON"),
        (b"[1, 2]", "must hold a JSON object"),
    ],
)
def test_a_bad_params_file_is_one_line(tmp_path, content, problem):
    path = tmp_path / "params.json"
    path.write_bytes(content)
    with pytest.raises(HpsearchError, match=problem) as err:
        read_params(str(path))
    assert str(path) in str(err.value) and len(str(err.value)) < 400 and "\n" not in str(err.value)


def test_a_huge_params_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "params.json"
    with open(path, "wb") as f:
        f.truncate(MAX_PARAMS_BYTES + 1)
    with pytest.raises(HpsearchError, match="too large for a parameters file"):
        read_params(str(path))


def test_many_unknown_keys_in_a_params_file_give_a_short_error(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"params": {f"key_{i:06d}": 1 for i in range(50_000)}}))
    with pytest.raises(HpsearchError) as err:
        TrainConfig.from_profile("smoke", **read_params(str(path)))
    assert "key_000000, key_000001, key_000002, key_000003, key_000004 and 49995 more" in str(err.value)
    assert len(str(err.value)) < 1000
