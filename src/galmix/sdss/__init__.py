"""SDSS data access: frames, catalog queries, downloads and pipeline configs.

- :func:`read_frame` reads an SDSS corrected frame (``frame-*.fits[.bz2]``)
  with its calibration-based inverse-variance weight and WCS.
- :func:`build_spec_query` writes the SQL (SkyServer / CasJobs) selecting
  spectroscopic objects with clean photometry; :func:`read_query_result`
  and :func:`unique_fields` turn its result into the list of fields to fetch.
- :func:`frame_url` / :func:`frame_urls` build download URLs by data release
  (or from a user template) and :func:`download` fetches them (parallel,
  resumable, retried, atomic).
- :func:`build_pipeline_config` writes a ``galmix run`` configuration naming
  the frames with ``format: sdss``.
- :mod:`galmix.sdss.synthetic` writes small frames in the exact SDSS layout.
"""

from galmix.sdss.ccd import BANDS, CCD_TABLE_SOURCE, ccd_table, sdss_dark_variance, sdss_gain
from galmix.sdss.config import (
    build_pipeline_config,
    find_field_frames,
    write_field_configs,
    write_pipeline_config,
)
from galmix.sdss.download import (
    DownloadItem,
    DownloadReport,
    DownloadResult,
    download,
    download_file,
    file_checksum,
    items_from_urls,
)
from galmix.sdss.frame import SDSS_PIXEL_SCALE, SDSS_ZEROPOINT, SDSSFrame, read_field, read_frame
from galmix.sdss.naming import FieldID, FrameID, frame_filename, parse_frame_filename
from galmix.sdss.query import (
    SPEC_CLASSES,
    build_area_query,
    build_spec_query,
    read_query_result,
    unique_fields,
)
from galmix.sdss.urls import SAS_BASE_URL, frame_url, frame_urls, release_path, validate_template

__all__ = [
    "BANDS",
    "CCD_TABLE_SOURCE",
    "SAS_BASE_URL",
    "SDSS_PIXEL_SCALE",
    "SDSS_ZEROPOINT",
    "SPEC_CLASSES",
    "DownloadItem",
    "DownloadReport",
    "DownloadResult",
    "FieldID",
    "FrameID",
    "SDSSFrame",
    "build_area_query",
    "build_pipeline_config",
    "build_spec_query",
    "ccd_table",
    "download",
    "download_file",
    "file_checksum",
    "find_field_frames",
    "frame_filename",
    "frame_url",
    "frame_urls",
    "items_from_urls",
    "parse_frame_filename",
    "read_field",
    "read_frame",
    "read_query_result",
    "release_path",
    "sdss_dark_variance",
    "sdss_gain",
    "unique_fields",
    "validate_template",
    "write_field_configs",
    "write_pipeline_config",
]
