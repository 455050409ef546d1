"""A sphinx-gallery image scraper for the figures mnist-logreg's plotting functions return.

``mnist_logreg.plots`` builds ``matplotlib.figure.Figure`` objects without pyplot (so a server
or a test never opens a window), which sphinx-gallery's matplotlib scraper does not see. This one
saves every such figure that a code block leaves in the tutorial's namespace, once.
"""

from __future__ import annotations

_SEEN: dict[int, object] = {}  # id -> figure (kept alive so that an id is never reused)


def figure_scraper(block, block_vars, gallery_conf, **kwargs):
    """Save the new ``Figure`` objects in the example's globals; return their reST."""
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and id(value) not in _SEEN:
            _SEEN[id(value)] = value
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=100)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
