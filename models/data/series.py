"""Real time series: yearly and monthly sunspots, weekly Mauna Loa CO2, monthly prices of five stocks.

- ``load_sunspots``: ``statsmodels/datasets/sunspots/sunspots.csv`` (statsmodels 0.14.5), the
  yearly mean sunspot number 1700-2008: 309 values. (The monthly ``src/sunspots_monthly.dat``
  is not shipped in the wheel, nor in the repository's ``src/``, which holds only yearly data.)
- ``load_sunspots_monthly``: ``pmdarima/datasets/data/sunspots.txt.gz`` (pmdarima 2.1.1), R's
  ``sunspots``: the monthly mean relative sunspot number, January 1749 - December 1983 (Zurich,
  then Tokyo): 2,820 values, twelve a line, one line a year.
- ``load_co2``: ``statsmodels/datasets/co2/co2.csv``, weekly CO2 in ppm at Mauna Loa,
  1958-03-29 to 2001-12-29: 2,284 weeks, 59 of them missing (NaN, or interpolated on request).
- ``load_stocks``: ``vega_datasets/_data/stocks.csv`` (vega_datasets 0.9.0), monthly closing
  prices Jan 2000 - Mar 2010 of AAPL, AMZN, GOOG, IBM, MSFT: 123 months x 5 (GOOG, listed in
  Aug 2004, is NaN before its first 68 months).

Each returns ``(times, values)`` over the whole series, times as ``datetime64[D]`` (sunspots:
int64 years), values float32; ``split_series`` cuts it in time order.

>>> years, activity = load_sunspots()                       # doctest: +SKIP
>>> int(years[0]), int(years[-1]), activity.shape           # doctest: +SKIP
(1700, 2008, (309,))
"""
import csv
import gzip
import io

import numpy as np

from . import pins
from .fetch import cached_arrays, read_member

SYMBOLS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")


def load_sunspots():
    """``(years, activity)``: int64 (309,) and float32 (309,), the yearly mean sunspot number."""
    arrays = _cached("sunspots", pins.SERIES, pins.SUNSPOTS_MEMBER, _parse_sunspots)
    return arrays["years"], arrays["activity"]


def load_sunspots_monthly():
    """``(months, activity)``: datetime64[D] (2820,), the first day of each month from 1749-01,
    and float32 (2820,), the monthly mean sunspot number."""
    path, sha256 = pins.SUNSPOTS_MONTHLY_MEMBER
    arrays = cached_arrays(f"sunspots-monthly-{sha256[:16]}", lambda: _parse_sunspots_monthly(
        read_member(pins.SUNSPOTS_MONTHLY, path, sha256), path))
    return arrays["months"], arrays["activity"]


def load_co2(interpolate=False):
    """``(weeks, ppm)``: datetime64[D] (2284,) and float32 (2284,); missing weeks are NaN unless
    ``interpolate``, which fills them linearly in time from their neighbours."""
    arrays = _cached("co2", pins.SERIES, pins.CO2_MEMBER, _parse_co2)
    weeks, ppm = arrays["weeks"], arrays["ppm"]
    if interpolate:
        known = ~np.isnan(ppm)
        days = weeks.astype(np.int64)
        ppm = np.interp(days, days[known], ppm[known]).astype(np.float32)
    return weeks, ppm


def load_stocks():
    """``(months, prices)``: datetime64[D] (123,) and float32 (123, 5), columns in ``SYMBOLS``
    order; NaN where a stock has no price that month."""
    arrays = _cached("stocks", pins.STOCKS, pins.STOCKS_MEMBER, _parse_stocks)
    return arrays["months"], arrays["prices"]


def _cached(name, package, member, parse):
    path, sha256 = member
    return cached_arrays(f"{name}-{sha256[:16]}",
                         lambda: parse(_rows(read_member(package, path, sha256), path), path))


