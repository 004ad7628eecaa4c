"""The house rules that code can check: ops compute through the device's array module."""
import pathlib
import re

OPS = pathlib.Path(__file__).resolve().parent.parent / "tinygrad_seq" / "ops"


def test_ops_never_import_numpy_or_cupy():
    pattern = re.compile(r"^\s*(import|from)\s+(numpy|cupy|cupyx)\b", re.M)
    offenders = [p.name for p in OPS.glob("*.py") if pattern.search(p.read_text())]
    assert not offenders, f"ops/ files importing an array library by name: {offenders}"
