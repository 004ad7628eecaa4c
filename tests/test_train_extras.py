"""The trainer's optional packages: ``import tinygrad_seq`` does not pull in the trainer, tqdm or
matplotlib, and a run without them stops with an error naming the extra that brings them."""
import subprocess
import sys

import pytest

from tinygrad_seq.train import extras


def test_importing_the_package_imports_neither_the_trainer_nor_its_extras():
    code = ("import sys, tinygrad_seq; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'tqdm') "
            "or m.startswith('tinygrad_seq.train')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package, reach", [("tqdm", extras.tqdm), ("matplotlib", extras.pyplot)])
def test_a_missing_extra_is_named_with_its_install_command(monkeypatch, package, reach):
    for name in [m for m in sys.modules if m.split(".")[0] == package]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed: import fails
    with pytest.raises(ImportError, match=rf"needs {package}, which is not installed: "
                                          r'pip install "tinygrad_seq\[train\]"'):
        reach()


def test_an_error_inside_an_installed_extra_is_not_disguised(monkeypatch):
    monkeypatch.setitem(sys.modules, "json.missing_part", None)
    with pytest.raises(ModuleNotFoundError, match="json.missing_part"):
        extras.need("json.missing_part", "testing")
