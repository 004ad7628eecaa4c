"""Checkpoints: ``tg.save(obj, path)`` and ``tg.load(path, device="cpu")``, as ``.npz`` without pickle.

What can be saved is a nested structure of dicts (string keys), lists, tuples, Tensors, NumPy
arrays, NumPy scalars and Python ``int``/``float``/``bool``/``None``/``str``: a model's
``state_dict()``, an optimizer's state, or a dict of both plus an epoch number.

The format is an ordinary ``.npz`` archive (a zip of ``.npy`` files, readable with ``np.load``):

- every array in the structure (a tensor's host copy, a NumPy array, a NumPy scalar) is one
  member under a generated name (``leaf_0``, ``leaf_1``, ...);
- one more member, ``tinygrad_seq_manifest``, is a uint8 array holding UTF-8 JSON: the format
  name and version and the structure itself, each node tagged with its kind (``dict``,
  ``ordered_dict``, ``list``, ``tuple``, ``int``, ``float``, ``tensor``, ``ndarray``...) and
  each array node naming its member, dtype and shape.

Why not pickle (as ``torch.save`` does): unpickling a file runs whatever code the file names,
so opening a checkpoint from the internet would be as dangerous as running a script from it.
Here the structure is JSON and the arrays are raw numbers, and ``load`` reads with
``np.load(..., allow_pickle=False)``: a checkpoint can never run code. It also means the type
of every value is known exactly, so what comes back is what went in: tuples stay tuples, ints
stay ints, floats keep every bit (NaN payloads included), dict order is kept.

``save`` writes a temporary file beside ``path``, syncs it to disk and renames it over
``path``, so a crash mid-save leaves the previous checkpoint whole; everything that can be
checked about ``obj`` is checked before any file is touched.
"""
import json
import math
import os
import struct
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import backend
from .tensor import Tensor

FORMAT_NAME = "tinygrad_seq.checkpoint"
FORMAT_VERSION = 1
MANIFEST_NAME = "tinygrad_seq_manifest"
TEMP_PREFIX = ".tg-save-"  # leftovers of a hard crash (power loss) are easy to spot and delete
_ARRAY_KINDS = "biufc"     # bool, integers, floats, complex: dtypes .npy stores without pickle
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_NPY_MAGIC = b"\x93NUMPY"
# What reading a damaged archive can raise, from zipfile, zlib and NumPy's .npy reader (whose
# ValueError is also how it refuses an object array that would need unpickling).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError,
                NotImplementedError, RuntimeError)


class CheckpointError(ValueError):
    """A file that ``tg.load`` cannot read as a checkpoint; the message names the file and why."""


# ---------------------------------------------------------------- save

def save(obj, path):
    """Write ``obj`` (a state dict, optimizer state, or any nest of the supported values) to
    ``path`` as a ``.npz`` checkpoint, atomically.

    Tensors are saved from the host (CUDA ones are copied down) without their graph or
    ``requires_grad``. Unlike ``torch.save``, arbitrary objects are refused: anything but
    dicts with string keys, lists, tuples, tensors, NumPy arrays/scalars, ``int``, ``float``,
    ``bool``, ``None`` and ``str`` raises a TypeError that names where it is in ``obj``,
    before any file is touched. ``path`` is used as given (no ``.npz`` is appended).

    >>> import os, tempfile
    >>> import tinygrad_seq as tg
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> model = tg.nn.Linear(3, 2)
    >>> tg.save({"model": model.state_dict(), "epoch": 4}, path)
    >>> checkpoint = tg.load(path)
    >>> checkpoint["epoch"], list(checkpoint["model"])
    (4, ['weight', 'bias'])
    """
    path = _checked_path(path, "save")
    arrays = {}
    root = _encode(obj, "obj", arrays, on_path=set())
    manifest = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root},
                          allow_nan=False)  # non-finite floats were encoded as bits already
    arrays[MANIFEST_NAME] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)

    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"tg.save: cannot write {path!r}: directory {directory!r} does not "
                                f"exist (create it first, e.g. with os.makedirs)")
    mode = _new_file_mode(path)
    fd, temp_path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}.", suffix=".tmp", dir=directory)
    try:
        # An open file object, not a name: np.savez would append ".npz" to a name without it.
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them current
        os.chmod(temp_path, mode)
        os.replace(temp_path, path)
    except BaseException:  # KeyboardInterrupt included: never leave a temp file behind
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


