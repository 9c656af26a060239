"""Claim: the README is true: its Python examples run as written and its
Quickstart test command is the one `.ci/run` executes."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run(capsys):
    """Every ```python block of the README executes without error."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "0.5524" in capsys.readouterr().out


def test_ci_runs_readme_test_command():
    """.ci/run calls exactly the README's test command."""
    command = 'python3 -m pip install -q -e ".[test,cuda]" && python3 -m pytest'
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text()