def _rows(data, path):
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    if len(rows) < 2:
        raise ValueError(f"{path}: no data rows")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise ValueError(f"{path}: row {line} has {len(row)} fields, expected {len(rows[0])}")
    return rows


def _expect_header(rows, path, expected):
    if [name.strip() for name in rows[0]] != expected:
        raise ValueError(f"{path}: header {rows[0]}, expected {expected}")


def _number(text, path, line):
    try:
        return float(text) if text.strip() else np.nan
    except ValueError:
        raise ValueError(f"{path}: row {line}: {text!r} is not a number") from None


def _parse_sunspots(rows, path):
    _expect_header(rows, path, ["YEAR", "SUNACTIVITY"])
    years = [int(_number(year, path, line)) for line, (year, _) in enumerate(rows[1:], 2)]
    activity = [_number(value, path, line) for line, (_, value) in enumerate(rows[1:], 2)]
    return {"years": np.array(years, dtype=np.int64), "activity": np.array(activity, np.float32)}


def _parse_sunspots_monthly(data, path, first_year=1749):
    """Twelve numbers a line, one line a year from ``first_year``: a missing or extra month is
    refused, naming the line."""
    try:
        lines = gzip.decompress(data).decode("ascii").splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not gzipped ASCII text ({error})") from None
    activity = []
    for line, text in enumerate(lines, start=1):
        fields = text.split()
        if len(fields) != 12:
            raise ValueError(f"{path}: line {line} has {len(fields)} months, expected 12")
        activity += [_number(field, path, line) for field in fields]
    if not activity:
        raise ValueError(f"{path}: no data rows")
    months = np.arange(f"{first_year}-01", f"{first_year + len(lines)}-01", dtype="datetime64[M]")
    return {"months": months.astype("datetime64[D]"), "activity": np.array(activity, np.float32)}


def _parse_co2(rows, path):
    _expect_header(rows, path, ["date", "co2"])
    weeks = [_day(day, path, line) for line, (day, _) in enumerate(rows[1:], 2)]
    ppm = [_number(value, path, line) for line, (_, value) in enumerate(rows[1:], 2)]
    return {"weeks": np.array(weeks, dtype="datetime64[D]"), "ppm": np.array(ppm, np.float32)}


def _parse_stocks(rows, path):
    _expect_header(rows, path, ["symbol", "date", "price"])
    prices = {}
    for line, (symbol, date, price) in enumerate(rows[1:], 2):
        if symbol not in SYMBOLS:
            raise ValueError(f"{path}: row {line}: unknown symbol {symbol!r}")
        month = np.datetime64(_month(date, path, line), "D")
        if (month, symbol) in prices:
            raise ValueError(f"{path}: row {line}: a second price of {symbol} for {month}")
        prices[month, symbol] = _number(price, path, line)
    months = np.array(sorted({month for month, _ in prices}), dtype="datetime64[D]")
    table = np.full((len(months), len(SYMBOLS)), np.nan, dtype=np.float32)
    for (month, symbol), price in prices.items():
        table[np.searchsorted(months, month), SYMBOLS.index(symbol)] = price
    return {"months": months, "prices": table}


def _day(day, path, line):
    """``"19580329"`` -> 1958-03-29."""
    try:
        if len(day) != 8 or not day.isdigit():
            raise ValueError
        return np.datetime64(f"{day[:4]}-{day[4:6]}-{day[6:]}", "D")
    except ValueError:
        raise ValueError(f"{path}: row {line}: date {day!r} is not YYYYMMDD") from None


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _month(date, path, line):
    """``"Jan 1 2000"`` -> ``"2000-01-01"``, without the locale that strptime would consult."""
    parts = date.split()
    if len(parts) != 3 or parts[0] not in MONTHS or not (parts[1] + parts[2]).isdigit():
        raise ValueError(f"{path}: row {line}: date {date!r} is not like 'Jan 1 2000'")
    return f"{int(parts[2]):04d}-{MONTHS.index(parts[0]) + 1:02d}-{int(parts[1]):02d}"
