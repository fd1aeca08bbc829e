"""docs/hardware.md, "Running the test suite against a real device", names every device check and
only those: its table and skip list stay the suite an engineer actually runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTION = (HERE.parents[1] / "docs" / "hardware.md").read_text().split(
    "# Running the test suite against a real device", 1)[1].split("\n# ", 1)[0]


def device_tests() -> set[str]:
    names: set[str] = set()
    for module in ("test_device.py", "test_by_class.py"):
        tree = ast.parse((HERE / module).read_text())
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names


def test_the_doc_names_every_device_check_and_only_those() -> None:
    documented = set(re.findall(r"`(test_\w+)`", SECTION))
    assert documented == device_tests(), (sorted(device_tests() - documented), sorted(documented - device_tests()))


def test_every_documented_class_command_names_a_class_the_suite_takes() -> None:
    classes = set(re.findall(r"--device-class (\w+)", SECTION))
    assert classes == {"receipt_printer", "bill_acceptor", "card_reader", "id_reader", "barcode_scanner",
                       "coin_acceptor"}
