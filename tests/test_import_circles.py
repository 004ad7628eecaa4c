"""The package's top-level files, the trainer's and tg.distributed's import one another in no
circle: each concern has a file that the others import, never a file that imports back (a circle
is a bug waiting for the order of imports to change)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinygrad_seq"


def imports_within(folder):
    """{module: the modules of ``folder`` it imports}, at any depth of the file (lazy imports
    inside functions count)."""
    names = {path.stem for path in folder.glob("*.py")}
    graph = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        graph[path.stem] = (found & names) - {path.stem}
    return graph


def circles(graph):
    """Every module that can reach itself by its imports, with the path back."""
    found = []
    for start in graph:
        stack = [(start, [start])]
        seen = set()
        while stack:
            module, path = stack.pop()
            for nxt in graph[module]:
                if nxt == start:
                    found.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


@pytest.mark.parametrize("folder", [".", "train", "distributed"],
                         ids=["tinygrad_seq", "train", "distributed"])
def test_no_import_circles(folder):
    graph = imports_within(PACKAGE / folder)
    del graph["__init__"]  # the face that hands every name on, imported by none of them
    assert len(graph) >= 5, graph
    assert not circles(graph), circles(graph)


def test_a_circle_is_found():
    assert circles({"options": {"parallel"}, "parallel": {"options"}, "runs": set()})
    assert not circles({"options": {"errors", "parallel"}, "parallel": {"errors"}, "errors": set()})
