"""Checkpoints: ``tg.save(obj, path)`` and ``tg.load(path, device="cpu")``, as safetensors files.

What can be saved is a nested structure of dicts (string keys), lists, tuples, Tensors, NumPy
arrays, NumPy scalars and Python ``int``/``float``/``bool``/``None``/``str``: a model's
``state_dict()``, an optimizer's state, or a dict of both plus an epoch number.

The file is an ordinary safetensors file (https://huggingface.co/docs/safetensors):

- every array in the structure (a tensor's host copy, a NumPy array, a NumPy scalar) is one
  tensor of the file. The arrays of a top-level dict keep its keys as their names, so
  ``tg.save(model.state_dict(), path)`` writes what ``safetensors.torch.save_file`` would, and
  ``torch_model.load_state_dict(safetensors.torch.load_file(path))`` reads it. Deeper arrays
  are named by their path (``"optimizer.state.0.exp_avg"``), with ``#1``, ``#2``... where two
  paths spell the same name. Complex arrays are stored as float pairs (a last axis of 2) and
  dtypes safetensors lacks (long double) as raw bytes;
- the structure is JSON in the header's ``__metadata__`` under ``"tinygrad_seq"``: the format
  name and version and the tree, each node tagged with its kind (``dict``, ``ordered_dict``,
  ``list``, ``tuple``, ``int``, ``float``, ``tensor``, ``ndarray``...) and each array node
  naming its tensor, NumPy dtype, shape and the CRC-32 of its bytes (safetensors has no
  checksum; a damaged checkpoint must not load as different numbers). ``"tinygrad_seq.crc32"``
  is the CRC-32 of that JSON.

A safetensors file without that metadata (``safetensors.torch.save_file(model.state_dict(),
path)``) loads as a dict of tensors, ready for ``model.load_state_dict``.

Why not pickle (as ``torch.save`` does): unpickling runs whatever code the file names. Here the
structure is JSON and the arrays raw numbers: a checkpoint can never run code, and what comes
back is what went in (tuples stay tuples, ints ints, floats keep every bit, dict order is kept).
Loading a file from anywhere is bounded: the header is checked whole (its size, JSON, dtypes,
shapes, offsets that tile the data exactly, every reference naming a tensor that exists and no
tensor referenced twice, nesting at most ``MAX_DEPTH`` deep) before any tensor is allocated, so
the arrays read take no more memory than the file's data. Every problem with the file is a
``CheckpointError`` naming it.

Old ``.npz`` checkpoints (written before format version 2) are not read: doing so safely means
bounding zip decompression, the very thing this format removes. ``load`` says so; load such a
file with the tinygrad_seq that wrote it and save it again.

``save`` writes a temporary file beside the target, syncs it and renames it over the target, so
a crash mid-save leaves the previous checkpoint whole; everything that can be checked about
``obj`` is checked before any file is touched.
"""
import json
import math
import os
import struct
import zlib
from collections import OrderedDict

import numpy as np

from . import backend, checkpoint_file
from .checkpoint_file import CheckpointError, corrupt, short
from .tensor import Tensor

FORMAT_NAME = "tinygrad_seq.checkpoint"
FORMAT_VERSION = 2
STRUCTURE_KEY = "tinygrad_seq"          # in the safetensors __metadata__
CHECKSUM_KEY = "tinygrad_seq.crc32"
MAX_DEPTH = 100  # nested containers; far past any real checkpoint, far below the stack's limit
_SAVABLE = {np.dtype(kind).newbyteorder(order).str for order in "<>" for kind in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128,
    np.clongdouble)}  # the dtypes an array can be saved in (all but object, str, record...)
_CONTAINERS = {"dict": dict, "ordered_dict": OrderedDict, "list": list, "tuple": tuple}

__all__ = ["save", "load", "CheckpointError"]


# ---------------------------------------------------------------- save