def _checked_path(path, verb):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"tg.{verb}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def _encode(value, where, arrays, on_path):
    """The manifest node of ``value`` (found at ``where``); its arrays are added to ``arrays``."""
    kind = type(value)
    if value is None:
        return {"kind": "none"}
    if kind is bool:
        return {"kind": "bool", "value": value}
    if kind is int:
        return {"kind": "int", "value": value}
    if kind is str:
        return {"kind": "str", "value": value}
    if kind is float:
        if math.isfinite(value):
            return {"kind": "float", "value": value}  # JSON writes repr(), which is exact
        # inf and NaN are not JSON; their 64 bits keep NaN's sign and payload too
        return {"kind": "float", "bits": struct.pack(">d", value).hex()}
    if isinstance(value, Tensor):
        array = value.data if value.device == "cpu" else value.data.get()
        return _array_node("tensor", array, arrays)
    if kind is np.ndarray:
        _check_array_dtype(value.dtype, where)
        return _array_node("ndarray", value, arrays)
    if isinstance(value, np.generic):  # np.float64 too (a float subclass): it comes back as is
        _check_array_dtype(value.dtype, where)
        return _array_node("scalar", np.asarray(value), arrays)
    if kind in (dict, OrderedDict, list, tuple):
        if id(value) in on_path:
            raise ValueError(f"tg.save: {where} contains itself; a checkpoint must be a tree")
        on_path.add(id(value))
        if kind in (list, tuple):
            items = [_encode(item, f"{where}[{k}]", arrays, on_path) for k, item in enumerate(value)]
        else:
            items = []
            for key, item in value.items():
                if type(key) is not str:
                    raise TypeError(f"tg.save: {where} has a key {key!r} of type "
                                    f"{type(key).__name__}; checkpoint dict keys must be str")
                items.append([key, _encode(item, f"{where}[{key!r}]", arrays, on_path)])
        on_path.discard(id(value))
        names = {dict: "dict", OrderedDict: "ordered_dict", list: "list", tuple: "tuple"}
        return {"kind": names[kind], "items": items}
    raise TypeError(f"tg.save: {where} is a {_type_name(value)}, which a checkpoint cannot hold: "
                    f"expected dicts with str keys, lists, tuples, Tensors, NumPy arrays or "
                    f"scalars, int, float, bool, None or str{_hint(value)}")


def _array_node(kind, array, arrays):
    name = f"leaf_{len(arrays)}"
    arrays[name] = array
    return {"kind": kind, "array": name, "dtype": array.dtype.str, "shape": list(array.shape)}


def _check_array_dtype(dtype, where):
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
        raise TypeError(f"tg.save: {where} has dtype {dtype}, which cannot be saved without "
                        f"pickle: only bool, integer, float and complex arrays can")


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


def _new_file_mode(path):
    """Permissions for the checkpoint: the old file's, else what open() would give. mkstemp
    makes its file owner-only, which would silently hide checkpoints from a shared group."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(umask)
    return 0o666 & ~umask


def _sync_directory(directory):
    """Make the rename itself durable (POSIX); some systems (Windows) cannot open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- load

def load(path, device="cpu"):
    """Read a checkpoint written by ``tg.save``: tensors come back as new Tensors on ``device``
    (without ``requires_grad``), NumPy arrays as NumPy arrays, everything else as it was saved.

    The file is read with ``np.load(..., allow_pickle=False)``, so loading a checkpoint from an
    untrusted source cannot run code. A file that is missing, truncated, corrupt, not written by
    ``tg.save`` or written by a newer version raises an error naming the file. Differs from
    ``torch.load``: ``device`` replaces ``map_location`` and takes one device for every tensor.

    >>> import os, tempfile
    >>> import tinygrad_seq as tg
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> tg.save({"betas": (0.9, 0.999), "step": tg.tensor([3])}, path)
    >>> state = tg.load(path)
    >>> state["betas"], state["step"].tolist(), state["step"].device
    ((0.9, 0.999), [3], 'cpu')
    """
    path = _checked_path(path, "load")
    device = backend.canonical_device(device)
    try:
        file = open(path, "rb")
    except FileNotFoundError as e:
        raise FileNotFoundError(f"tg.load: no checkpoint at {path!r}: the file does not exist") from e
    with file:
        magic = file.read(len(_NPY_MAGIC))
        if magic.startswith(_NPY_MAGIC):
            raise CheckpointError(f"tg.load: {path!r} starts like a single-array .npy file: it "
                                  f"was not written by tg.save (read it with np.load)")
        if not magic.startswith(_ZIP_MAGIC):
            raise _corrupt(path, "it is not a .npz (zip) archive")
        file.seek(0)
        try:
            archive = np.load(file, allow_pickle=False)
        except _READ_ERRORS as e:
            raise _corrupt(path, f"the zip archive cannot be read ({e})") from e
        with archive:
            manifest = _read_manifest(archive, path)
            root = _decode(manifest["root"], "obj", _ArrayReader(archive, path), path)
    # Tensors are made only once every array has been read and checked: a bad file fails
    # before anything is copied to the device.
    return _materialize(root, device)


def _corrupt(path, reason):
    return CheckpointError(f"tg.load: {path!r} is not a valid tinygrad_seq checkpoint: {reason} "
                           f"(truncated or corrupt?)")


