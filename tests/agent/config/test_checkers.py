"""agent/config/checkers.py: the agent's wording of value problems (``config check`` prints it)."""

from __future__ import annotations

import re

from agent.config.checkers import boolean_value, hostport, integer, number, path_list, string


def test_integer_bounds_and_booleans() -> None:
    check = integer(1, 10)
    assert check(1) is None and check(10) is None
    assert check(0) == "must be >= 1, got 0"
    assert check(11) == "must be <= 10, got 11"
    assert check(True) == "expected an integer, got a boolean True"
    assert check(1.0) == "expected an integer, got a number 1.0"
    assert integer()(-(10**9)) is None


def test_number_bounds_open_and_closed() -> None:
    assert number(0)(0) is None and number(0)(0.0) is None
    assert number(0, lo_open=True)(0) == "must be > 0, got 0"
    assert number(1, 600)(600.5) == "must be <= 600, got 600.5"
    assert number(0.05)(0.01) == "must be >= 0.05, got 0.01"
    assert number()("1") == "expected a number, got a string '1'"
    assert number()(False) == "expected a number, got a boolean False"


def test_string_choices_pattern_and_empty() -> None:
    assert string()("x") is None
    assert string()("") == "must not be empty"
    assert string()(5) == "expected a string, got an integer 5"
    assert string(choices=("5", "3.1.1"))("4") == "must be one of '5', '3.1.1', got '4'"
    assert string(re.compile(r"^[a-z]+$"))("A") == "invalid value 'A'"


def test_hostport_boolean_and_paths() -> None:
    assert hostport("127.0.0.1:8470") is None and hostport("[::1]:8470") is None
    assert hostport("8470") == "expected HOST:PORT, got '8470'"
    assert hostport(8470) == "expected HOST:PORT, got 8470"
    assert boolean_value(False) is None
    assert boolean_value("true") == "expected true or false, got a string 'true'"
    assert path_list(["/a.pem", "/b.pem"]) is None
    assert path_list({}) == "expected a path or an array of paths, got a table {}"
