"""Sphinx configuration of the API reference (docs/api/), built from the package's docstrings.

Build (from the repository root; the HTML lands in site/, which git ignores):

    .venv/bin/pip install -q -e ".[docs]" && .venv/bin/python -m sphinx -E -W -q -b html docs site

and open site/api/index.html. ``-E`` rereads every page: Sphinx does not see a changed
docstring, so an incremental build would keep (and not re-check) the old text.

Sphinx autodoc rather than mkdocs + mkdocstrings: the docstrings are reStructuredText
(``literals``, ``::`` blocks, ``>>>`` doctest examples), which autodoc reads natively, while
mkdocstrings would render them as Markdown (a ``>>>`` line outside an ``Examples:`` section
becomes a nested quote); and autodoc imports the package, so functions made at import time (the
comparison ops) are documented as Python sees them, not as a static reading of the source guesses.
The prose pages of docs/ stay Markdown and are read by MyST.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # the checkout's package, installed editable or not

project = "tinygrad_seq"
author = "tinygrad_seq contributors"
root_doc = "api/index"          # the reference is the front page; the prose pages hang off it
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# docs/results/ holds run logs and docs/experiments/, docs/models-ii/ only images: not pages.
exclude_patterns = ["results", "experiments", "models-ii"]

autodoc_member_order = "bysource"
autodoc_typehints = "none"          # the docstrings say what each argument is
add_module_names = False            # "Tensor", not "tinygrad_seq.Tensor", in headings
myst_heading_anchors = 3            # the prose pages link to their own sections by slug

html_theme = "alabaster"
html_title = "tinygrad_seq API reference"
