"""The Python examples in README.md and docs/*.md run as written (and their test_* functions pass)."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=lambda p: p.name)
def test_examples_run(page):
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(BLOCK.findall(page.read_text()), 1):
        exec(compile(code, f"{page.name} (python block {number})", "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value()
