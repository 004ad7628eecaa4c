"""Date normalisation pairs: human-written dates in many formats -> ISO ``YYYY-MM-DD``.

Dates are drawn uniformly from 1950-01-01 to 2049-12-31 with a fixed seed. The training set
uses ``TRAIN_FORMATS``; the test set uses ``HELD_OUT_FORMATS`` only, which recombine pieces
seen in training (a month name, an ordinal day, a two-digit year, a separator) in orders or
spellings never seen. The conventions, all learnable from the training formats: ``/`` between
numbers is month/day (US) unless the year comes first, ``.`` is day.month (European), ``-``
after a four-digit year is ISO; a two-digit year ``yy`` is 19yy for 50-99 and 20yy for 00-49.

>>> train, test = make_pairs(train_size=3, test_size=2, seed=0)
>>> len(train), len(test), all(len(iso) == 10 for _, iso in train + test)
(3, 2, True)
>>> render(datetime.date(1999, 5, 3), "{dth} of {Month} {Y}")
'3rd of May 1999'
"""
import datetime

import numpy as np

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

TRAIN_FORMATS = [
    "{d} {Month} {Y}",                 # 3 May 1999
    "{dth} of {Month} {Y}",            # 3rd of May 1999
    "{Month} {d}, {Y}",                # May 3, 1999
    "{Weekday}, {Month} {d}, {Y}",     # Monday, May 3, 1999
    "{mm}/{dd}/{yy}",                  # 05/03/99
    "{mm}/{dd}/{Y}",                   # 05/03/1999
    "{dd}.{mm}.{Y}",                   # 03.05.1999
    "{Y}-{mm}-{dd}",                   # 1999-05-03
    "{Y}/{mm}/{dd}",                   # 1999/05/03
    "{Mon} {d} {Y}",                   # May 3 1999
    "{d} {Mon} {yy}",                  # 3 May 99
    "{month} {dth}, {Y}",              # may 3rd, 1999
    "{Wkd} {d} {Mon} {Y}",             # Mon 3 May 1999
    "{dd} {MONTH} {Y}",                # 03 MAY 1999
    "the {dth} of {Month}, {Y}",       # the 3rd of May, 1999
    "{Wkd}, {dd}.{mm}.{yy}",           # Mon, 03.05.99
]
HELD_OUT_FORMATS = [
    "{Month} {dth}, {Y}",              # May 3rd, 1999
    "{Weekday} {d} {Month} {Y}",       # Monday 3 May 1999
    "{dth} {Mon} {Y}",                 # 3rd May 1999
    "{dd}.{mm}.{yy}",                  # 03.05.99
    "{Wkd}, {Mon} {d}, {Y}",           # Mon, May 3, 1999
    "{MONTH} {d}, {Y}",                # MAY 3, 1999
]

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def ordinal(day):
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def render(date, form):
    month = MONTHS[date.month - 1]
    return form.format(d=date.day, dd=f"{date.day:02d}", dth=ordinal(date.day), m=date.month,
                       mm=f"{date.month:02d}", Month=month, Mon=month[:3], month=month.lower(),
                       MONTH=month.upper(), Y=date.year, yy=f"{date.year % 100:02d}",
                       Weekday=DAYS[date.weekday()], Wkd=DAYS[date.weekday()][:3])


def draw(count, formats, rng):
    span = (LAST - FIRST).days + 1
    offsets = rng.integers(0, span, size=count)
    chosen = rng.integers(0, len(formats), size=count)
    pairs = []
    for offset, k in zip(offsets.tolist(), chosen.tolist()):
        date = FIRST + datetime.timedelta(days=offset)
        pairs.append((render(date, formats[k]), date.isoformat()))
    return pairs


def make_pairs(train_size=20000, test_size=2000, seed=0):
    """(train, test) lists of (written date, ISO date); test in the held-out formats only."""
    rng = np.random.default_rng(seed)
    return draw(train_size, TRAIN_FORMATS, rng), draw(test_size, HELD_OUT_FORMATS, rng)


if __name__ == "__main__":
    train, test = make_pairs(8, 8)
    for source, target in train + test:
        print(f"{source:35s} -> {target}")
