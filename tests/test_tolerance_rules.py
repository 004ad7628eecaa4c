"""No comparison in the tests, the docs' examples or the docstring examples leaves its tolerance
to ``allclose``'s defaults: they fit neither float32 (a result summed by another BLAS kernel
differs by more than atol=1e-8) nor a long float64 computation. Each call names rtol or atol,
or uses tinygrad_seq.testing.assert_close / tolerances (docs/testing.md, "Comparing float32
results"); exact comparisons use assert_array_equal."""
import ast
import doctest
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLOSE_CALLS = {"allclose", "isclose", "assert_allclose"}   # numpy's, np.testing's and torch's
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)  # the blocks tests/test_docs.py runs


def calls_with_default_tolerances(source):
    """(line, code) of each allclose/isclose/assert_allclose call in ``source`` that gives
    neither rtol nor atol, by keyword, positionally or through ``**options``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        keywords = {k.arg for k in node.keywords}      # None: a **options
        if name in CLOSE_CALLS and not keywords & {"rtol", "atol", None} and len(node.args) <= 2:
            found.append((node.lineno, ast.get_source_segment(source, node)))
    return sorted(found)


def suite_files():
    for path in sorted((ROOT / "tests").glob("*.py")):
        yield path, 0, path.read_text()


def doc_blocks():
    for path in [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text()
        for match in BLOCK.finditer(text):
            yield path, text.count("\n", 0, match.start(1)), match.group(1)


def docstring_examples():
    parser = doctest.DocTestParser()
    for package in ("tinygrad_seq", "models"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for example in parser.get_examples(path.read_text()):
                yield path, example.lineno, example.source


SOURCES = {"tests": suite_files, "docs": doc_blocks, "docstrings": docstring_examples}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_no_comparison_leaves_its_tolerance_to_the_defaults(kind):
    offenders = [f"{path.relative_to(ROOT)}:{first_line + line}: {code}"
                 for path, first_line, source in SOURCES[kind]()
                 for line, code in calls_with_default_tolerances(source)]
    if offenders:
        pytest.fail("comparisons with allclose's default tolerances (rtol=1e-5, atol=1e-8; "
                    "assert_allclose's rtol=1e-7), which fit neither float32 nor the computation: "
                    "give rtol/atol sized to it, or use tinygrad_seq.testing.assert_close(..., "
                    "terms=K):\n  " + "\n  ".join(offenders), pytrace=False)


@pytest.mark.parametrize("code, flagged", [
    ("np.allclose(a, b)", True),
    ("assert not np.allclose(a, b)", True),
    ("np.isclose(a, b).all()", True),
    ("np.testing.assert_allclose(a, b, err_msg='h_n')", True),
    ("torch.allclose(x, y)", True),
    ("assert_allclose(a, b, equal_nan=False)", True),
    ("np.allclose(a, b, atol=1e-6)", False),
    ("np.testing.assert_allclose(a, b, rtol=1e-10)", False),
    ("np.allclose(a, b, 1e-5, 1e-6)", False),
    ("np.testing.assert_allclose(a, b, **TIGHT)", False),
    ("np.testing.assert_allclose(a, b, **tolerances(np.float32, terms=8))", False),
    ("np.testing.assert_array_equal(a, b)", False),
    ("assert_close(a, b, terms=8)", False),
])
def test_the_rule_sees_default_tolerances_and_only_those(code, flagged):
    assert bool(calls_with_default_tolerances(code)) == flagged
