"""English -> French message pairs from real gettext catalogs shipped in wheels.

The French ``.mo`` catalogs of Django 5.1.4 (core and contrib apps), Sphinx 8.1.3 and Wagtail
6.3.1 (its apps), read
through fetch.py (pinned, checksummed) and parsed with the standard library's ``gettext``. Kept:
singular messages without a context, both sides non-empty, the English at most 12 words;
deduplicated by English message (the first catalog in ``pins`` order wins). 10% of the messages
are held out (shuffled by ``seed``); as the split is by distinct English message, no held-out
message is trained on. With the pinned catalogs and ``seed=0`` that is 2,612 training and 290
held-out pairs (``python -m models.data.catalogs`` prints them).

>>> train, test = load_messages()                      # doctest: +SKIP
>>> train[0]                                           # doctest: +SKIP
('...', '...')
"""
import gettext
import io

import numpy as np

from . import pins
from .fetch import cached_arrays, read_members

MAX_WORDS = 12


def catalog_pairs(data, max_words=MAX_WORDS):
    """(msgid, msgstr) pairs of one ``.mo`` file's bytes, filtered as the module says."""
    catalog = gettext.GNUTranslations(io.BytesIO(data))._catalog
    pairs = []
    for key, value in catalog.items():
        if not isinstance(key, str) or not key or "\x04" in key or not value.strip():
            continue        # plural forms (keys are tuples), the header, messages with a context
        english, french = " ".join(key.split()), " ".join(value.split())
        if english and len(english.split()) <= max_words:
            pairs.append((english, french))
    return sorted(pairs)


def dedupe(pairs):
    seen, kept = set(), []
    for english, french in pairs:
        if english not in seen:
            seen.add(english)
            kept.append((english, french))
    return kept


def split_messages(pairs, holdout=0.1, seed=0):
    order = np.random.default_rng(seed).permutation(len(pairs))
    cut = max(1, int(round(holdout * len(pairs))))
    return [pairs[i] for i in sorted(order[cut:])], [pairs[i] for i in sorted(order[:cut])]


def _parse():
    pairs = []
    for package, members in ((pins.DJANGO, pins.DJANGO_FR_MEMBERS), (pins.SPHINX, pins.SPHINX_FR_MEMBERS),
                             (pins.WAGTAIL, pins.WAGTAIL_FR_MEMBERS)):
        found = read_members(package, members)
        for member in members:
            pairs.extend(catalog_pairs(found[member]))
    pairs = dedupe(pairs)
    return {"english": np.array([e for e, _ in pairs], dtype=str),
            "french": np.array([f for _, f in pairs], dtype=str)}


def load_messages(holdout=0.1, seed=0):
    """(train, test) lists of (English, French) message pairs."""
    key = "fr_catalogs-" + "".join(sha[:4] for sha in [*pins.DJANGO_FR_MEMBERS.values(),
                                                       *pins.SPHINX_FR_MEMBERS.values(),
                                                       *pins.WAGTAIL_FR_MEMBERS.values()])
    arrays = cached_arrays(key, _parse)
    pairs = list(zip(arrays["english"].tolist(), arrays["french"].tolist()))
    return split_messages(pairs, holdout, seed)


if __name__ == "__main__":
    train, test = load_messages()
    print(f"{len(train)} training and {len(test)} held-out pairs")
    for english, french in test[:10]:
        print(f"{english!r} -> {french!r}")