def _read_manifest(archive, path):
    if MANIFEST_NAME not in archive.files:
        held = ", ".join(archive.files[:10]) + (", ..." if len(archive.files) > 10 else "")
        raise CheckpointError(f"tg.load: {path!r} was not written by tg.save: it has no "
                              f"{MANIFEST_NAME!r} entry (it holds: {held or 'nothing'}); read a "
                              f"plain .npz with np.load")
    raw = _read_member(archive, MANIFEST_NAME, path)
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"the manifest is a {raw.dtype} array of shape {raw.shape}, "
                             f"not uint8 bytes")
        manifest = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("the manifest is not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
        raise _corrupt(path, f"its manifest cannot be read ({e})") from e
    if manifest.get("format") != FORMAT_NAME:
        raise CheckpointError(f"tg.load: {path!r} was not written by tg.save: its manifest names "
                              f"the format {manifest.get('format')!r}, expected {FORMAT_NAME!r}")
    version = manifest.get("version")
    if type(version) is not int or version < 1:
        raise _corrupt(path, f"its manifest has format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"tg.load: {path!r} was written by a newer tinygrad_seq (checkpoint "
                              f"format version {version}; this one reads up to {FORMAT_VERSION}): "
                              f"upgrade tinygrad_seq to load it")
    if "root" not in manifest:
        raise _corrupt(path, "its manifest has no 'root'")
    return manifest


def _read_member(archive, name, path):
    try:
        return archive[name]
    except _READ_ERRORS as e:
        raise _corrupt(path, f"array {name!r} cannot be read without unpickling or is damaged "
                             f"({e})") from e


class _ArrayReader:
    """Reads the arrays the manifest names, checking each against what the manifest says."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path

    def __call__(self, node, where):
        name = node.get("array")
        if not isinstance(name, str) or name not in self.archive.files or name == MANIFEST_NAME:
            raise _corrupt(self.path, f"its manifest refers to an array {name!r} for {where}, "
                                      f"which is not in the file")
        array = _read_member(self.archive, name, self.path)
        expected = (node.get("dtype"), node.get("shape"))
        if (array.dtype.str, list(array.shape)) != expected:
            raise _corrupt(self.path, f"array {name!r} for {where} has dtype {array.dtype.str} and "
                                      f"shape {list(array.shape)}, the manifest says {expected[0]} "
                                      f"and {expected[1]}")
        if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
            raise _corrupt(self.path, f"array {name!r} for {where} has dtype {array.dtype}")
        return array


class _TensorLeaf:
    """A tensor's host array, waiting for every other array to be read before going to a device."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


_CONTAINERS = {"dict": dict, "ordered_dict": OrderedDict, "list": list, "tuple": tuple}


def _decode(node, where, read_array, path):
    """The value of a manifest node, with tensors left as _TensorLeaf (see _materialize)."""
    try:
        kind = node["kind"]
        if kind == "none":
            return None
        if kind in ("bool", "int", "str"):
            value = node["value"]
            if type(value) is not {"bool": bool, "int": int, "str": str}[kind]:
                raise ValueError(f"a {kind} node holds {value!r}")
            return value
        if kind == "float":
            if "bits" in node:
                return struct.unpack(">d", bytes.fromhex(node["bits"]))[0]
            value = node["value"]
            if type(value) is not float:
                raise ValueError(f"a float node holds {value!r}")
            return value
        if kind == "tensor":
            array = read_array(node, where)
            if array.dtype.kind not in "biuf":  # what a Tensor can hold
                raise ValueError(f"a tensor node has dtype {array.dtype}")
            return _TensorLeaf(array)
        if kind == "ndarray":
            return read_array(node, where)
        if kind == "scalar":
            return read_array(node, where)[()]
        if kind in ("list", "tuple"):
            items = [_decode(item, f"{where}[{k}]", read_array, path)
                     for k, item in enumerate(node["items"])]
            return _CONTAINERS[kind](items)
        if kind in ("dict", "ordered_dict"):
            out = _CONTAINERS[kind]()
            for key, item in node["items"]:
                if type(key) is not str:
                    raise ValueError(f"a dict key is {key!r}")
                out[key] = _decode(item, f"{where}[{key!r}]", read_array, path)
            return out
        raise ValueError(f"unknown kind {kind!r}")
    except CheckpointError:
        raise  # already explained, by a deeper node or the array reader
    except (KeyError, TypeError, ValueError, struct.error) as e:
        raise _corrupt(path, f"its manifest is malformed at {where} ({type(e).__name__}: {e})") from e


def _materialize(value, device):
    if isinstance(value, _TensorLeaf):
        return Tensor(value.array, dtype=value.array.dtype.newbyteorder("="), device=device)
    if type(value) in (dict, OrderedDict):
        return type(value)((key, _materialize(item, device)) for key, item in value.items())
    if type(value) in (list, tuple):
        return type(value)(_materialize(item, device) for item in value)
    return value
