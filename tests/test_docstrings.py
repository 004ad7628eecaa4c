"""Every ``>>>`` example in the package's docstrings runs and prints what it says."""
import doctest
import importlib
import pkgutil

import pytest

import tinygrad_seq as tg

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(tg.__path__, "tinygrad_seq."))


# OpSpec.example() is for exploring a spec at the prompt, which its docstring shows; hypothesis
# warns when that runs inside a test, where @given would be the right tool.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tg.manual_seed(0)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
