"""tg.save / tg.load: exact round trips, safetensors files that other tools read, atomic writes,
and clear refusals of bad input and of bad files (hostile ones: tests/test_serialization_fuzz.py)."""
import collections
import errno
import json
import math
import os
import pathlib
import pickle
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq import checkpoint_file, serialization
from tinygrad_seq.serialization import CheckpointError
from tinygrad_seq.testing import assert_close


# ---------------------------------------------------------------- exact comparison

def assert_same(expected, actual, where="obj", device="cpu"):
    """Same types, dtypes, shapes, bits and key order, all the way down."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, tg.Tensor):
        assert actual.device == tg.backend.canonical_device(device), where
        assert not actual.requires_grad and actual.is_leaf, where
        assert_same_array(expected.numpy(), actual.numpy(), where)
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert_same_array(np.asarray(expected), np.asarray(actual), where)
    elif isinstance(expected, float):
        assert struct.pack(">d", actual) == struct.pack(">d", expected), f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]", device)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for k, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{where}[{k}]", device)
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_array(expected, actual, where):
    assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
    assert actual.tobytes() == expected.tobytes(), f"{where}: values differ"


# ---------------------------------------------------------------- strategies

SPECIAL_FLOATS = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 1e-308, 5e-324,
                  1.7976931348623157e308, 0.1, 1 / 3]
TENSOR_DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.bool_])
ARRAY_DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int32, np.int64,
                                np.uint8, np.bool_, np.complex128])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def arrays(dtypes):
    return dtypes.flatmap(lambda dtype: hnp.arrays(dtype, SHAPES))


def tensors(device="cpu"):
    return arrays(TENSOR_DTYPES).map(lambda a: tg.tensor(a, dtype=a.dtype, device=device))


def leaves(device="cpu"):
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
        st.floats(), st.sampled_from(SPECIAL_FLOATS), st.text(max_size=6),
        tensors(device), arrays(ARRAY_DTYPES),
        arrays(ARRAY_DTYPES).map(lambda a: a.reshape(-1)[0] if a.size else a.dtype.type(0)))


def structures(device="cpu"):
    keys = st.text(max_size=5)  # dots, brackets, quotes, empty and non-ASCII keys included
    return st.recursive(leaves(device), lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(keys, children, max_size=4).map(collections.OrderedDict)), max_leaves=12)


# ---------------------------------------------------------------- round trips

@given(obj=structures())
def test_any_structure_round_trips_exactly(tmp_path, obj):
    path = tmp_path / "checkpoint.safetensors"
    tg.save(obj, path)
    assert_same(obj, tg.load(path))


def test_special_floats_and_big_ints_round_trip_bit_exactly(tmp_path):
    signalling_nan = struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0]
    obj = {"floats": SPECIAL_FLOATS + [signalling_nan], "ints": [0, -1, 2**63, -2**100, True]}
    tg.save(obj, tmp_path / "c.safetensors")
    assert_same(obj, tg.load(tmp_path / "c.safetensors"))


def test_every_savable_dtype_round_trips_big_endian_and_long_double_included(tmp_path):
    obj = {"f16": tg.tensor([1.5, -0.0], dtype="float16"), "i8": tg.tensor([-3], dtype="int8"),
           "u8": tg.tensor([250], dtype="uint8"), "b": tg.tensor([[True], [False]]),
           "c64": np.array([1 + 2j], np.complex64), "c128": np.zeros((2, 0), np.complex128),
           "big_endian": np.arange(3, dtype=">i4"), "big_scalar": np.array(2.5, ">f8")[()],
           "long_double": np.array([1 / 3], np.longdouble), "u64": np.array(2**64 - 1, np.uint64)}
    tg.save(obj, tmp_path / "c.safetensors")
    assert_same(obj, tg.load(tmp_path / "c.safetensors"))


def test_module_state_dict_loads_into_a_fresh_module(tmp_path):
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Tanh(), tg.nn.Linear(2, 2))
    tg.save(model.state_dict(), str(tmp_path / "model.safetensors"))
    state = tg.load(str(tmp_path / "model.safetensors"))
    assert type(state) is collections.OrderedDict
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    fresh = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Tanh(), tg.nn.Linear(2, 2))
    fresh.load_state_dict(state)
    x = tg.randn(5, 3)
    assert fresh(x).numpy().tobytes() == model(x).numpy().tobytes()


def test_training_checkpoint_with_optimizer_state_round_trips(tmp_path):
    model = tg.nn.Linear(3, 2)
    params = list(model.parameters())
    optimizer = {
        "param_groups": [{"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                          "weight_decay": 0.0, "amsgrad": False, "maximize": False}],
        "state": [{"step": 7, "exp_avg": tg.zeros_like(p), "exp_avg_sq": tg.ones_like(p)}
                  for p in params],
    }
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer, "epoch": 3,
                  "best_loss": 0.125, "rng": np.random.default_rng(0).integers(0, 9, 4)}
    tg.save(checkpoint, tmp_path / "train.safetensors")
    assert_same(checkpoint, tg.load(tmp_path / "train.safetensors"))


def test_parameters_come_back_as_plain_tensors_without_grad(tmp_path):
    weight = tg.nn.Parameter(tg.ones(2))
    tg.save([weight], tmp_path / "p.safetensors")
    (loaded,) = tg.load(tmp_path / "p.safetensors")
    assert type(loaded) is tg.Tensor and not loaded.requires_grad
    assert loaded.tolist() == [1.0, 1.0]


def test_load_puts_tensors_on_the_device_and_keeps_arrays_numpy(tmp_path, device):
    obj = {"w": tg.randn(2, 3, device=device), "n": tg.tensor([1, 2], device=device),
           "empty": tg.zeros(0, 2, device=device), "flag": tg.tensor(True, device=device),
           "array": np.arange(3.0)}
    tg.save(obj, tmp_path / "d.safetensors")
    for target in ("cpu", device):
        assert_same(obj, tg.load(tmp_path / "d.safetensors", device=target), device=target)


def test_a_path_is_used_as_given(tmp_path):
    path = tmp_path / "checkpoint.npz"  # an old habit: still a safetensors file, no suffix added
    tg.save({"x": 1}, path)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]
    assert tg.load(path) == {"x": 1}


def test_structures_nested_to_the_limit_round_trip_and_deeper_ones_are_refused(tmp_path):
    deep = tg.ones(1)
    for _ in range(serialization.MAX_DEPTH):
        deep = [deep]
    tg.save(deep, tmp_path / "c.safetensors")
    assert_same(deep, tg.load(tmp_path / "c.safetensors"))
    with pytest.raises(ValueError, match=r"obj(\[0\]){100} is nested more than 100 containers"):
        tg.save([deep], tmp_path / "c.safetensors")


# ---------------------------------------------------------------- the file: plain safetensors

def test_a_state_dict_is_plain_safetensors_under_its_own_names(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Linear(2, 1))
    tg.save(model.state_dict(), tmp_path / "m.safetensors")
    arrays = safetensors_numpy.load_file(tmp_path / "m.safetensors")
    assert sorted(arrays) == sorted(model.state_dict())
    for name, value in model.state_dict().items():
        assert_same_array(value.numpy(), arrays[name], name)
    header, _ = read_parts(tmp_path / "m.safetensors")
    structure = json.loads(header["__metadata__"][serialization.STRUCTURE_KEY])
    assert (structure["format"], structure["version"]) == ("tinygrad_seq.checkpoint", 2)


def test_nested_arrays_get_path_names_and_collisions_spare_the_top_level(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    obj = {"a": {"b": tg.zeros(1)}, "a.b": tg.ones(1), "__metadata__": tg.ones(2),
           "opt": [{"m": np.arange(2)}], "c": np.array([1j])}
    tg.save(obj, tmp_path / "c.safetensors")
    arrays = safetensors_numpy.load_file(tmp_path / "c.safetensors")  # a valid file for them too
    assert sorted(arrays) == ["__metadata__#1", "a.b", "a.b#1", "c", "opt.0.m"]
    assert arrays["a.b"].tolist() == [1.0] and arrays["c"].tolist() == [[0.0, 1.0]]
    assert_same(obj, tg.load(tmp_path / "c.safetensors"))


def test_a_plain_safetensors_file_loads_as_a_dict_of_tensors(tmp_path, device):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "mask": np.array([True]),
              "ids": np.arange(3, dtype=np.int32), "half": np.ones(2, np.float16)}
    safetensors_numpy.save_file(arrays, tmp_path / "foreign.safetensors", metadata={"a": "b"})
    loaded = tg.load(tmp_path / "foreign.safetensors", device=device)
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert_same(tg.tensor(array, dtype=array.dtype), loaded[name], name, device)


# ---------------------------------------------------------------- interop with PyTorch

def _lstm_pair(torch):
    tg.manual_seed(1)
    torch.manual_seed(1)
    return tg.nn.LSTM(3, 5, num_layers=2), torch.nn.LSTM(3, 5, num_layers=2)


def _same_outputs(tg_lstm, torch_lstm, torch):
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    out, (h, c) = tg_lstm(tg.tensor(x))
    with torch.no_grad():
        expected, (h_t, c_t) = torch_lstm(torch.from_numpy(x))
    for got, want in [(out, expected), (h, h_t), (c, c_t)]:
        # float32, two BLAS libraries: 4 steps of 3 + 5, then 5 + 5, products feed an element
        assert_close(got.numpy(), want.numpy(), terms=4 * ((3 + 5) + (5 + 5)))


def test_a_torch_state_dict_saved_by_safetensors_loads_into_tg(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    tg_lstm, torch_lstm = _lstm_pair(torch)
    safetensors_torch.save_file(torch_lstm.state_dict(), tmp_path / "torch.safetensors")
    tg_lstm.load_state_dict(tg.load(tmp_path / "torch.safetensors"))
    _same_outputs(tg_lstm, torch_lstm, torch)


def test_a_tg_state_dict_loads_into_torch_with_safetensors(tmp_path, torch):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    tg_lstm, torch_lstm = _lstm_pair(torch)
    tg.save(tg_lstm.state_dict(), tmp_path / "tg.safetensors")
    torch_lstm.load_state_dict(safetensors_torch.load_file(tmp_path / "tg.safetensors"))
    _same_outputs(tg_lstm, torch_lstm, torch)


# ---------------------------------------------------------------- atomic writes

def test_saving_again_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "c.safetensors"
    tg.save({"v": 1}, path)
    os.chmod(path, 0o640)
    tg.save({"v": 2}, path)
    assert tg.load(path) == {"v": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["c.safetensors"]


def test_a_new_file_gets_the_permissions_open_would_give(tmp_path):
    old_umask = os.umask(0o027)
    try:
        tg.save({"v": 1}, tmp_path / "c.safetensors")
    finally:
        os.umask(old_umask)
    assert os.stat(tmp_path / "c.safetensors").st_mode & 0o777 == 0o640  # not mkstemp's 0o600


def _raise(exception):
    def fail(*args, **kwargs):
        raise exception
    return fail


@pytest.mark.parametrize("target", ["tinygrad_seq.checkpoint_file.write", "os.fsync", "os.replace"])
@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
def test_a_crash_mid_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, target,
                                                                     exception):
    path = tmp_path / "c.safetensors"
    old = {"weights": tg.arange(4), "epoch": 1}
    tg.save(old, path)
    monkeypatch.setattr(target, _raise(exception))
    with pytest.raises(type(exception)):
        tg.save({"weights": tg.zeros(4), "epoch": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.safetensors"]
    assert_same(old, tg.load(path))


def test_a_crash_during_the_first_save_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("os.fsync", _raise(OSError("I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        tg.save({"x": tg.ones(3)}, tmp_path / "c.safetensors")
    assert os.listdir(tmp_path) == []


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .*no_such_dir.* does not exist"):
        tg.save({"x": 1}, tmp_path / "no_such_dir" / "c.safetensors")
    assert os.listdir(tmp_path) == []


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "epoch3.safetensors"
    tg.save({"epoch": 3}, real)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(real)
    tg.save({"epoch": 4}, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert tg.load(real) == {"epoch": 4}
    assert sorted(os.listdir(tmp_path / "runs")) == ["epoch3.safetensors"]  # the temp went there


def test_a_read_only_checkpoint_is_refused_and_kept(tmp_path):
    path = tmp_path / "best.safetensors"
    tg.save({"epoch": 9}, path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(PermissionError, match=r"best.safetensors' is read-only \(mode -r--r--r--\)"):
        tg.save({"epoch": 10}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.safetensors"]


def test_an_unwritable_directory_is_reported_with_the_target_not_the_temp_file(tmp_path, monkeypatch):
    # Permission bits do not stop root, so the refusal the OS would give is made here.
    real_open = os.open

    def refusing_open(file, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", file)
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr("os.open", refusing_open)
    with pytest.raises(PermissionError, match=r"cannot write '.*c.safetensors': Permission denied") \
            as info:
        tg.save({"x": 1}, tmp_path / "c.safetensors")
    assert checkpoint_file.TEMP_PREFIX not in str(info.value)


# The child's save blocks (in a patched fsync) once its temp file is fully written; it says so
# on stdout, and is killed there, as the OOM killer or a cluster's scheduler would kill it.
KILLED_SAVE = """
import os, sys
import tinygrad_seq as tg
def block(fd):
    print("written", flush=True)
    sys.stdin.read()
