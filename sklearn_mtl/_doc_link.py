"""The "?" link of the HTML repr: scikit-learn's documentation-link hooks, for this package."""

from __future__ import annotations

DOCS_URL = "https://sklearn-mtl.readthedocs.io/en/{version}/"
"""Root of the published documentation; ``{version}`` is "latest" for development builds."""


class DocLinkMixin:
    """Point the HTML repr's "?" link at this package's API page of the class.

    scikit-learn's ``BaseEstimator`` draws the link from ``_doc_link_module`` (the
    estimator's root package must match it) and ``_doc_link_template``; the page of
    ``sklearn_mtl.weighting.DWA`` is ``generated/sklearn_mtl.weighting.DWA.html``.

    Examples
    --------
    >>> from sklearn_mtl import MultiTaskNetEstimator
    >>> MultiTaskNetEstimator()._get_doc_link()  # doctest: +ELLIPSIS
    'https://sklearn-mtl.readthedocs.io/en/.../generated/sklearn_mtl.MultiTaskNetEstimator.html'
    """

    _doc_link_module = "sklearn_mtl"

    @property
    def _doc_link_template(self) -> str:
        from . import __version__

        version = "latest" if "dev" in __version__ else ".".join(__version__.split(".")[:2])
        return (
            DOCS_URL.format(version=version) + "generated/{estimator_module}.{estimator_name}.html"
        )
