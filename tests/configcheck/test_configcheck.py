"""configcheck: the key-path engine under the agent's and the fleet's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configcheck import ConfigError, a_type_name, boolean, check_table, not_finite, paths, read_toml, type_name


def positive(v: Any) -> str | None:
    return None if isinstance(v, int) and v > 0 else f"must be > 0, got {v!r}"


@pytest.mark.parametrize(("value", "bare", "article"), [
    (True, "boolean", "a boolean"), (1, "integer", "an integer"), (1.5, "number", "a number"),
    ("x", "string", "a string"), ([], "array", "an array"), ({}, "table", "a table"),
    (None, "NoneType", "NoneType"),
])
def test_type_names_with_and_without_article(value: Any, bare: str, article: str) -> None:
    assert (type_name(value), a_type_name(value)) == (bare, article)


def test_check_table_keeps_good_keys_and_names_every_bad_one_by_path() -> None:
    problems: list[str] = ["earlier"]
    out = check_table("mqtt", {"port": 5, "window": 0, "typo": 1}, {"port": positive, "window": positive},
                      problems, describe=type_name)
    assert out == {"port": 5}
    assert problems == ["earlier", "mqtt.window: must be > 0, got 0", "mqtt.typo: unknown key"]


def test_check_table_refuses_a_non_table_with_the_callers_wording() -> None:
    problems: list[str] = []
    assert check_table("devices.p", [1], {}, problems, describe=a_type_name) is None
    assert check_table("ingest", "x", {}, problems, describe=type_name) is None
    assert problems == ["devices.p: expected a table, got an array", "ingest: expected a table, got string"]


def test_check_table_stores_float_keys_as_floats_and_others_as_written() -> None:
    out = check_table("ingest", {"a": 20, "b": 20}, {"a": positive, "b": positive}, [], describe=type_name,
                      floats=frozenset({"a"}))
    assert out == {"a": 20.0, "b": 20}
    assert type(out["a"]) is float and type(out["b"]) is int


def test_boolean_and_paths_word_the_type_as_told() -> None:
    assert boolean(type_name)(True) is None and boolean(type_name)(False) is None
    assert boolean(type_name)(1) == "expected true or false, got integer 1"
    assert boolean(a_type_name)("yes") == "expected true or false, got a string 'yes'"
    check = paths(a_type_name)
    assert check("/k.pem") is None and check(["/a", "/b"]) is None
    for bad in ([], "", ["/a", ""], 3):
        assert check(bad) is not None and check(bad).startswith("expected a path or an array of paths, got ")
    assert paths(type_name)([]) == "expected a path or an array of paths, got array []"


def test_read_toml_names_the_file_for_each_way_it_can_fail(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[a]\nb = 1\n')
    assert read_toml(good) == {"a": {"b": 1}}
    cases = {"missing.toml": None, "bad.toml": b"x = \n", "bin.toml": b"\xff\xfe"}
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    messages = {}
    for name in cases:
        with pytest.raises(ConfigError) as exc:
            read_toml(str(tmp_path / name))
        assert len(exc.value.problems) == 1 and str(exc.value) == exc.value.problems[0]
        messages[name] = exc.value.problems[0]
    assert messages["missing.toml"] == f"{tmp_path}/missing.toml: cannot read: No such file or directory"
    assert messages["bad.toml"].startswith(f"{tmp_path}/bad.toml: not valid TOML: ")
    assert messages["bin.toml"].startswith(f"{tmp_path}/bin.toml: not UTF-8: ")


def test_config_error_joins_its_problems() -> None:
    err = ConfigError(["a: x", "b: y"])
    assert str(err) == "a: x; b: y" and err.problems == ["a: x", "b: y"]


def test_both_configs_raise_the_same_error_class() -> None:
    from agent.config import ConfigError as AgentError
    from fleet.config import ConfigError as FleetError
    assert AgentError is ConfigError and FleetError is ConfigError


def test_not_finite_names_nan_and_the_infinities_only() -> None:
    import math
    for value in (math.nan, math.inf, -math.inf):
        assert not_finite(value) == f"must be a finite number, got {value}"
    for value in (0, -1, 1e308, -1e308, 5e-324, 2**62):
        assert not_finite(value) is None
    assert not_finite(float("nan")) == "must be a finite number, got nan"
