"""Sphinx configuration of the mnist-logreg documentation (``make docs``).

Sphinx with MyST (Markdown pages), numpydoc (the API reference from the docstrings),
sphinx-gallery (the tutorial, executed at build time) and the PyData theme: the stack of
scikit-learn and skglm, so a reader of theirs finds their way here. Builds offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _scraper

os.environ.setdefault("MPLBACKEND", "Agg")

project = "mnist-logreg"
author = "the mnist-logreg developers"
copyright = "2026, the mnist-logreg developers"

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tutorial_src", "**/GALLERY_HEADER.rst"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": "tutorial_src",
    "gallery_dirs": "tutorial",
    "filename_pattern": r"/plot_",
    "image_scrapers": ("matplotlib", "_scraper.figure_scraper"),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "show_signature": False,
}

html_theme = "pydata_sphinx_theme"
html_title = "mnist-logreg"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False
html_favicon = "images/favicon.png"  # the first training digit
# the theme's light/dark switch starts from the reader's system setting (an empty mode is logged
# as an error in the browser's console)
html_context = {"default_mode": "auto"}


def _skip_routing_setters(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods document scikit-learn's glossary, which
    this site does not have: they are described by scikit-learn's metadata-routing guide."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_routing_setters)
