"""The docs match the code: the node page's parameter table is ``settings.PARAMS``, links
resolve, the README stays short, and its cheap commands run as written.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess

import pytest
from conftest import REPO, subprocess_env

README = REPO / "README.md"
DOCS = REPO / "docs"


def _param_table_module():
    spec = importlib.util.spec_from_file_location("param_table", REPO / "tools" / "param_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_node_page_parameter_table_is_the_settings_table():
    page = (DOCS / "node.md").read_text()
    module = _param_table_module()
    assert module.replace_table(page) == page, (
        "docs/node.md's parameter table is stale: python tools/param_table.py --write "
        "docs/node.md")
    from mtg_grasp_ros.settings import PARAMS

    for p in PARAMS:
        assert f"| `{p.name}` |" in page


def test_readme_is_short_and_its_links_resolve():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines"
    for page in [README, *sorted(DOCS.glob("*.md")), *sorted((REPO / "models").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def _readme_commands() -> list[str]:
    """The README's shell lines marked ``# runs in CI`` (cheap enough for the test suite)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            if line.rstrip().endswith("# runs in CI"):
                out.append(line.rsplit("#", 1)[0].strip())
    return out


def test_readme_marks_cheap_commands():
    assert len(_readme_commands()) >= 3


@pytest.mark.parametrize("command", _readme_commands())
def test_readme_command_runs_as_written(command):
    argv = shlex.split(command)
    if argv[0] == "mtg_grasp":
        argv[0] = str(REPO / ".venv" / "bin" / "mtg_grasp")
        if not (REPO / ".venv" / "bin" / "mtg_grasp").exists():
            import sys
            argv = [sys.executable, "-m", "mtg_grasp_ros.cli", *argv[1:]]
    data = REPO.parent / "shared" / "data"
    if any("../shared/data" in a for a in argv) and not data.is_dir():
        pytest.skip("the shared data samples are not here")
    r = subprocess.run(argv, cwd=REPO, env=subprocess_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"{command}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr
