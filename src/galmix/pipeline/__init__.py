"""Survey pipeline: registration, tiles, executors, resume, measurement, truth matching, report.

Examples
--------
>>> from galmix.pipeline import load_config, make_tiles
>>> cfg = load_config({"bands": {"r": {"image": "r.fits"}}}, check_files=False)
>>> len(make_tiles((2048, 2048), cfg.tiles.size, cfg.tiles.overlap))
4
"""

from galmix.pipeline.config import PipelineConfig, load_config
from galmix.pipeline.executors import run_jobs
from galmix.pipeline.registration import Registered, pixel_coordinates, register
from galmix.pipeline.tiles import Tile, deduplicate, make_tiles

__all__ = [
    "PipelineConfig",
    "PipelineResult",
    "Registered",
    "Tile",
    "deduplicate",
    "load_config",
    "make_tiles",
    "merge_tiles",
    "pixel_coordinates",
    "process_tile",
    "register",
    "run_jobs",
    "run_pipeline",
    "write_report",
]


def __getattr__(name: str):
    # heavier modules load on first use
    if name in ("run_pipeline", "merge_tiles", "PipelineResult"):
        from galmix.pipeline import run

        return getattr(run, name)
    if name == "process_tile":
        from galmix.pipeline.measure import process_tile

        return process_tile
    if name == "write_report":
        from galmix.pipeline.report import write_report

        return write_report
    raise AttributeError(f"module 'galmix.pipeline' has no attribute {name!r}")