def save(obj, path):
    """Write ``obj`` (a state dict, optimizer state, or any nest of the supported values) to
    ``path`` as a safetensors checkpoint, atomically.

    Tensors are saved from the host (CUDA ones are copied down) without their graph or
    ``requires_grad``. Unlike ``torch.save``, arbitrary objects are refused: anything but
    dicts with string keys, lists, tuples, tensors, NumPy arrays/scalars, ``int``, ``float``,
    ``bool``, ``None`` and ``str`` raises a TypeError that names where it is in ``obj``,
    before any file is touched. ``path`` is used as given (no suffix is appended); a symlink
    is followed (its target is replaced, the link kept), a read-only file is refused.

    >>> import os, tempfile
    >>> import tinygrad_seq as tg
    >>> model = tg.nn.Linear(3, 2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.safetensors")
    ...     tg.save({"model": model.state_dict(), "epoch": 4}, path)
    ...     checkpoint = tg.load(path)
    >>> checkpoint["epoch"], list(checkpoint["model"])
    (4, ['weight', 'bias'])
    """
    path = _checked_path(path, "save")
    leaves = []
    root = _encode(obj, "obj", (), leaves, on_path=set())
    tensors = _name_tensors(leaves)
    structure = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root},
                           allow_nan=False)  # non-finite floats were encoded as bits already
    metadata = {STRUCTURE_KEY: structure, CHECKSUM_KEY: str(zlib.crc32(structure.encode()))}
    checkpoint_file.write_atomically(
        path, lambda file: checkpoint_file.write(file, tensors, metadata))


def _checked_path(path, verb):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"tg.{verb}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def _encode(value, where, names, leaves, on_path):
    """The JSON node of ``value`` (at ``where``, path ``names``); its arrays go to ``leaves``."""
    kind = type(value)
    if value is None:
        return {"kind": "none"}
    if kind in (bool, int, str):
        return {"kind": kind.__name__, "value": value}
    if kind is float:
        if math.isfinite(value):
            return {"kind": "float", "value": value}  # JSON writes repr(), which is exact
        # inf and NaN are not JSON; their 64 bits keep NaN's sign and payload too
        return {"kind": "float", "bits": struct.pack(">d", value).hex()}
    if isinstance(value, Tensor):
        return _array_node("tensor", value.data if value.device == "cpu" else value.data.get(),
                           names, leaves)
    if kind is np.ndarray or isinstance(value, np.generic):  # np.float64 too, a float subclass
        if value.dtype.str not in _SAVABLE:
            raise TypeError(f"tg.save: {where} has dtype {value.dtype}, which cannot be saved "
                            f"without pickle: only bool, integer, float and complex arrays can")
        scalar = kind is not np.ndarray
        return _array_node("scalar" if scalar else "ndarray", np.asarray(value), names, leaves)
    if kind in _CONTAINERS.values():
        if id(value) in on_path:
            raise ValueError(f"tg.save: {where} contains itself; a checkpoint must be a tree")
        if len(on_path) >= MAX_DEPTH:
            raise ValueError(f"tg.save: {where} is nested more than {MAX_DEPTH} containers deep, "
                             f"more than tg.load accepts")
        on_path.add(id(value))
        node = {"kind": next(name for name, cls in _CONTAINERS.items() if cls is kind)}
        if kind in (list, tuple):
            node["items"] = [_encode(item, f"{where}[{k}]", names + (str(k),), leaves, on_path)
                             for k, item in enumerate(value)]
        else:
            for key in value:
                if type(key) is not str:
                    raise TypeError(f"tg.save: {where} has a key {key!r} of type "
                                    f"{type(key).__name__}; checkpoint dict keys must be str")
            node["keys"] = list(value)
            node["items"] = [_encode(item, f"{where}[{key!r}]", names + (key,), leaves, on_path)
                             for key, item in value.items()]
        on_path.discard(id(value))
        return node
    raise TypeError(f"tg.save: {where} is a {_type_name(value)}, which a checkpoint cannot hold: "
                    f"expected dicts with str keys, lists, tuples, Tensors, NumPy arrays or "
                    f"scalars, int, float, bool, None or str{_hint(value)}")


