"""The docs, docstrings, comments and tests cite works a reader can open.

The project began from five numbered notes that are not in this repository; the code and the
docs cite the public books and papers those notes explain instead (docs/references.md). The scan
below fails on any citation of the notes by number or by folder, and on any work that the docs
cite by authors and year without an entry in docs/references.md.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ("tinygrad_seq", "models", "tests", "docs", "benchmarks")
SCANNED = [ROOT / "README.md"] + [path for folder in FOLDERS
                                  for path in sorted((ROOT / folder).rglob("*"))
                                  if path.suffix in (".py", ".md") and path.is_file()]

# Built from pieces, so that this file does not match itself.
_NOTE = "se" + "ed"
UNOPENABLE = re.compile("|".join([
    _NOTE + r"s?'?s?[ _]?0{2}[0-4]",  # by number, 000 to 004: alone, listed, possessive, in a name
    r"\(0{2}[0-4][,;)/]",             # by bare number in parentheses
    _NOTE + r"\s+texts?\b",            # "the <note> texts"
    r"shared/" + _NOTE + "s",          # the folder they live in, outside the repository
    _NOTE.upper() + r"S\.md",          # and its summary
]), re.I)

# "Hochreiter & Schmidhuber 1997", "Cho et al. 2014", "Goodfellow et al. (2016"
AUTHORS_YEAR = re.compile(r"([^\W\d_][^\W\d_'-]*) (?:et al\.|& [^\W\d_]+),? \(?((?:19|20)\d\d)\b")


def unopenable_citations(paths):
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in paths
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if UNOPENABLE.search(line)]


def test_no_citation_of_texts_outside_the_repository():
    found = unopenable_citations(SCANNED)
    assert not found, ("cite the public work (docs/references.md), not the notes outside the "
                       "repository:\n" + "\n".join(found))


def test_the_scan_recognises_each_form_and_leaves_random_seeds_alone():
    for path in (ROOT / "tinygrad_seq" / "nn" / "cells.py", ROOT / "docs" / "experiments.md",
                 pathlib.Path(__file__)):
        assert path in SCANNED, path
    assert len(SCANNED) > 100
    cited = [f"Elman's cell ({_NOTE}s 000, 001, 003)", f"{_NOTE} 002's `use_peepholes`",
             f"{_NOTE.title()} 001 written out", f"def test_equal_{_NOTE}_001_equations():",
             f"({_NOTE} 000/002's long-term dependencies)", "ReLU cures it (" + "003)",
             "dependencies (" + "000, 002, 004)", f"the architectures of the {_NOTE} texts",
             f"The {_NOTE} texts (shared/{_NOTE}s/, summarised in shared/{_NOTE.upper()}S.md)"]
    for line in cited:
        assert UNOPENABLE.search(line), line
    random_seeds = ["| `--seed S` | the seed of the initial weights |", "tg.manual_seed(0)",
                    "the median over 5 weight seeds of", "fixed seed 0 whatever `--seed`",
                    "seed=st.integers(0, 1000))", "bucket_mb=0.001)", "of 10,000)", "seeds 0-4"]
    for line in random_seeds:
        assert not UNOPENABLE.search(line), line


def test_every_work_the_docs_cite_by_authors_and_year_has_a_reference():
    entries = (ROOT / "docs" / "references.md").read_text(encoding="utf-8").split("\n- ")[1:]
    pages = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    missing = sorted({f"{author} {year} ({page.name})"
                      for page in pages
                      for author, year in AUTHORS_YEAR.findall(page.read_text(encoding="utf-8"))
                      if not any(entry.startswith(author + ",") and f"({year})" in entry
                                 for entry in entries)})
    assert not missing, "add to docs/references.md: " + ", ".join(missing)
