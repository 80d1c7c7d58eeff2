"""Catalogs: column documentation, cross-matching, truth matching and atomic I/O.

Examples
--------
>>> from galmix.catalog import COLUMN_DOCS, crossmatch
>>> COLUMN_DOCS["flux_auto"][0]
'image units'
>>> crossmatch([0.0], [0.0], [0.0001], [0.0], 1.0)[0].tolist()
[0]
"""

from galmix.catalog.columns import COLUMN_DOCS, annotate, column_doc
from galmix.catalog.io import read_catalog, write_catalog
from galmix.catalog.match import associate, crossmatch, crossmatch_pixels, match_truth
from galmix.catalog.measure import MeasureResult, measure_images

__all__ = [
    "COLUMN_DOCS",
    "MeasureResult",
    "annotate",
    "associate",
    "column_doc",
    "crossmatch",
    "crossmatch_pixels",
    "match_truth",
    "measure_images",
    "read_catalog",
    "write_catalog",
]
