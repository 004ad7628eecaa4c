"""The file side of checkpoints: the safetensors format, written and read with the checks that a
file from anywhere needs, and the atomic write that replaces a checkpoint (see tg.save).

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then the raw
little-endian bytes of every tensor, nothing compressed. The header maps each tensor's name to
``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`` (offsets into the bytes after
the header) and may hold ``"__metadata__"``, a map of str to str. Reading it runs no code.

Why our own reader rather than ``safetensors.numpy``: every check below runs on the header alone,
before one byte of tensor data is allocated or read, and each failure is a ``CheckpointError``
naming the file and the tensor (the package's ``SafetensorError`` names neither, and a dtype
NumPy lacks, such as BF16, fails there in other ways). Why our own writer: ``safetensors.numpy``
writes either to a file name (we write to an open temporary file that we sync before renaming)
or to one ``bytes`` object, a second copy of every tensor in memory. The files are the same:
tests read ours with ``safetensors.torch.load_file`` and load theirs with ``tg.load``.

>>> import io, numpy as np
>>> buffer = io.BytesIO()
>>> write(buffer, {"w": np.ones(2, np.float32)}, {"note": "hi"})
>>> header = read_header(buffer, "memory", len(buffer.getvalue()))
>>> header.entries["w"].dtype, header.entries["w"].shape, header.metadata
('F32', (2,), {'note': 'hi'})
>>> read_array(buffer, "memory", "w", header).tolist()
[1.0, 1.0]
"""
import errno
import json
import math
import os
import re
import secrets
import socket
import stat
import struct
from typing import NamedTuple

import numpy as np

HEADER_LIMIT = 100 * 2**20  # safetensors' own bound on the header, so both refuse the same files
# Parsed JSON takes up to ~20 times its text (a dict entry is ~150 bytes of Python objects for ~7
# of text), so a header (and the structure in its metadata) is refused before parsing when it
# has more values than this: a real checkpoint has a few per tensor, and no header makes more
# than a few hundred MB of objects.
MAX_JSON_ENTRIES = 2**21
MAX_NDIM = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32  # NumPy's limit
_LENGTH = struct.Struct("<Q")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_NPY_MAGIC = b"\x93NUMPY"
TEMP_PREFIX = ".tg-save-"  # leftovers of a hard crash are easy to spot (and cleaned, see below)

# safetensors dtype -> NumPy dtype (little-endian); None for those NumPy cannot hold
DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype("<u1"), "I8": np.dtype("<i1"),
          "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
          "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
          "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
          "BF16": None, "F8_E4M3": None, "F8_E5M2": None}
