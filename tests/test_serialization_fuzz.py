"""tg.load on damaged and hostile files: whatever is done to a valid checkpoint (bytes flipped,
cut or appended, the header length field or the header JSON edited, the structure edited and
re-signed as an attacker would), loading gives back exactly what was saved or raises a
CheckpointError naming the file, and never takes more memory than MEMORY_BOUND allows."""
import collections
import json
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq import checkpoint_file, serialization
from tinygrad_seq.serialization import CheckpointError

from test_serialization import assert_same

ORIGINAL = {
    "model": collections.OrderedDict(weight=tg.tensor(np.arange(12.0).reshape(4, 3)),
                                     bias=tg.tensor([0.5, -1.5, 2.5], dtype="float16")),
    "optimizer": {"state": {"0": {"step": 3, "exp_avg": tg.tensor(np.linspace(0, 1, 12))}},
                  "betas": (0.9, 0.999)},
    "mask": tg.tensor([True, False, True]), "ids": np.arange(5, dtype=np.int32),
    "phase": np.array([1 + 2j]), "epoch": 5, "name": "run", "nan": float("nan"), "none": None,
}


def memory_bound(file_size):
    """What tg.load may hold at its peak: the arrays (each read once, straight into an array it
    keeps, so at most the file's data), the header as bytes and as str (2x), the objects JSON
    parsing makes of it (CPython spends up to ~20 bytes of objects per byte of JSON text: "[],"
    is 3 bytes and a 64-byte list; measured, a whole load peaks at 13x the file for a structure
    of 20,000 Nones) and a constant for the interpreter's own bookkeeping (exceptions and their
    tracebacks, the result's dicts; 17 kB for the 2 kB ORIGINAL). So: 32 bytes per byte of file
    plus 64 KiB. The defects this replaces took 6.6 GB for a 9 kB file."""
    return 32 * file_size + 64 * 1024


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "original.safetensors"
    tg.save(ORIGINAL, path)
    assert_same(ORIGINAL, tg.load(path))  # and every lazy import and cache is warm
    return path.read_bytes()


def check_load(tmp_path, data, expected=lambda: ORIGINAL):
    """Load ``data``: what was saved (``expected()``) comes back, or a CheckpointError names the
    file; in bound either way."""
    path = tmp_path / "mutated.safetensors"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            result = tg.load(path)
        except CheckpointError as error:
            assert repr(str(path)) in str(error), str(error)
            result = error
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if not isinstance(result, CheckpointError):
        assert_same(expected(), result)
    assert peak < memory_bound(len(data)), f"peak {peak} bytes for a {len(data)}-byte file"
    return result


def split(data):
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def join(header, body, structure=None, sign=True):
    """The file of ``header`` and ``body``; ``structure`` (a str) replaces the metadata's, and
    ``sign`` gives it a matching CRC, as a hostile file would."""
    if structure is not None:
        metadata = header["__metadata__"]
        metadata[serialization.STRUCTURE_KEY] = structure
        if sign:
            metadata[serialization.CHECKSUM_KEY] = str(zlib.crc32(structure.encode()))
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def test_the_unmutated_file_and_a_reordered_header_load_exactly(tmp_path, saved):
    assert not isinstance(check_load(tmp_path, saved), CheckpointError)
    header, body = split(saved)
    reordered = dict(reversed(list(header.items())))
    assert not isinstance(check_load(tmp_path, join(reordered, body)), CheckpointError)


@given(flips=st.lists(st.tuples(st.sampled_from(["length field", "header", "data"]),
                                st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                      min_size=1, max_size=4))
def test_flipped_bytes(tmp_path, saved, flips):
    data = bytearray(saved)
    data_start = 8 + int.from_bytes(saved[:8], "little")
    regions = {"length field": (0, 8), "header": (8, data_start), "data": (data_start, len(data))}
    for region, where, mask in flips:  # by region: the data is a small part of a small file
        begin, end = regions[region]
        data[begin + int(where * (end - begin))] ^= mask
    check_load(tmp_path, bytes(data))


@given(cut=st.floats(0, 1, exclude_max=True), extra=st.binary(max_size=16))
def test_truncated_or_extended(tmp_path, saved, cut, extra):
    assume(cut > 0 or extra)
    data = saved[:int(cut * len(saved))] if cut else saved + extra
    assert isinstance(check_load(tmp_path, data), CheckpointError)


@given(length=st.one_of(st.integers(0, 2**64 - 1), st.integers(-64, 64)))
def test_header_length_field(tmp_path, saved, length):
    true_length = int.from_bytes(saved[:8], "little")
    length = length if length >= 64 else true_length + length
    assume(0 <= length < 2**64 and length != true_length)
    check_load(tmp_path, length.to_bytes(8, "little") + saved[8:])


HUGE = st.integers(0, 2**70)
SAFETENSORS_DTYPES = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
                      "I64", "U64", "F8_E4M3", "X", 3, None]


EDITS = ["data_offsets", "shape", "dtype", "rename", "drop", "swap", "junk"]


