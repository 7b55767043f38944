"""The README's code example runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_example_runs_as_documented() -> None:
    text = README.read_text()
    [code] = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    promised = [line.split("# ", 1)[1] for line in code.splitlines() if line.startswith("print(")]
    assert out.getvalue().splitlines() == promised


def test_readme_has_exactly_the_two_setup_commands() -> None:
    text = README.read_text()
    [block] = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert [line.split()[0:2] for line in block.splitlines()] == [["make", "demo"], ["make", "test"]]
