"""The node's parameter table in Markdown, from ``settings.PARAMS`` (the one definition).

``python tools/param_table.py`` prints it; ``--write docs/node.md`` replaces the table
between the page's markers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from mtg_grasp_ros.settings import PARAMS, Param

BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"


def _value(v: object) -> str:
    if isinstance(v, float) and math.isclose(v, math.pi):
        return "π"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(v)


def _allowed(p: Param) -> str:
    if p.choices:
        return " \\| ".join(p.choices)
    if p.range is not None:
        lo, hi = p.range
        return f"[{lo:g}, {hi:g}]"
    return ""


def table() -> str:
    """One row per parameter: name, default, range or choices, description, read-only."""
    rows = ["| parameter | default | range / choices | description |", "|---|---|---|---|"]
    for p in PARAMS:
        text = p.description.replace("|", "\\|") + (" (ro)" if p.read_only else "")
        rows.append(f"| `{p.name}` | `{_value(p.default)}` | {_allowed(p)} | {text} |")
    return "\n".join(rows)


def replace_table(page: str) -> str:
    """``page`` with the text between the markers replaced by the current table."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(page):
        raise ValueError(f"no {BEGIN} ... {END} block in the page")
    return pattern.sub(lambda _: f"{BEGIN}\n{table()}\n{END}", page)


def main() -> None:
    """Print the table, or write it into the page given with ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="page whose table block to replace")
    args = parser.parse_args()
    if args.write:
        args.write.write_text(replace_table(args.write.read_text()))
    else:
        print(table())


if __name__ == "__main__":
    main()
