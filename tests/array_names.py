"""Which names of the array module and of CuPy the package uses, read from its sources with
``ast``, and whether a given module has them: the machinery of tests/test_cupy_names.py.

The package computes on the device's array module (``xp``: NumPy on the CPU, CuPy on CUDA). The
collector finds every attribute chain on it (``xp.*``, ``ctx.xp.*``, ``backend.xp_of(d).*``,
ufunc methods such as ``xp.add.at``, ``xp.random.*``) and on CuPy itself (``cupy.*``,
``cupy.cuda.*``, ``cupyx.*``, through any alias or import), with the keywords of each call.
"""
import ast
import functools
import importlib
import inspect
import pathlib
from typing import NamedTuple

import tinygrad_seq
from tinygrad_seq.autograd import Function

PACKAGE = pathlib.Path(tinygrad_seq.__file__).resolve().parent
ARRAY_MODULE = "xp"                      # a name, or an attribute (ctx.xp, dev.xp), for numpy/cupy
LIBRARIES = ("cupy", "cupyx")
# What CuPy's ufunc.__call__ pops from its keywords before refusing the rest ("Wrong arguments").
UFUNC_KEYWORDS = frozenset({"out", "dtype", "casting"})


class Use(NamedTuple):
    """One name used: ``root`` is "xp" (NumPy or CuPy, by device), "cupy" or "cupyx"."""
    root: str
    path: str           # dotted, after the root: "add.at", "cuda.nccl.NcclCommunicator"
    where: str          # "ops/indexing.py:55"
    keywords: tuple = ()


class Dynamic(NamedTuple):
    """``getattr(xp, <expression>)``: a name chosen at run time, resolved by ``resolve_dynamic``."""
    root: str
    expression: str     # "ctx.pick"
    where: str


# ---------------------------------------------------------------- the collector

def _dotted(node, aliases, getters):
    """(root, path) for a chain of attributes on the array module or on CuPy, else None: from a
    name bound to one (``xp``, ``cupy``, an alias), an attribute named ``xp`` (``ctx.xp``), or a
    call of a function that returns one (``backend.xp_of(device)``)."""
    parts = []
    while isinstance(node, ast.Attribute):
        if node.attr == ARRAY_MODULE:
            return ARRAY_MODULE, ".".join(reversed(parts))
        parts.append(node.attr)
        node = node.value
    module = None
    if isinstance(node, ast.Name):
        module = aliases.get(node.id)
    elif isinstance(node, ast.Call):
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
            node.func, "id", None)
        module = getters.get(called)
    if module is None:
        return None
    root, *prefix = module.split(".")
    return root, ".".join(prefix + list(reversed(parts)))


def _joined(found):
    return ".".join(part for part in found if part)


class _Source:
    """One parsed file, its nodes listed once: the collector reads them several times."""

    def __init__(self, source, filename):
        self.filename = filename
        self.nodes = list(ast.walk(ast.parse(source, filename)))
        self.imports = [node for node in self.nodes if isinstance(node, ast.Import) or (
            isinstance(node, ast.ImportFrom) and not node.level and node.module)]
        self.assignments = [node for node in self.nodes if isinstance(node, ast.Assign)
                            and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)]
        self.returns = [(function.name, node.value) for function in self.nodes
                        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for node in ast.walk(function)
                        if isinstance(node, ast.Return) and node.value is not None]
        self.parents = {child: node for node in self.nodes for child in ast.iter_child_nodes(node)}


def _aliases(source, getters):
    """Names bound to the array module or to CuPy in a file: imports, and assignments from
    them (``_cupy = cupy``), wherever they stand in the file."""
    aliases = {ARRAY_MODULE: ARRAY_MODULE, **{name: name for name in LIBRARIES}}
    for node in source.imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    bound = alias.asname or alias.name.split(".")[0]
                    aliases[bound] = alias.name if alias.asname else bound
        elif node.module.split(".")[0] in LIBRARIES:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    changed = True
    while changed:                      # an alias of an alias, in any order
        changed = False
        for node in source.assignments:
            found = _dotted(node.value, aliases, getters)
            if found is not None and node.targets[0].id not in aliases:
                aliases[node.targets[0].id] = _joined(found)
                changed = True
    return aliases


def module_getters(sources):
    """Functions that return the array module or CuPy (``xp_of``, ``cuda_module``), by name,
    found across ``sources`` until no more are (one may return another's result)."""
    getters = {}
    while True:
        found = dict(getters)
        for source in sources:
            aliases = _aliases(source, getters)
            for function, value in source.returns:
                module = _dotted(value, aliases, getters)
                if module is not None and not module[1]:
                    found[function] = module[0]
        if found == getters:
            return getters
        getters = found