os.fsync = block
tg.save({"w": tg.zeros(1_000_000)}, sys.argv[1])
"""


def test_the_leftover_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "c.safetensors"
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()
    finally:
        child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate()
    assert line == b"written\n", stderr.decode()
    (leftover,) = os.listdir(tmp_path)
    assert leftover.startswith(checkpoint_file.TEMP_PREFIX + "c.safetensors.")
    assert os.path.getsize(tmp_path / leftover) > 4_000_000
    tg.save({"w": tg.ones(2)}, path)
    assert os.listdir(tmp_path) == ["c.safetensors"]
    assert tg.load(path)["w"].tolist() == [1.0, 1.0]


def test_a_temp_file_of_a_live_save_or_of_another_target_is_left_alone(tmp_path):
    stem = checkpoint_file._temp_stem("c.safetensors")
    live = tmp_path / f"{stem}{os.getpid()}.0123abcd.tmp"  # this process: alive
    other = tmp_path / f"{checkpoint_file._temp_stem('d.safetensors')}999999999.0123abcd.tmp"
    live.write_bytes(b"x")
    other.write_bytes(b"x")
    tg.save({"x": 1}, tmp_path / "c.safetensors")
    assert sorted(os.listdir(tmp_path)) == sorted(["c.safetensors", live.name, other.name])


# ---------------------------------------------------------------- refusing what cannot be saved

class Opaque:
    pass


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("bad, kind", [
    (lambda: 0, "function"),
    (Opaque(), "Opaque"),
    ({1, 2}, "set"),
    (np.array([1, "a"], dtype=object), "dtype object"),
    (np.array(["text"]), "dtype <U4"),
    (Point(1, 2), "namedtuple"),
    (collections.defaultdict(list), "defaultdict"),
    (b"bytes", "bytes"),
    (1 + 2j, "complex"),
], ids=["function", "object", "set", "object array", "str array", "namedtuple", "defaultdict",
        "bytes", "complex"])
def test_unsupported_values_are_refused_by_path_before_any_file_is_touched(tmp_path, bad, kind):
    obj = {"model": {"w": tg.ones(2)}, "optimizer": {"state": [{"step": 1, "foo": bad}]}}
    with pytest.raises(TypeError, match=r"obj\['optimizer'\]\['state'\]\[0\]\['foo'\].*" + kind):
        tg.save(obj, tmp_path / "new.safetensors")
    assert os.listdir(tmp_path) == []


def test_non_string_keys_are_refused_and_an_existing_file_is_untouched(tmp_path):
    path = tmp_path / "c.safetensors"
    tg.save({"epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"obj\['state'\] has a key 0 of type int"):
        tg.save({"state": {0: tg.ones(1)}}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.safetensors"]


def test_a_structure_that_contains_itself_is_refused(tmp_path):
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match=r"obj\['a'\]\[0\] contains itself"):
        tg.save(loop, tmp_path / "c.safetensors")
    shared = [tg.ones(1)]
    tg.save({"a": shared, "b": shared}, tmp_path / "c.safetensors")  # shared, not cyclic: fine
    assert_same({"a": shared, "b": shared}, tg.load(tmp_path / "c.safetensors"))


def test_a_path_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        tg.save({}, 3)


# ---------------------------------------------------------------- editing files (for the tests)

def read_parts(path):
    """(header dict, the bytes after the header) of a safetensors file."""
    data = pathlib.Path(path).read_bytes()
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def write_parts(path, header, body, text=None):
    text = json.dumps(header).encode() if text is None else text
    pathlib.Path(path).write_bytes(len(text).to_bytes(8, "little") + text + body)


def edit(path, edit_header=None, edit_structure=None, sign=True, structure_text=None):
    """Rewrite a tg.save file with its header and/or structure edited in place (or the structure
    replaced by ``structure_text``); ``sign`` recomputes the structure's CRC, as a hostile file
    would."""
    header, body = read_parts(path)
    metadata = header["__metadata__"]
    structure = json.loads(metadata[serialization.STRUCTURE_KEY])
    if edit_structure is not None:
        edit_structure(structure)
    text = json.dumps(structure) if structure_text is None else structure_text
    metadata[serialization.STRUCTURE_KEY] = text
    if sign:
        metadata[serialization.CHECKSUM_KEY] = str(zlib.crc32(text.encode()))
    if edit_header is not None:
        edit_header(header)
    write_parts(path, header, body)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "good.safetensors"
    tg.save({"w": tg.zeros(1000), "b": tg.ones(3), "epoch": 5}, path)
    return path


def load_fails(path, match):
    """tg.load(path) raises a CheckpointError that names the file and matches ``match``."""
    with pytest.raises(CheckpointError, match=match) as info:
        tg.load(path)
    assert repr(str(path)) in str(info.value)
    return info.value


# ---------------------------------------------------------------- refusing bad files

def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.safetensors"):
        tg.load(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.25, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_a_clear_error(checkpoint, fraction):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:int(len(data) * fraction)])
    load_fails(checkpoint, "is not a valid checkpoint: .*truncated")


def test_a_damaged_array_is_caught_by_its_checksum(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    data[-100] ^= 0x42  # inside the zeros of "w"
    checkpoint.write_bytes(bytes(data))
    load_fails(checkpoint, r"the bytes of tensor 'w' for obj\['w'\] do not match their CRC-32")


@given(data=st.binary(max_size=200), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x10" + 7 * b"\0"]))
def test_random_bytes_are_a_clear_error(tmp_path, data, prefix):
    path = tmp_path / "random.safetensors"
    path.write_bytes(prefix + data)
    with pytest.raises(CheckpointError, match="random.safetensors"):
        tg.load(path)


@pytest.mark.parametrize("edit_header, match", [
    (lambda h: h["w"].update(data_offsets=[0, 10**9]), r"tensor 'w' has data_offsets \[0, 1000000000\]"),
    (lambda h: h["b"].update(data_offsets=[3996, 4008]), "tensor 'b' at bytes 3996 to 4008 overlaps"),
    (lambda h: h["w"].update(shape=[999], data_offsets=[0, 3996]), "leaves bytes 3996 to 4000 unused"),
    (lambda h: h["w"].update(shape=[10**12]), "'w': a F32 tensor of shape .* needs 4000000000000 bytes"),
    (lambda h: h["w"].update(shape=[1] * 65), r"tensor 'w' has the shape \[1, 1,"),
    (lambda h: h["w"].update(shape=[-1000]), r"tensor 'w' has the shape \[-1000\]"),
    (lambda h: h["w"].update(shape=[True] * 1000), r"tensor 'w' has the shape"),
    (lambda h: h["w"].update(dtype="I32"), r"tensor 'w' for obj\['w'\] is I32 of shape \[1000\] in the "
                                           r"header, but its structure says float32"),
    (lambda h: h["w"].update(dtype="F99"), "tensor 'w' has the unknown dtype 'F99'"),
    (lambda h: h["w"].update(shape=None, data_offsets=None), "tensor 'w' has the shape None"),
    (lambda h: h["w"].update(strides=[1]), "tensor 'w': its header entry must have exactly"),
    (lambda h: h["__metadata__"].update(x=1), "__metadata__ is not a map of strings to strings"),
    (lambda h: h.update(z={"dtype": "U8", "shape": [0], "data_offsets": [4012, 4012]}),
     "it holds tensor 'z', which its structure does not use"),
], ids=["offsets out of range", "overlap", "gap", "huge shape", "too many dims", "negative dim",
        "bool dims", "dtype changed", "unknown dtype", "no shape", "extra field", "metadata",
        "unused tensor"])
def test_a_bad_header_is_refused_before_any_data_is_read(checkpoint, monkeypatch, edit_header, match):
    edit(checkpoint, edit_header)
    monkeypatch.setattr(checkpoint_file, "read_array", _raise(AssertionError("data was read")))
    load_fails(checkpoint, match)


@pytest.mark.parametrize("length, match", [
    (2**63, "header length field says 9223372036854775808 bytes"),
    (7, "its header is not JSON"),
], ids=["too long", "too short"])
def test_a_wrong_header_length_is_refused(checkpoint, length, match):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(length.to_bytes(8, "little") + data[8:])
    load_fails(checkpoint, match)


def test_a_header_naming_a_tensor_twice_is_refused(checkpoint):
    header, body = read_parts(checkpoint)
    text = json.dumps(header)
    text = text[:-1] + ', "w": ' + json.dumps(header["w"]) + "}"  # json.loads would keep the last
    write_parts(checkpoint, None, body, text.encode())
    load_fails(checkpoint, "its header is not JSON .*the key 'w' appears twice")


def test_a_structure_that_does_not_match_its_checksum_is_refused(checkpoint):
    edit(checkpoint, edit_structure=lambda s: s["root"]["items"][2].update(value=6), sign=False)
    load_fails(checkpoint, "its structure does not match its CRC-32")


def _nest(levels):
    def wrap(structure):
        for _ in range(levels):
            structure["root"] = {"kind": "list", "items": [structure["root"]]}
    return wrap


def _set_array_name(item, name):
    return lambda s: s["root"]["items"][item].update(tensor=name)


@pytest.mark.parametrize("edit_structure, match", [
    (lambda s: s["root"].update(kind="mystery"), r"malformed at obj \(ValueError: unknown kind 'mystery'"),
    (lambda s: s["root"]["items"][2].update(value="five"), r"at obj\['epoch'\] .*int node holds 'five'"),
    (lambda s: s["root"]["keys"].append("x"), "needs lists of items"),
    (lambda s: s["root"]["keys"].__setitem__(2, 7), "keys are not distinct strings"),
    (lambda s: s["root"]["keys"].__setitem__(2, "w"), "keys are not distinct strings"),
    (lambda s: s["root"]["items"].__setitem__(2, {"kind": "float", "bits": "zz"}), "bits 'zz'"),
    (lambda s: s["root"]["items"][0].update(dtype="|O"), "a tensor node has dtype '|O'"),
    (lambda s: s["root"]["items"][0].update(dtype="<c8"), "a tensor node has dtype '<c8'"),
    (lambda s: s["root"]["items"][0].update(kind="scalar"), "a scalar node has shape"),
    (lambda s: s.__delitem__("root"), "its structure has no 'root'"),
    (lambda s: s.update(version=1), "format version 1"),
    (_set_array_name(1, "nothing"), r"refers to a tensor 'nothing' for obj\['b'\], which is not in"),
    (_set_array_name(1, "w"), r"refers to tensor 'w' twice \(again for obj\['b'\]\)"),
    (_nest(serialization.MAX_DEPTH), "nested more than 100 containers deep"),
], ids=["unknown kind", "wrong value type", "keys and items", "int key", "repeated key", "bad bits",
        "object dtype", "complex tensor", "scalar with a shape", "no root", "old version",
        "missing tensor", "tensor twice", "deep"])
def test_a_malformed_structure_is_refused_before_any_data_is_read(checkpoint, monkeypatch,
                                                                  edit_structure, match):
    edit(checkpoint, edit_structure=edit_structure)
    monkeypatch.setattr(checkpoint_file, "read_array", _raise(AssertionError("data was read")))
    load_fails(checkpoint, match)


def test_a_structure_nested_beyond_the_stack_is_refused(checkpoint):
    levels = 100_000  # json.loads itself gives up (RecursionError): that too is a CheckpointError
    text = ('{"kind": "list", "items": [' * levels + '{"kind": "none"}' + "]}" * levels)
    edit(checkpoint, structure_text=f'{{"format": "tinygrad_seq.checkpoint", "version": 2, '
                                    f'"root": {text}}}')
    load_fails(checkpoint, "its structure is not JSON .*RecursionError")


def test_a_header_that_is_not_a_json_object_is_refused(checkpoint):
    header, body = read_parts(checkpoint)
    write_parts(checkpoint, [header], body)
    load_fails(checkpoint, "its header is a JSON list, not an object")


def test_a_newer_format_version_asks_for_an_upgrade(checkpoint):
    edit(checkpoint, edit_structure=lambda s: s.update(version=serialization.FORMAT_VERSION + 1))
    load_fails(checkpoint, "newer tinygrad_seq .*version 3.*upgrade")


def test_a_structure_of_another_format_was_not_written_by_tg_save(checkpoint):
    edit(checkpoint, edit_structure=lambda s: s.update(format="someone.else"))
    load_fails(checkpoint, "was not written by tg.save.*'someone.else'")


def test_one_tensor_referenced_400_times_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "many.safetensors"
    tg.save({"w": tg.zeros(250_000)}, path)  # 1 MB of data, referenced from a tiny structure
    edit(path, edit_structure=lambda s: s["root"].update(
        keys=[str(k) for k in range(400)], items=[s["root"]["items"][0]] * 400))
    tracemalloc.start()
    try:
        load_fails(path, r"refers to tensor 'w' twice \(again for obj\['1'\]\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500_000  # not even the one copy of the data was made


def _old_npz(path, member_writer):
    """An archive as the old .npz tg.save wrote: a JSON manifest and one array member."""
    manifest = json.dumps({"format": "tinygrad_seq.checkpoint", "version": 1, "root": {
        "kind": "tensor", "array": "leaf_0", "dtype": "<f8", "shape": [12_500_000]}}).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("tinygrad_seq_manifest.npy", "w") as member:
            np.lib.format.write_array(member, np.frombuffer(manifest, np.uint8))
        with archive.open("leaf_0.npy", "w", force_zip64=True) as member:
            member_writer(member)


def _100_mb_of_zeros(member):
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (12_500_000,)})
    chunk = bytes(2**20)
    for _ in range(100_000_000 // len(chunk)):
        member.write(chunk)


def test_an_old_npz_checkpoint_and_a_zip_bomb_are_refused_without_unpacking(tmp_path):
    path = tmp_path / "old.npz"
    _old_npz(path, _100_mb_of_zeros)
    assert os.path.getsize(path) < 200_000
    tracemalloc.start()
    try:
        load_fails(path, r"written by an older tinygrad_seq \(.npz\).*save it again")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # not the 100 MB the archive unpacks to


def test_a_npy_file_and_a_pickle_are_refused_and_never_run(tmp_path):
    np.save(tmp_path / "single.npy", np.ones(3))
    load_fails(tmp_path / "single.npy", "starts like a single-array .npy file")
    proof = tmp_path / "code_ran"
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(RunsCodeWhenUnpickled(proof)))
    load_fails(tmp_path / "model.pkl", "is not a valid checkpoint")
    assert not proof.exists()


class RunsCodeWhenUnpickled:
    """Unpickling this creates the file at ``path``: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("entry, data, match", [
    ({"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}, bytes(4),
     "tensor 'x' is BF16, which NumPy cannot hold"),
    ({"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}, b"\x01\x02",
     "bool tensor 'x' holds bytes other than 0 and 1"),
], ids=["bfloat16", "bool"])
def test_a_foreign_tensor_numpy_cannot_hold_is_refused_by_name(tmp_path, entry, data, match):
    write_parts(tmp_path / "foreign.safetensors", {"x": entry}, data)
    load_fails(tmp_path / "foreign.safetensors", match)


def test_every_error_is_a_checkpoint_error_and_chains_its_cause(checkpoint):
    header, body = read_parts(checkpoint)
    write_parts(checkpoint, None, body, b"{oops" + b" " * 3)
    error = load_fails(checkpoint, "its header is not JSON")
    assert isinstance(error, ValueError) and isinstance(error.__cause__, json.JSONDecodeError)