def _storage(dtype):
    """How an array of ``dtype`` is stored: a safetensors dtype (as NumPy's) and a last axis to
    add to the shape: () for dtypes safetensors has, (2,) for complex as float pairs, (itemsize,)
    for raw bytes."""
    little = dtype.newbyteorder("<")
    if little in checkpoint_file.DTYPES.values():
        return little, ()
    part = np.dtype(f"<f{dtype.itemsize // 2}")
    if dtype.kind == "c" and part in checkpoint_file.DTYPES.values():
        return part, (2,)
    return np.dtype(np.uint8), (dtype.itemsize,)


def _array_node(kind, array, names, leaves):
    storage, extra = _storage(array.dtype)
    flat = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False).reshape(-1))
    stored = flat.view(storage).reshape(array.shape + extra)
    node = {"kind": kind, "tensor": None, "dtype": array.dtype.str, "shape": list(array.shape),
            "crc32": zlib.crc32(flat.view(np.uint8))}
    leaves.append((names, node, stored))
    return node


def _name_tensors(leaves):
    """Name every array (a top-level dict's keep its keys: they are state-dict names) and return
    name -> stored array in file order (largest items first, so each starts aligned)."""
    taken = set()
    for names, node, _ in sorted(leaves, key=lambda leaf: len(leaf[0]) > 1):
        base = ".".join(names) if names else "obj"
        try:
            base.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: safetensors names must be UTF-8
            base = "leaf"
        name, n = base, 0
        while name in taken or name == "__metadata__":
            n += 1
            name = f"{base}#{n}"
        taken.add(name)
        node["tensor"] = name
    ordered = sorted(leaves, key=lambda leaf: -leaf[2].dtype.itemsize)
    return {node["tensor"]: stored for _, node, stored in ordered}


def _type_name(value):
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _hint(value):
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return " (convert a namedtuple with tuple(...) or ._asdict())"
    if isinstance(value, (dict, list, tuple)):
        return " (convert it to a plain dict, list or tuple)"
    if isinstance(value, np.ndarray):
        return " (convert this ndarray subclass with np.asarray)"
    if backend.device_of_array(value) != "cpu":
        return " (wrap a CuPy array in tg.tensor(..., device=...) or copy it with .get())"
    if isinstance(value, (set, frozenset)):
        return " (convert a set to a sorted list)"
    return ""


# ---------------------------------------------------------------- load

def load(path, device="cpu"):
    """Read a checkpoint written by ``tg.save``: tensors come back as new Tensors on ``device``
    (without ``requires_grad``), NumPy arrays as NumPy arrays, everything else as it was saved.
    A safetensors file from elsewhere (``safetensors.torch.save_file``) comes back as a dict of
    tensors.

    Loading a checkpoint from an untrusted source cannot run code, and its memory is bounded
    by its size. A file that is truncated, corrupt, not a checkpoint, an old ``.npz`` one or
    written by a newer version raises a ``CheckpointError`` naming the file; a missing file is
    a FileNotFoundError. Differs from ``torch.load``: ``device`` replaces ``map_location`` and
    takes one device for every tensor.

    >>> import os, tempfile
    >>> import tinygrad_seq as tg
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "state.safetensors")
    ...     tg.save({"betas": (0.9, 0.999), "step": tg.tensor([3])}, path)
    ...     state = tg.load(path)
    >>> state["betas"], state["step"].tolist(), state["step"].device
    ((0.9, 0.999), [3], 'cpu')
    """
    path = _checked_path(path, "load")
    device = backend.canonical_device(device)
    file = checkpoint_file.open_regular(path, "tg.load")
    with file:
        checkpoint_file.refuse_other_formats(file, path)
        header = checkpoint_file.read_header(file, path, os.fstat(file.fileno()).st_size)
        if STRUCTURE_KEY not in header.metadata and CHECKSUM_KEY not in header.metadata:
            return _load_plain(file, path, header, device)  # (one damaged key is not enough)
        context = _Context(path, header, [])
        root = _decode(_read_structure(header.metadata, path)["root"], None, 0, context)
        unused = [name for name in header.entries if name not in context.used]
        if unused:
            raise corrupt(path, f"it holds tensor {short(unused[0])}, which its structure does "
                                f"not use ({len(unused)} such)")
        for leaf in sorted(context.leaves, key=lambda leaf: header.entries[leaf.name].begin):
            leaf.array = _read_leaf(file, path, header, leaf)
    # Tensors are made only once every array has been read and checked: a bad file fails
    # before anything is copied to the device.
    return _materialize(root, device)