def _uses_in(source, getters):
    aliases = _aliases(source, getters)
    uses, dynamic = [], []

    def where(node):
        return f"{source.filename}:{node.lineno}"

    for node in source.imports:       # an imported name must exist too: from cupy.cuda import nccl
        if isinstance(node, ast.Import):
            uses += [Use(*alias.name.split(".", 1), where(node)) for alias in node.names
                     if "." in alias.name and alias.name.split(".")[0] in LIBRARIES]
        else:
            root, _, path = node.module.partition(".")
            if root in LIBRARIES:
                uses += [Use(root, f"{path}.{alias.name}".lstrip("."), where(node))
                         for alias in node.names]

    for node in source.nodes:
        if isinstance(node, ast.Attribute):
            parent = source.parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                continue            # only the longest chain: xp.add.at, not also xp.add
            found = _dotted(node, aliases, getters)
            if found is None or not found[1]:
                continue            # not the array module, or the module itself (ctx.xp)
            keywords = ()
            if isinstance(parent, ast.Call) and parent.func is node:
                keywords = tuple(k.arg for k in parent.keywords if k.arg is not None)
            uses.append(Use(*found, where(node), keywords))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "getattr" and len(node.args) == 2):
            # getattr with a default probes for an optional name: only the two-argument form
            found = _dotted(node.args[0], aliases, getters)
            if found is None:
                continue
            root, path = found
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                uses.append(Use(root, f"{path}.{name.value}".lstrip("."), where(node)))
            else:
                dynamic.append(Dynamic(root, ast.unparse(name), where(node)))
    return uses, dynamic


def array_module_uses(source, filename="<source>"):
    """The names of the array module and of CuPy that ``source`` uses, and its dynamic lookups.

    >>> uses, dynamic = array_module_uses("import numpy as np\\nxp.add.at(g, i, x)\\nnp.pi")
    >>> [(u.root, u.path) for u in uses]
    [('xp', 'add.at')]
    """
    parsed = _Source(source, filename)
    return _uses_in(parsed, module_getters([parsed]))


@functools.lru_cache(maxsize=None)
def package_uses(package=PACKAGE):
    """Every use in the package at ``package`` (a folder), with paths relative to it."""
    sources = [_Source(path.read_text(), str(path.relative_to(package)))
               for path in sorted(package.rglob("*.py"))]
    getters = module_getters(sources)
    uses, dynamic = [], []
    for source in sources:
        more, more_dynamic = _uses_in(source, getters)
        uses += more
        dynamic += more_dynamic
    return tuple(uses), tuple(dynamic)


def resolve_dynamic(dynamic):
    """The names behind ``getattr(ctx.xp, ctx.ATTR)``: every string that a Function subclass of
    the package sets as its class attribute ATTR (Maximum's ``pick``, the comparisons' ``ufunc``).
    An expression of another form, or one that resolves to nothing, is a clear failure."""
    functions, todo = [], [Function]
    while todo:
        cls = todo.pop()
        functions.append(cls)
        todo += cls.__subclasses__()
    uses, unresolved = [], []
    for site in dynamic:
        owner, _, attribute = site.expression.partition(".")
        names = sorted({getattr(cls, attribute) for cls in functions
                        if owner in ("ctx", "self") and "." not in attribute
                        and isinstance(cls.__dict__.get(attribute), str)})
        if not names:
            unresolved.append(site)
        uses += [Use(site.root, name, site.where) for name in names]
    return uses, unresolved


# ---------------------------------------------------------------- the checks

def lookup(module, path):
    """The object at ``module.path``, importing submodules on the way (``cupy.cuda.nccl``)."""
    obj, prefix = module, module.__name__
    for part in path.split("."):
        prefix = f"{prefix}.{part}"
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(prefix)
            except ImportError:
                raise LookupError(prefix) from None
    return obj


def missing_names(uses, modules):
    """'where: name' for each use whose name ``modules`` (root -> module) does not have."""
    missing = []
    for use in uses:
        try:
            lookup(modules[use.root], use.path)
        except LookupError as e:
            missing.append(f"{use.where}: {e.args[0]}")
    return sorted(set(missing))


def refused_keywords(uses, cupy):
    """'where: name(keyword=)' for each keyword that CuPy's function does not take, and for each
    function whose signature cannot be read (check it by hand, then make it readable here)."""
    refused = []
    for use in uses:
        if not use.keywords:
            continue
        name = f"{use.root}.{use.path}"
        try:
            module = cupy if use.root == ARRAY_MODULE else importlib.import_module(use.root)
            function = lookup(module, use.path)
        except LookupError:
            continue                                    # missing_names reports it
        if isinstance(function, cupy.ufunc):
            accepted, takes_any = UFUNC_KEYWORDS, False
        else:
            try:
                parameters = inspect.signature(function).parameters.values()
            except (TypeError, ValueError):
                refused.append(f"{use.where}: {name}: its signature cannot be read, keywords "
                               f"{use.keywords} unchecked")
                continue
            accepted = {p.name for p in parameters
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
            takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
        refused += [f"{use.where}: {name}({keyword}=)" for keyword in use.keywords
                    if keyword not in accepted and not takes_any]
    return sorted(set(refused))


def all_uses(package=PACKAGE):
    """Every use in ``package``, the dynamic ones resolved; a dynamic one of a form that
    ``resolve_dynamic`` does not know is an error naming it."""
    uses, dynamic = package_uses(package)
    resolved, unresolved = resolve_dynamic(dynamic)
    if unresolved:
        raise ValueError(f"getattr on the array module with a name that cannot be resolved "
                         f"(teach resolve_dynamic its form): {unresolved}")
    return list(uses) + resolved
