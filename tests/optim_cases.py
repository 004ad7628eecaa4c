"""Helpers shared by the optimizer, clipping and schedule tests."""
import tinygrad_seq as tg
from tinygrad_seq import Tensor
from tinygrad_seq.nn import Parameter


def parameter(values, dtype=None, device="cpu"):
    return Parameter(tg.tensor(values, dtype=dtype, device=device))


def assert_plain(value, where="state_dict"):
    """Only what a checkpoint without pickle stores: str-keyed dicts, lists, tuples, numbers,
    bools, None, str and tg Tensors."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where} has the key {key!r}"
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            assert_plain(item, f"{where}[{k}]")
    else:
        assert value is None or type(value) in (bool, int, float, str, Tensor), \
            f"{where} is a {type(value).__name__}"