_SIZES = {"BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}
_CODES = {dtype: code for code, dtype in DTYPES.items() if dtype is not None}


class CheckpointError(ValueError):
    """A file that ``tg.load`` cannot read as a checkpoint; the message names the file and why."""


def corrupt(path, reason):
    return CheckpointError(f"tg.load: {path!r} is not a valid checkpoint: {reason}")


def short(text, limit=60):
    """``repr(text)``, cut to ``limit`` characters: a hostile name must not flood the message."""
    text = repr(text)
    return text if len(text) <= limit else text[:limit] + "...'"


def code_of(dtype):
    """The safetensors name of a little-endian NumPy dtype (KeyError for one it lacks)."""
    return _CODES[np.dtype(dtype)]


# ---------------------------------------------------------------- writing

def write(file, tensors, metadata=None):
    """Write ``tensors`` (name -> little-endian C-contiguous array, in file order) to ``file``."""
    header = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, array in tensors.items():
        header[name] = {"dtype": code_of(array.dtype), "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors pads it
    file.write(_LENGTH.pack(len(text)))
    file.write(text)
    for array in tensors.values():
        file.write(memoryview(array.reshape(-1).view(np.uint8)))


# ---------------------------------------------------------------- reading

def refuse_other_formats(file, path):
    magic = file.read(8)
    if magic.startswith(_NPY_MAGIC):
        raise CheckpointError(f"tg.load: {path!r} starts like a single-array .npy file: it was "
                              f"not written by tg.save (read it with np.load)")
    if magic.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"tg.load: {path!r} is a zip archive, as checkpoints written by an "
                              f"older tinygrad_seq (.npz) were; this one reads safetensors "
                              f"checkpoints only, and never unpacks archives: load it with the "
                              f"tinygrad_seq that wrote it and save it again (or read its arrays "
                              f"with np.load(path, allow_pickle=False))")



class Entry(NamedTuple):
    dtype: str
    shape: tuple
    begin: int
    end: int


class Header(NamedTuple):
    entries: dict    # name -> Entry, in header order
    metadata: dict   # str -> str
    data_start: int  # where the tensor bytes begin in the file


def read_header(file, path, file_size):
    """The checked header of the file open as ``file`` (``file_size`` bytes long): every entry's
    dtype and shape agree with its offsets, which tile the data exactly, so reading every tensor
    allocates exactly the file's data and nothing is read twice."""
    file.seek(0)
    prefix = file.read(_LENGTH.size)
    if len(prefix) < _LENGTH.size:
        raise corrupt(path, f"it is {file_size} bytes long, shorter than a safetensors header "
                            f"(truncated?)")
    (length,) = _LENGTH.unpack(prefix)
    if length > min(HEADER_LIMIT, file_size - _LENGTH.size):
        raise corrupt(path, f"its header length field says {length} bytes, but the file has "
                            f"{file_size - _LENGTH.size} after it (the limit is {HEADER_LIMIT}; "
                            f"truncated or not a safetensors file?)")
    raw = file.read(length)
    if len(raw) != length:
        raise corrupt(path, "the file ended inside its header (truncated while reading?)")
    try:
        header = parse_json(raw.decode("utf-8"), MAX_JSON_ENTRIES)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError included
        raise corrupt(path, f"its header is not JSON ({type(e).__name__}: {e})") from e
    if not isinstance(header, dict):
        raise corrupt(path, f"its header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()):
        raise corrupt(path, "its header's __metadata__ is not a map of strings to strings")
    data_size = file_size - _LENGTH.size - length
    entries = {name: _entry(info, name, data_size, path) for name, info in header.items()}
    covered = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != covered:
            gap = "overlaps the tensor before it" if entry.begin < covered else \
                f"leaves bytes {covered} to {entry.begin} unused"
            raise corrupt(path, f"tensor {short(name)} at bytes {entry.begin} to {entry.end} {gap}")
        covered = entry.end
    if covered != data_size:
        raise corrupt(path, f"its tensors fill {covered} bytes but the file holds {data_size} "
                            f"after the header (truncated, or extra bytes appended?)")
    return Header(entries, metadata, _LENGTH.size + length)


def parse_json(text, max_entries=None):
    """``json.loads``, stricter: a key twice in one object (which json.loads would silently
    collapse to the last) and NaN or Infinity (not JSON) are ValueErrors, and so is a text of
    more than ``max_entries`` values (counted before parsing, by its commas and colons, an upper
    bound of its key-value pairs and list items: memory stays bounded).

    >>> parse_json('{"a": [1, 2]}', max_entries=1)
    Traceback (most recent call last):
    ...
    ValueError: more than 1 values (2 commas and colons; the limit of a checkpoint's header)
    """
    if max_entries is not None:
        separators = text.count(",") + text.count(":")
        if separators > max_entries:
            raise ValueError(f"more than {max_entries} values ({separators} commas and colons; "
                             f"the limit of a checkpoint's header)")
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def _unique_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {short(twice)} appears twice in one object")
    return result


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _entry(info, name, data_size, path):
    where = f"tensor {short(name)}"
    if not isinstance(info, dict) or sorted(info) != ["data_offsets", "dtype", "shape"]:
        raise corrupt(path, f"{where}: its header entry must have exactly 'dtype', 'shape' and "
                            f"'data_offsets', got {short(info, 120)}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise corrupt(path, f"{where} has the unknown dtype {short(dtype)}")
    if not _ints(shape) or len(shape) > MAX_NDIM:
        raise corrupt(path, f"{where} has the shape {short(shape, 120)}, not a list of at most "
                            f"{MAX_NDIM} non-negative integers")
    if not _ints(offsets) or len(offsets) != 2 or not offsets[0] <= offsets[1] <= data_size:
        raise corrupt(path, f"{where} has data_offsets {short(offsets, 120)}, not [begin, end] "
                            f"with 0 <= begin <= end <= {data_size}, the bytes after the header "
                            f"(truncated?)")
    itemsize = _SIZES.get(dtype) or DTYPES[dtype].itemsize
    nbytes = math.prod(shape) * itemsize  # Python ints: a huge shape cannot overflow
    if nbytes != offsets[1] - offsets[0]:
        raise corrupt(path, f"{where}: a {dtype} tensor of shape {short(shape, 120)} needs "
                            f"{nbytes} bytes, its data_offsets give {offsets[1] - offsets[0]}")
    return Entry(dtype, tuple(shape), offsets[0], offsets[1])


def _ints(values):
    return isinstance(values, list) and all(type(v) is int and v >= 0 for v in values)


def read_array(file, path, name, header):
    """Tensor ``name`` of a checked ``header`` as a new little-endian NumPy array of its own."""
    entry = header.entries[name]
    dtype = DTYPES[entry.dtype]
    if dtype is None:
        raise CheckpointError(f"tg.load: {path!r}: tensor {short(name)} is {entry.dtype}, which "
                              f"NumPy cannot hold; convert it to float32 before saving")
    array = np.empty(entry.shape, dtype)
    file.seek(header.data_start + entry.begin)
    if file.readinto(array.reshape(-1).view(np.uint8)) != entry.end - entry.begin:
        raise corrupt(path, f"the file ended inside tensor {short(name)} (changed while reading?)")
    if dtype.kind == "b" and array.view(np.uint8).max(initial=0) > 1:
        raise corrupt(path, f"bool tensor {short(name)} holds bytes other than 0 and 1")
    return array


def open_regular(path, who):
    """``path`` opened for binary reading, refused unless it is a regular file: a FIFO would
    block ``open()`` until a writer came (so it is opened without blocking, then checked), a
    directory or device is no checkpoint. A missing file is a FileNotFoundError."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, f"{who}: no checkpoint at {path!r}: the file does "
                                              f"not exist") from e
    except IsADirectoryError:  # Windows cannot open a directory at all
        raise CheckpointError(f"{who}: {path!r} is a directory, not a checkpoint file") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)"
                    if stat.S_ISFIFO(mode) else "not a regular file")
            raise CheckpointError(f"{who}: {path!r} is {kind}, not a checkpoint file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---------------------------------------------------------------- the atomic write

def write_atomically(path, write_to, who="tg.save"):
    """Call ``write_to(file)`` on a temporary file beside the target, sync it, rename it over the
    target. Errors name ``who`` (the caller, e.g. "tg.save") and ``path``, never the temporary
    file."""
    target = os.path.realpath(path)  # through a symlink: the link stays, its target is replaced
    directory, name = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: directory {directory!r} does not "
                                f"exist (create it first, e.g. with os.makedirs)")
    mode = _checked_target_mode(path, target, who)
    _remove_stale_temp_files(directory, name)
    temp = os.path.join(directory, f"{_temp_stem(name)}{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as e:
        raise _write_error(path, e, who) from e
    try:
        with os.fdopen(fd, "wb") as file:
            write_to(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them current
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException as e:  # KeyboardInterrupt included: never leave a temp file behind
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise _write_error(path, e, who) from e
        raise
    _sync_directory(directory)


def _write_error(path, error, who):
    message = f"{who}: cannot write {path!r}: {error.strerror or error}"
    # OSError(errno, ...) is the subclass the errno names (PermissionError...), as the original
    return OSError(error.errno, message) if error.errno else OSError(message)


def _checked_target_mode(path, target, who):
    """The permissions the new file gets: the old file's, else what open() would give (mkstemp's
    owner-only mode would silently hide checkpoints from a shared group). A file nobody may
    write is refused, even for root: write protection is how a user marks a keeper."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
        os.umask(umask)
        return 0o666 & ~umask
    except OSError as e:  # a symlink loop, say
        raise _write_error(path, e, who) from e
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{who}: cannot write {path!r}: it is a directory")
    if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"{who}: {path!r} is read-only (mode "
                                            f"{stat.filemode(info.st_mode)}): refusing to replace "
                                            f"it; make it writable (os.chmod) or save elsewhere")
    return info.st_mode & 0o7777


def _temp_stem(name):
    """Temp files are named after the target, host and pid, so that a later save of the same
    target can tell a dead save's leftover (from SIGKILL or the OOM killer) from a live one."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
    return f"{TEMP_PREFIX}{name}.{host}."


def _remove_stale_temp_files(directory, name):
    # Only on POSIX, where kill(pid, 0) probes a process (on Windows os.kill would end it); only
    # this host's, as a directory on a network filesystem may be another machine's to write.
    if os.name != "posix":
        return
    pattern = re.compile(re.escape(_temp_stem(name)) + r"(\d+)\.[0-9a-f]+\.tmp")
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match and not _process_alive(int(match[1])):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or a pid we cannot probe
        return True
    return True


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