@st.composite
def header_edits(draw, names, fields=EDITS):
    """One edit of a tensor's header entry: offsets, shape, dtype, name, or the entry itself."""
    name = draw(st.sampled_from(names))
    field = draw(st.sampled_from(fields))
    if field == "data_offsets":
        value = draw(st.lists(st.one_of(st.integers(-8, 600), HUGE), min_size=2, max_size=2))
    elif field == "shape":
        value = draw(st.one_of(st.lists(st.one_of(st.integers(0, 20), HUGE), max_size=4),
                               st.just([1] * 65), st.just([2.0]), st.just(None)))
    elif field == "dtype":
        value = draw(st.sampled_from(SAFETENSORS_DTYPES))
    else:
        value = draw(st.sampled_from(names) if field == "swap" else st.text(max_size=8))
    return name, field, value


def apply_header_edit(header, edit):
    name, field, value = edit
    if name not in header or (field == "swap" and value not in header):
        return  # renamed or dropped by an earlier edit
    entry = header[name]
    if field in ("data_offsets", "shape", "dtype"):
        entry[field] = value
    elif field == "rename":
        header[value or "x"] = header.pop(name)
    elif field == "drop":
        del header[name]
    elif field == "swap":
        entry["data_offsets"], header[value]["data_offsets"] = \
            header[value]["data_offsets"], entry["data_offsets"]
    else:
        entry[value] = value


@given(data=st.data())
def test_edited_header(tmp_path, saved, data):
    header, body = split(saved)
    names = sorted(name for name in header if name != "__metadata__")
    for edit in data.draw(st.lists(header_edits(names), min_size=1, max_size=3)):
        apply_header_edit(header, edit)
    check_load(tmp_path, join(header, body))


PLAIN = {"weight": np.arange(12, dtype=np.float32).reshape(4, 3), "mask": np.array([True, False]),
         "ids": np.arange(5, dtype=np.int64), "half": np.ones(3, np.float16)}


@given(data=st.data())
def test_edited_header_of_a_plain_safetensors_file(tmp_path, data):
    """Without our structure (and its checksums) an edit can make a valid file of other
    tensors; what loads must then be what the edited header says, byte for byte."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    header, body = split(safetensors_numpy.save(PLAIN))
    for edit in data.draw(st.lists(header_edits(sorted(header)), min_size=1, max_size=3)):
        apply_header_edit(header, edit)

    def as_the_header_says():
        tensors = {}
        for name, entry in header.items():
            dtype = checkpoint_file.DTYPES[entry["dtype"]]
            begin, end = entry["data_offsets"]
            array = np.frombuffer(body[begin:end], dtype).reshape(entry["shape"])
            tensors[name] = tg.tensor(array, dtype=dtype)
        return tensors

    check_load(tmp_path, join(header, body), as_the_header_says)


def array_nodes(node):
    if isinstance(node, dict) and "tensor" in node:
        yield node
    for child in node.get("items", []) if isinstance(node, dict) else []:
        yield from array_nodes(child)


@given(data=st.data())
def test_edited_structure_that_is_not_re_signed(tmp_path, saved, data):
    """Any edit of the structure JSON: the CRC catches it."""
    header, body = split(saved)
    text = header["__metadata__"][serialization.STRUCTURE_KEY]
    at = data.draw(st.integers(0, len(text)))
    text = text[:at] + data.draw(st.text(min_size=1, max_size=8)) + text[at + 1:]
    check_load(tmp_path, join(header, body, text, sign=False))


@given(data=st.data(), attack=st.sampled_from(["twice", "missing", "deep", "shape", "dtype"]))
def test_hostile_structure_re_signed(tmp_path, saved, data, attack):
    """Edits that a valid CRC does not make valid: a tensor referenced twice or not at all, a
    nest too deep (for the loader or for json itself), shapes and dtypes the header denies."""
    header, body = split(saved)
    structure = json.loads(header["__metadata__"][serialization.STRUCTURE_KEY])
    nodes = list(array_nodes(structure["root"]))
    node = data.draw(st.sampled_from(nodes))
    if attack == "twice":
        other = data.draw(st.sampled_from([n for n in nodes if n is not node]))
        node["tensor"] = other["tensor"]
    elif attack == "missing":
        node["tensor"] = data.draw(st.one_of(st.text(max_size=8), st.integers(), st.none()))
        assume(node["tensor"] not in header)
    elif attack == "shape":
        node["shape"] = data.draw(st.lists(st.one_of(st.integers(0, 20), HUGE), max_size=4))
        assume(node["shape"] != next(n for n in array_nodes(json.loads(
            header["__metadata__"][serialization.STRUCTURE_KEY])["root"])
            if n["tensor"] == node["tensor"])["shape"])
    elif attack == "dtype":
        new = data.draw(st.sampled_from(["|O", "<U3", "|V8", "<M8[s]", "float32", "<i4", "<f8",
                                         "|b1", "<c8", "<f2", "<i8", ">f4", "x", 7]))
        assume(not isinstance(new, str) or not new.startswith(("<", "|", ">"))
               or np.dtype(new).kind in "OUVM"
               or np.dtype(new).newbyteorder("<") != np.dtype(node["dtype"]).newbyteorder("<"))
        node["dtype"] = new
    text = json.dumps(structure)
    if attack == "deep":
        levels = data.draw(st.integers(serialization.MAX_DEPTH, 50_000))
        root = json.dumps(structure["root"])
        text = text.replace(root, '{"kind": "list", "items": [' * levels + root + "]}" * levels)
    assert isinstance(check_load(tmp_path, join(header, body, text)), CheckpointError)
