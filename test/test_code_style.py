"""Rules ruff does not check: functions a reader can hold in their head (at most 80 lines)
and no issue-tracker references or work history in the package.
"""

from __future__ import annotations

import ast
import re

from conftest import REPO

PACKAGE = REPO / "mtg_grasp_ros"
MAX_LINES = 80
#: Known to exceed the limit, still to be split into named steps (each entry is a defect: it
#: is listed so that no new long function can hide behind it).
NOT_YET_SPLIT = {"mtg_grasp_ros/training/loop.py:train"}


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for fn in _functions(ast.parse(path.read_text())):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            name = f"{path.relative_to(REPO)}:{fn.name}"
            if length > MAX_LINES and name not in NOT_YET_SPLIT:
                long.append(f"{path.relative_to(REPO)}:{fn.lineno} {fn.name} ({length} lines)")
    assert not long, "\n".join(long)


def test_no_issue_numbers_in_the_package():
    pattern = re.compile(r"\bissues?\s+#?\d+|\(issue\s*#?\d+\)", re.I)
    found = [f"{path.relative_to(REPO)}:{i}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, "\n".join(found)


def test_the_not_yet_split_list_holds_only_long_functions():
    for entry in NOT_YET_SPLIT:
        file, name = entry.split(":")
        lengths = [(fn.end_lineno or fn.lineno) - fn.lineno + 1
                   for fn in _functions(ast.parse((REPO / file).read_text())) if fn.name == name]
        assert lengths and max(lengths) > MAX_LINES, f"{entry} is short now: drop it from the list"
