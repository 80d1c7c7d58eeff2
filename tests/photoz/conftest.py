"""Fixtures for the photo-z tests: the real SDSS sample from kcorrect."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galmix.photoz import SDSS_GST_COLUMNS, FluxFeatures, photometry_from_table


@pytest.fixture(scope="session")
def gst_table(shared_data) -> Table:
    """The 10,000 SDSS galaxies of kcorrect's gst_tests_small.fits."""
    return Table.read(shared_data / "kcorrect" / "gst_tests_small.fits", hdu=1)


@pytest.fixture(scope="session")
def gst_xz(gst_table):
    """Raw photometry matrix (model+Petrosian ugriz, errors, extinction) and z."""
    c = SDSS_GST_COLUMNS
    X, z = photometry_from_table(
        gst_table, c["bands"], c["flux"], ivar=c["ivar"], extinction=c["extinction"], z=c["z"]
    )
    return X, z


@pytest.fixture(scope="session")
def gst_features() -> FluxFeatures:
    return FluxFeatures(bands=("u", "g", "r", "i", "z"), n_sets=2, has_extinction=True)


@pytest.fixture(scope="session")
def gst_subsample(gst_xz):
    """A fixed random subsample of 3000 objects (keeps tests fast)."""
    X, z = gst_xz
    idx = np.random.default_rng(2024).choice(z.size, 3000, replace=False)
    return X[idx], z[idx]


@pytest.fixture(autouse=True)
def _single_openmp_thread():
    """Boosted trees use OpenMP; on a shared 2-core machine one thread is much faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield
