"""tg.save / tg.load: exact round trips, atomic writes, and clear refusals of bad input and files."""
import collections
import json
import math
import os
import pathlib
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq import serialization


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
    path = tmp_path / "checkpoint.npz"
    tg.save(obj, path)
    assert_same(obj, tg.load(path))


def test_special_floats_and_big_ints_round_trip_bit_exactly(tmp_path):
    signalling_nan = struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0]
    obj = {"floats": SPECIAL_FLOATS + [signalling_nan], "ints": [0, -1, 2**63, -2**100, True]}
    tg.save(obj, tmp_path / "c.npz")
    assert_same(obj, tg.load(tmp_path / "c.npz"))


def test_module_state_dict_loads_into_a_fresh_module(tmp_path):
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Tanh(), tg.nn.Linear(2, 2))
    tg.save(model.state_dict(), str(tmp_path / "model.npz"))
    state = tg.load(str(tmp_path / "model.npz"))
    assert type(state) is collections.OrderedDict
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    fresh = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Tanh(), tg.nn.Linear(2, 2))
    fresh.load_state_dict(state)
    x = tg.randn(5, 3)
    assert fresh(x).numpy().tobytes() == model(x).numpy().tobytes()


def test_linear_state_dict_round_trip(tmp_path):
    linear = tg.nn.Linear(3, 2)
    tg.save(linear.state_dict(), tmp_path / "linear.npz")
    fresh = tg.nn.Linear(3, 2)
    fresh.load_state_dict(tg.load(tmp_path / "linear.npz"))
    x = tg.randn(4, 3)
    np.testing.assert_array_equal(fresh(x).numpy(), linear(x).numpy())


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
    tg.save(checkpoint, tmp_path / "train.npz")
    assert_same(checkpoint, tg.load(tmp_path / "train.npz"))


def test_parameters_come_back_as_plain_tensors_without_grad(tmp_path):
    weight = tg.nn.Parameter(tg.ones(2))
    tg.save([weight], tmp_path / "p.npz")
    (loaded,) = tg.load(tmp_path / "p.npz")
    assert type(loaded) is tg.Tensor and not loaded.requires_grad
    assert loaded.tolist() == [1.0, 1.0]


def test_load_puts_tensors_on_the_device_and_keeps_arrays_numpy(tmp_path, device):
    obj = {"w": tg.randn(2, 3, device=device), "n": tg.tensor([1, 2], device=device),
           "empty": tg.zeros(0, 2, device=device), "flag": tg.tensor(True, device=device),
           "array": np.arange(3.0)}
    tg.save(obj, tmp_path / "d.npz")
    for target in ("cpu", device):
        assert_same(obj, tg.load(tmp_path / "d.npz", device=target), device=target)


def test_a_path_without_npz_suffix_is_used_as_given(tmp_path):
    path = tmp_path / "checkpoint.bin"
    tg.save({"x": 1}, path)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.bin"]
    assert tg.load(path) == {"x": 1}


def test_the_file_is_a_plain_npz_with_a_json_manifest(tmp_path):
    tg.save({"w": tg.ones(2)}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as archive:
        manifest = json.loads(archive[serialization.MANIFEST_NAME].tobytes())
        assert (manifest["format"], manifest["version"]) == ("tinygrad_seq.checkpoint", 1)
        leaf = manifest["root"]["items"][0][1]
        assert leaf["kind"] == "tensor"
        np.testing.assert_array_equal(archive[leaf["array"]], np.ones(2, np.float32))


def test_saving_again_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "c.npz"
    tg.save({"v": 1}, path)
    os.chmod(path, 0o640)
    tg.save({"v": 2}, path)
    assert tg.load(path) == {"v": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["c.npz"]


def test_a_new_file_gets_the_permissions_open_would_give(tmp_path):
    old_umask = os.umask(0o027)
    try:
        tg.save({"v": 1}, tmp_path / "c.npz")
    finally:
        os.umask(old_umask)
    assert os.stat(tmp_path / "c.npz").st_mode & 0o777 == 0o640  # not mkstemp's owner-only 0o600


# ---------------------------------------------------------------- atomic writes

def _raise(exception):
    def fail(*args, **kwargs):
        raise exception
    return fail


@pytest.mark.parametrize("target", ["numpy.savez", "os.fsync", "os.replace"])
@pytest.mark.parametrize("exception", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
def test_a_crash_mid_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, target,
                                                                     exception):
    path = tmp_path / "c.npz"
    old = {"weights": tg.arange(4), "epoch": 1}
    tg.save(old, path)
    monkeypatch.setattr(target, _raise(exception))
    with pytest.raises(type(exception)):
        tg.save({"weights": tg.zeros(4), "epoch": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.npz"]
    assert_same(old, tg.load(path))


def test_a_crash_during_the_first_save_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("os.fsync", _raise(OSError("I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        tg.save({"x": tg.ones(3)}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .*no_such_dir.* does not exist"):
        tg.save({"x": 1}, tmp_path / "no_such_dir" / "c.npz")
    assert os.listdir(tmp_path) == []


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
        tg.save(obj, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_non_string_keys_are_refused_and_an_existing_file_is_untouched(tmp_path):
    path = tmp_path / "c.npz"
    tg.save({"epoch": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"obj\['state'\] has a key 0 of type int"):
        tg.save({"state": {0: tg.ones(1)}}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]


def test_a_structure_that_contains_itself_is_refused(tmp_path):
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match=r"obj\['a'\]\[0\] contains itself"):
        tg.save(loop, tmp_path / "c.npz")
    shared = [1]
    tg.save({"a": shared, "b": shared}, tmp_path / "c.npz")  # shared but not cyclic is fine
    assert tg.load(tmp_path / "c.npz") == {"a": [1], "b": [1]}


def test_a_path_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        tg.save({}, 3)


# ---------------------------------------------------------------- refusing bad files

def _rewrite(path, edit_manifest=None, drop=(), extra=None):
    """Rewrite a tg.save checkpoint with its manifest edited and/or members dropped or added."""
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files if name not in drop}
    manifest = json.loads(members[serialization.MANIFEST_NAME].tobytes())
    if edit_manifest is not None:
        edit_manifest(manifest)
    members[serialization.MANIFEST_NAME] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    members.update(extra or {})
    with open(path, "wb") as file:
        np.savez(file, **members)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "good.npz"
    tg.save({"w": tg.zeros(1000), "b": tg.ones(3), "epoch": 5}, path)
    return path


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.npz"):
        tg.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.25, 0.5, 0.9, 0.999])
def test_a_truncated_file_is_a_clear_error(checkpoint, fraction):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(ValueError, match=r"good.npz.* is not a valid tinygrad_seq checkpoint: "
                                         r".*\(truncated or corrupt\?\)"):
        tg.load(checkpoint)


def test_a_damaged_array_is_caught_by_the_zip_checksum(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    middle = data.index(b"\x00" * 1000) + 500  # inside the zeros of "w"
    data[middle] = 0x42
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"not a valid tinygrad_seq checkpoint: .*CRC"):
        tg.load(checkpoint)


@given(data=st.binary(max_size=200), zip_header=st.booleans())
def test_random_bytes_are_a_clear_error(tmp_path, data, zip_header):
    path = tmp_path / "random.npz"
    path.write_bytes((b"PK\x03\x04" if zip_header else b"") + data)
    # bytes that happen to start with the .npy magic are told apart from a damaged checkpoint
    with pytest.raises(ValueError, match="random.npz.*( is not a valid tinygrad_seq checkpoint"
                                         "|starts like a single-array .npy file: it was not written "
                                         "by tg.save)"):
        tg.load(path)


def test_a_foreign_npz_was_not_written_by_tg_save(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3), bias=np.zeros(2))
    with pytest.raises(ValueError, match=r"foreign.npz.* was not written by tg.save.*weights"):
        tg.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match=r"single.npy.* was not written by tg.save"):
        tg.load(tmp_path / "single.npy")


def test_a_manifest_of_another_format_was_not_written_by_tg_save(checkpoint):
    _rewrite(checkpoint, lambda m: m.update(format="someone.else"))
    with pytest.raises(ValueError, match="was not written by tg.save.*'someone.else'"):
        tg.load(checkpoint)


def test_a_newer_format_version_asks_for_an_upgrade(checkpoint):
    _rewrite(checkpoint, lambda m: m.update(version=serialization.FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="newer tinygrad_seq .*version 2.*upgrade"):
        tg.load(checkpoint)


def test_a_manifest_naming_a_missing_array_is_a_clear_error(checkpoint):
    _rewrite(checkpoint, drop=["leaf_1"])
    with pytest.raises(ValueError, match=r"refers to an array 'leaf_1' for obj\['b'\], which is not in"):
        tg.load(checkpoint)


def test_an_array_that_disagrees_with_the_manifest_is_a_clear_error(checkpoint):
    _rewrite(checkpoint, extra={"leaf_1": np.ones(4)})
    with pytest.raises(ValueError, match=r"'leaf_1' for obj\['b'\] has dtype <f8 and shape \[4\]"):
        tg.load(checkpoint)


@pytest.mark.parametrize("edit", [
    lambda m: m["root"].update(kind="mystery"),
    lambda m: m["root"]["items"][2][1].update(value="five"),
    lambda m: m["root"]["items"].append(["x"]),
    lambda m: m["root"]["items"].append([7, {"kind": "none"}]),
    lambda m: m["root"]["items"].append(["x", {"kind": "float", "bits": "zz"}]),
    lambda m: m.pop("root"),
], ids=["unknown kind", "wrong value type", "short pair", "int key", "bad bits", "no root"])
def test_a_malformed_manifest_is_a_clear_error(checkpoint, edit):
    _rewrite(checkpoint, edit)
    with pytest.raises(ValueError, match="not a valid tinygrad_seq checkpoint: its manifest"):
        tg.load(checkpoint)


def test_a_manifest_that_is_not_json_is_a_clear_error(checkpoint):
    _rewrite(checkpoint, extra={serialization.MANIFEST_NAME: np.frombuffer(b"{oops", np.uint8)})
    with pytest.raises(ValueError, match="its manifest cannot be read") as info:
        tg.load(checkpoint)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


class RunsCodeWhenUnpickled:
    """Unpickling this creates the file at ``path``: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_objects_in_a_checkpoint_are_never_unpickled(tmp_path, checkpoint):
    proof = tmp_path / "code_ran"
    evil = np.array([RunsCodeWhenUnpickled(proof)], dtype=object)
    # a well-formed manifest that points at an object array
    _rewrite(checkpoint, lambda m: m["root"]["items"][1][1].update(dtype="|O", shape=[1]),
             extra={"leaf_1": evil})
    with pytest.raises(ValueError, match=r"array 'leaf_1' cannot be read without unpickling"):
        tg.load(checkpoint)
    # an object array alone, and a bare pickle
    np.savez(tmp_path / "foreign.npz", payload=evil)
    with pytest.raises(ValueError, match="was not written by tg.save"):
        tg.load(tmp_path / "foreign.npz")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(RunsCodeWhenUnpickled(proof)))
    with pytest.raises(ValueError, match="not a valid tinygrad_seq checkpoint"):
        tg.load(tmp_path / "model.pkl")
    assert not proof.exists()


def test_errors_chain_their_cause(checkpoint):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:len(data) // 2])
    with pytest.raises(serialization.CheckpointError) as info:
        tg.load(pathlib.Path(checkpoint))
    assert info.value.__cause__ is not None
