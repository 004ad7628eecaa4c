"""English text for word embeddings, and the benchmarks that judge them.

All from the gensim 4.3.3 wheel's test data (pinned in pins.py; gensim's code is never run):

- ``load_wikipedia()``: the English Wikipedia articles of
  ``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``, a 2016 dump of the
  first pages of Wikipedia (Anarchism, Autism, Albedo, Aristotle, ...). Redirects and non-article
  pages are dropped and the wiki markup is stripped (``strip_wikitext``): 106 articles, one a
  line, 2,901,328 characters, 453,047 words (``[a-z]+`` runs after lower-casing).
- ``load_analogies()``: Mikolov et al.'s (2013) 19,544 analogy questions "a is to b as c is to
  d" in 14 sections (capital-common-countries ... gram9-plural-verbs).
- ``load_similarity("wordsim353" | "simlex999")``: word pairs with human similarity ratings,
  WordSim-353 (Finkelstein et al. 2002; 353 pairs, relatedness) and SimLex-999 (Hill et al.
  2015; 999 pairs, similarity proper).

>>> strip_wikitext("'''Albedo''' is the [[reflection (physics)|reflectivity]] of a surface.{{cite}}")
'Albedo is the reflectivity of a surface.'
"""
import bz2
import html
import io
import re
import xml.etree.ElementTree as ElementTree

import numpy as np

from . import pins
from .fetch import cached_arrays, read_member

SIMILARITY = tuple(pins.SIMILARITY_MEMBERS)


def load_wikipedia():
    """The articles' plain text, one article a line (see the module's docstring)."""
    path, sha256 = pins.WIKIPEDIA_MEMBER

    def build():
        text = "\n".join(_articles(read_member(pins.WORDS, path, sha256), path)) + "\n"
        return {"utf8": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}

    return cached_arrays(f"wikipedia-{sha256[:16]}-v1", build)["utf8"].tobytes().decode("utf-8")


def load_analogies():
    """``(sections, questions)``: the section of each question (str (N,)) and its four words,
    lower-cased (str (N, 4)): a is to b as c is to d."""
    path, sha256 = pins.ANALOGIES_MEMBER
    sections, questions, section = [], [], None
    for number, line in enumerate(read_member(pins.WORDS, path, sha256).decode("utf-8").splitlines(), 1):
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            words = line.lower().split()
            if len(words) != 4 or section is None:
                raise ValueError(f"{path} line {number}: expected a section, then four words a "
                                 f"line; got {line!r}")
            sections.append(section)
            questions.append(words)
    return np.array(sections, dtype=str), np.array(questions, dtype=str)


def load_similarity(name):
    """``(pairs, scores)``: word pairs lower-cased (str (N, 2)) and their human ratings (float64
    (N,), 0-10) of the benchmark ``name``, one of ``SIMILARITY``."""
    if name not in pins.SIMILARITY_MEMBERS:
        raise ValueError(f"no similarity benchmark {name!r}; there are {SIMILARITY}")
    path, sha256 = pins.SIMILARITY_MEMBERS[name]
    pairs, scores = [], []
    for number, line in enumerate(read_member(pins.WORDS, path, sha256).decode("utf-8").splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        try:
            pairs.append([fields[0].lower(), fields[1].lower()])
            scores.append(float(fields[2]))
        except (IndexError, ValueError):
            raise ValueError(f"{path} line {number}: expected word, word, rating; got {line!r}") from None
    return np.array(pairs, dtype=str), np.array(scores)


# ---------------------------------------------------------------- wiki markup to text

NAMESPACE = "{http://www.mediawiki.org/xml/export-0.10/}"
# [[File:...]], [[Category:...]], interlanguage links [[de:...]]: not text of the article
NOT_TEXT = re.compile(r"^\s*(?:[a-z]{2,3}(?:-[a-z]+)?|file|image|category|media|wikipedia|wp):",
                      re.IGNORECASE)
DROPPED = [re.compile(pattern, re.DOTALL | re.IGNORECASE) for pattern in (
    r"<!--.*?-->", r"<ref[^>/]*/>", r"<ref[^>]*>.*?</ref>",
    r"<(math|gallery|timeline|score|source|syntaxhighlight|pre|table)[^>]*>.*?</\1>",
    r"^\s*\|.*$|^\s*!.*$",   # leftover table rows
)]


def strip_wikitext(markup):
    """The running text of a page of wiki markup: templates, tables, references, files and
    categories dropped, links replaced by their text, bold/italic marks and headings' ``=``
    removed, HTML entities and tags resolved; URLs of external links without a label are kept
    (word2vec's preprocessing reads them as ``<url>``)."""
    text = DROPPED[0].sub(" ", markup)
    for pattern in DROPPED[1:4]:
        text = pattern.sub(" ", text)
    text = _innermost_first(r"\{\{[^{}]*\}\}", "", text)          # templates, nested
    text = _innermost_first(r"\{\|(?:(?!\{\|).)*?\|\}", "", text, re.DOTALL)  # tables
    text = _innermost_first(r"\[\[([^\[\]]*)\]\]", _link_text, text)
    text = re.sub(r"\[(?:https?|ftp)://[^\s\]]+\s+([^\]]*)\]", r"\1", text)  # [url label] -> label
    text = re.sub(r"\[((?:https?|ftp)://[^\s\]]+)\]", r"\1", text)
    text = html.unescape(re.sub(r"</?[a-zA-Z][^>]*>", " ", html.unescape(text)))
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1.", text, flags=re.MULTILINE)
    text = DROPPED[4].sub("", re.sub(r"^[*#:;]+\s*", "", text, flags=re.MULTILINE))
    return " ".join(text.split())


def _innermost_first(pattern, replacement, text, flags=0):
    compiled = re.compile(pattern, flags)
    while True:
        text, count = compiled.subn(replacement, text)
        if not count:
            return text


def _link_text(match):
    inside = match.group(1)
    if NOT_TEXT.match(inside):
        return ""
    return inside.rsplit("|", 1)[-1]


def _articles(data, path):
    """The plain text of every article (namespace 0, not a redirect) of a bz2 MediaWiki dump."""
    try:
        stream = io.BytesIO(bz2.decompress(data))
        articles = []
        for _, element in ElementTree.iterparse(stream):
            if element.tag != NAMESPACE + "page":
                continue
            text = element.findtext(f"{NAMESPACE}revision/{NAMESPACE}text") or ""
            if (element.findtext(NAMESPACE + "ns") == "0" and element.find(NAMESPACE + "redirect") is None
                    and not text.lstrip().upper().startswith("#REDIRECT")):
                plain = strip_wikitext(text)
                if plain:
                    articles.append(plain)
            element.clear()
    except (OSError, EOFError, ElementTree.ParseError) as error:
        raise ValueError(f"{path}: not a bz2 MediaWiki dump ({error})") from None
    return articles
