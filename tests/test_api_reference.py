"""The API reference (docs/api/*.rst) documents every public name, and every name it documents
exists.

Reads the reStructuredText sources only: building the HTML (Sphinx, the ``docs`` extra) is CI's
job, with warnings as errors, and too slow for the suite. What a build would not catch is a
public function that no page names; what the suite should catch before CI does is a page that
names a function renamed or removed since.
"""
import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

import tinygrad_seq

API = Path(__file__).resolve().parents[1] / "docs" / "api"
# ".. autofunction:: tinygrad_seq.nn.init.zeros_", ".. data:: tinygrad_seq.float32", ...
DIRECTIVE = re.compile(r"^\.\. (?:auto)?(?:module|class|function|data|exception|method|attribute)::"
                       r"[ \t]+(tinygrad_seq(?:\.\w+)*)[ \t]*$", re.MULTILINE)

# The modules whose public names the reference must cover: a package's every exported name, a
# plain module's ``__all__`` or else the names it defines itself (not what it imports).
DOCUMENTED = [
    "tinygrad_seq", "tinygrad_seq.ops", "tinygrad_seq.nn", "tinygrad_seq.nn.functional",
    "tinygrad_seq.nn.init", "tinygrad_seq.nn.utils", "tinygrad_seq.optim",
    "tinygrad_seq.optim.lr_scheduler", "tinygrad_seq.data", "tinygrad_seq.serialization",
    "tinygrad_seq.inspect", "tinygrad_seq.viz", "tinygrad_seq.anomaly",
    "tinygrad_seq.distributed", "tinygrad_seq.train", "tinygrad_seq.testing",
    "tinygrad_seq.loop",
]
# Top-level modules that users reach only through the names ``tinygrad_seq`` re-exports (or not
# at all). A new module must be added to one list or the other.
INTERNAL = {
    "allocator": "malloc thresholds, set at import",
    "autograd": "Function, grad mode and grad are re-exported by tinygrad_seq",
    "backend": "devices and dtypes, re-exported by tinygrad_seq",
    "checkpoint_file": "the safetensors reader behind tg.save / tg.load",
    "checks": "argument checks behind the clear errors",
    "cpu_loops": "the compiled CPU loops behind tanh, sigmoid and the fused kernels",
    "creation": "the factories, re-exported by tinygrad_seq",
    "inplace": "the in-place ops behind Tensor.add_ and kin",
    "lengths": "the lengths= of the sequence layers and tg.scan, checked where they live",
    "size": "the int that Tensor.size returns",
    "tensor": "Tensor and tensor, re-exported by tinygrad_seq",
    "versions": "the version counts behind in-place ops",
}


def pages():
    return sorted(API.glob("*.rst"))


def documented_targets():
    """{qualified name: page} of every object a page documents."""
    targets = {}
    for page in pages():
        for name in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            targets[name] = page.name
    return targets


def resolve(qualified):
    """The object a dotted name documents, imported as Sphinx's autodoc imports it."""
    parts = qualified.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualified)


def resolved_targets():
    """{qualified name: object} of the targets that exist (test_every_documented_name_exists
    names the others)."""
    resolved = {}
    for name in documented_targets():
        try:
            resolved[name] = resolve(name)
        except (ImportError, AttributeError):
            pass
    return resolved


def public_names(module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = [n for n in dir(module) if not n.startswith("_")
             and not isinstance(getattr(module, n), types.ModuleType)]
    if hasattr(module, "__path__"):  # a package: what it exports is its interface
        return names
    return [n for n in names if getattr(getattr(module, n), "__module__", None) == module.__name__]


def test_every_directive_is_read():
    """A directive typed with one colon is a reST comment: it documents nothing, and no build
    warns."""
    assert len(pages()) >= 10, f"docs/api/ holds {len(pages())} pages"
    unread = [f"{page.name}: {line}" for page in pages()
              for line in page.read_text(encoding="utf-8").splitlines()
              if re.match(r"\.\. (auto\w*|data|class|function|module)\b", line)
              and not DIRECTIVE.match(line)]
    assert not unread, "directives that document nothing:\n" + "\n".join(unread)


def test_every_documented_name_exists():
    missing = []
    for name, page in documented_targets().items():
        try:
            resolve(name)
        except (ImportError, AttributeError) as e:
            missing.append(f"{page}: {name} ({type(e).__name__}: {e})")
    assert not missing, "the reference names objects that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_public_name_is_documented(module_name):
    targets = documented_targets()
    documented_objects = {id(obj) for obj in resolved_targets().values()}
    module = importlib.import_module(module_name)
    undocumented = []
    for name in public_names(module):
        qualified = f"{module_name}.{name}"
        obj = getattr(module, name)
        # a re-export (tg.nn.utils.clip_grad_norm_ is tg.optim's) counts where its original is
        if qualified not in targets and id(obj) not in documented_objects:
            undocumented.append(qualified)
    assert not undocumented, (f"public names of {module_name} missing from docs/api/*.rst: "
                              f"{undocumented}")


def test_every_module_is_documented_or_internal():
    top_level = {m.name for m in pkgutil.iter_modules(tinygrad_seq.__path__)}
    documented = {name.split(".")[1] for name in DOCUMENTED if name.count(".") >= 1}
    unknown = sorted(top_level - documented - set(INTERNAL))
    assert not unknown, (f"modules neither in the reference (DOCUMENTED, docs/api/) nor declared "
                         f"internal: {unknown}")
    documented_modules = {name for name, obj in resolved_targets().items()
                          if isinstance(obj, types.ModuleType)}
    assert set(DOCUMENTED) <= documented_modules, (
        f"modules without a page (.. automodule::): {sorted(set(DOCUMENTED) - documented_modules)}")


def test_every_page_is_in_the_table_of_contents():
    index = (API / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([\w/]+)$", index, re.MULTILINE))
    orphans = [p.stem for p in pages() if p.stem != "index" and p.stem not in listed]
    assert not orphans, f"pages of docs/api/ missing from its index's toctree: {orphans}"