def _load_plain(file, path, header, device):
    """A safetensors file without our structure: its tensors by name, in header order."""
    for name, entry in header.entries.items():  # every dtype is checked before any is read
        if checkpoint_file.DTYPES[entry.dtype] is None:
            raise CheckpointError(f"tg.load: {path!r}: tensor {short(name)} is {entry.dtype}, "
                                  f"which NumPy cannot hold; convert it to float32 before saving")
    arrays = {name: checkpoint_file.read_array(file, path, name, header) for name in header.entries}
    return {name: _tensor(array, device) for name, array in arrays.items()}


def _read_structure(metadata, path):
    text = metadata.get(STRUCTURE_KEY)
    if text is None:
        raise corrupt(path, f"its metadata has {CHECKSUM_KEY!r} but no {STRUCTURE_KEY!r} (damaged?)")
    if metadata.get(CHECKSUM_KEY) != str(zlib.crc32(text.encode("utf-8", "surrogatepass"))):
        raise corrupt(path, "its structure does not match its CRC-32 (damaged?)")
    try:
        structure = checkpoint_file.parse_json(text, checkpoint_file.MAX_JSON_ENTRIES)
    except (ValueError, RecursionError) as e:
        raise corrupt(path, f"its structure is not JSON ({type(e).__name__}: {e})") from e
    if not isinstance(structure, dict) or structure.get("format") != FORMAT_NAME:
        found = structure.get("format") if isinstance(structure, dict) else structure
        raise CheckpointError(f"tg.load: {path!r} was not written by tg.save: its structure names "
                              f"the format {short(found)}, expected {FORMAT_NAME!r}")
    version = structure.get("version")
    if type(version) is not int or version < 2:
        raise corrupt(path, f"its structure has format version {short(version)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"tg.load: {path!r} was written by a newer tinygrad_seq (checkpoint "
                              f"format version {version}; this one reads up to {FORMAT_VERSION}): "
                              f"upgrade tinygrad_seq to load it")
    if "root" not in structure:
        raise corrupt(path, "its structure has no 'root'")
    return structure


class _Context:
    def __init__(self, path, header, leaves):
        self.path, self.header, self.leaves, self.used = path, header, leaves, set()


class _Leaf:
    """An array node, checked against the header; its array is read once the tree is whole."""

    __slots__ = ("kind", "name", "dtype", "shape", "crc32", "where", "array")

    def __init__(self, kind, name, dtype, shape, crc32, where):
        self.kind, self.name, self.dtype, self.shape = kind, name, dtype, shape
        self.crc32, self.where, self.array = crc32, where, None


def _spelled(where):
    """``obj['a'][0]`` from the chain of (parent, key) pairs that _decode hands down: spelled
    out only for an error, as a hostile file's deep and wide tree would make the strings of
    every node take memory quadratic in its depth."""
    keys = []
    while where is not None:
        where, key = where
        keys.append(f"[{key}]" if type(key) is int else f"[{short(key)}]")
    return "obj" + "".join(reversed(keys))


def _decode(node, where, depth, context):
    """The value of a structure node, with arrays left as _Leaf (see load)."""
    try:
        kind = node["kind"]
        if kind == "none":
            return None
        if kind in ("bool", "int", "str"):
            value = node["value"]
            if type(value).__name__ != kind:
                raise ValueError(f"a {kind} node holds {short(value)}")
            return value
        if kind == "float":
            if "bits" in node:
                if type(node["bits"]) is not str or len(node["bits"]) != 16:
                    raise ValueError(f"bits {short(node['bits'])} are not 16 hex digits")
                return struct.unpack(">d", bytes.fromhex(node["bits"]))[0]
            if type(node["value"]) is not float:
                raise ValueError(f"a float node holds {short(node['value'])}")
            return node["value"]
        if kind in ("tensor", "ndarray", "scalar"):
            return _leaf(node, kind, where, context)
        if kind in _CONTAINERS:
            if depth >= MAX_DEPTH:
                raise ValueError(f"it is nested more than {MAX_DEPTH} containers deep")
            items = node["items"]
            keys = node["keys"] if kind in ("dict", "ordered_dict") else range(len(items))
            if type(items) is not list or type(keys) not in (list, range) \
                    or len(keys) != len(items):
                raise ValueError(f"a {kind} node needs lists of items (and as many keys)")
            if type(keys) is list and (any(type(key) is not str for key in keys)
                                       or len(set(keys)) != len(keys)):
                raise ValueError(f"a {kind} node's keys are not distinct strings")
            values = [_decode(item, (where, key), depth + 1, context)
                      for key, item in zip(keys, items)]
            if type(keys) is range:
                return _CONTAINERS[kind](values)
            return _CONTAINERS[kind](zip(keys, values))
        raise ValueError(f"unknown kind {short(kind)}")
    except CheckpointError:
        raise  # already explained, by a deeper node
    except (KeyError, TypeError, ValueError, struct.error) as e:
        raise corrupt(context.path, f"its structure is malformed at {_spelled(where)} "
                                    f"({type(e).__name__}: {e})") from e


def _leaf(node, kind, where, context):
    name, dtype, shape, crc = node["tensor"], node["dtype"], node["shape"], node["crc32"]
    entries = context.header.entries
    if type(name) is not str or name not in entries:
        raise corrupt(context.path, f"its structure refers to a tensor {short(name)} for "
                                    f"{_spelled(where)}, "
                                    f"which is not in the file")
    if name in context.used:  # each array is read once: the file bounds what loading allocates
        raise corrupt(context.path, f"its structure refers to tensor {short(name)} twice (again "
                                    f"for {_spelled(where)})")
    if dtype not in _SAVABLE or (kind == "tensor" and np.dtype(dtype).kind not in "biuf"):
        raise ValueError(f"a {kind} node has dtype {short(dtype)}")
    if type(shape) is not list or any(type(n) is not int or n < 0 for n in shape) \
            or type(crc) is not int or (kind == "scalar" and shape):
        raise ValueError(f"a {kind} node has shape {short(shape)} and crc32 {short(crc)}")
    dtype = np.dtype(dtype)
    storage, extra = _storage(dtype)
    entry = entries[name]
    if (checkpoint_file.DTYPES[entry.dtype], entry.shape) != (storage, tuple(shape) + extra):
        raise corrupt(context.path, f"tensor {short(name)} for {_spelled(where)} is "
                                    f"{entry.dtype} of shape {list(entry.shape)} in the header, "
                                    f"but its structure says {dtype} of shape {shape}")
    context.used.add(name)
    leaf = _Leaf(kind, name, dtype, tuple(shape), crc, where)
    context.leaves.append(leaf)
    return leaf


def _read_leaf(file, path, header, leaf):
    stored = checkpoint_file.read_array(file, path, leaf.name, header)
    if zlib.crc32(stored.reshape(-1).view(np.uint8)) != leaf.crc32:
        raise corrupt(path, f"the bytes of tensor {short(leaf.name)} for {_spelled(leaf.where)} "
                            f"do not match their CRC-32 (damaged?)")
    array = stored.reshape(-1).view(leaf.dtype.newbyteorder("<")).reshape(leaf.shape)
    return array if leaf.dtype.isnative or leaf.kind == "tensor" else array.astype(leaf.dtype)


def _tensor(array, device):
    if device == "cpu" and array.dtype.isnative:
        return Tensor._make(array, "cpu", None, 0)  # the array is ours alone: no second copy
    return Tensor(array, dtype=array.dtype.newbyteorder("="), device=device)


def _materialize(value, device):
    if isinstance(value, _Leaf):
        if value.kind == "tensor":
            return _tensor(value.array, device)
        return value.array[()] if value.kind == "scalar" else value.array
    if type(value) in (dict, OrderedDict):
        return type(value)((key, _materialize(item, device)) for key, item in value.items())
    if type(value) in (list, tuple):
        return type(value)(_materialize(item, device) for item in value)
    return value
