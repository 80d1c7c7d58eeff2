"""Multi-band simulated fields with known truth, rendered with GalSim.

A field is a set of images (one per band) of the same patch of sky, each
with its own FITS WCS (TAN or TAN-SIP; bands are dithered and slightly
rotated against each other so that registration matters), its own PSF and
seeded Gaussian noise. Galaxies are sheared Sersic profiles whose fluxes in
every band follow the redshift-dependent colour model of
:mod:`galmix.sim.colors`; stars are point sources with black-body colours.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixValueError
from galmix.geometry import WCS
from galmix.sim.colors import band_wavelength, galaxy_magnitudes, mag_to_flux, star_magnitudes
from galmix.sim.psf import draw_psf_image, make_psf
from galmix.sim.wcs import make_wcs_header

__all__ = [
    "DEFAULT_DEPTHS",
    "DEFAULT_PSF_FWHM",
    "SimulatedField",
    "sample_population",
    "simulate_field",
]

#: 5-sigma point-source depths (AB) used by default.
DEFAULT_DEPTHS = {"u": 24.0, "g": 25.3, "r": 25.0, "i": 24.6, "z": 24.0, "y": 23.6}
#: PSF FWHM (arcsec) per band used by default (seeing improves to the red).
DEFAULT_PSF_FWHM = {"u": 1.05, "g": 0.95, "r": 0.85, "i": 0.8, "z": 0.78, "y": 0.75}


@dataclasses.dataclass
class SimulatedField:
    """A simulated multi-band field and its truth.

    Attributes
    ----------
    bands : list of str
    images : dict band -> ndarray
        Flux per pixel in image units (``zeropoints[band]`` AB).
    noise_sigma : dict band -> float
        Gaussian noise standard deviation per pixel.
    headers : dict band -> astropy.io.fits.Header
        FITS WCS of each band.
    psf_specs : dict band -> dict
        ``{"model": ..., "fwhm": ..., "beta": ...}`` as in the pipeline config.
    zeropoints : dict band -> float
    truth : astropy.table.Table
        One row per object; positions ``x``, ``y`` are 0-based pixels of the
        reference band, ``ra``/``dec`` degrees.
    reference_band : str
    """

    bands: list[str]
    images: dict[str, np.ndarray]
    noise_sigma: dict[str, float]
    headers: dict[str, Any]
    psf_specs: dict[str, dict[str, Any]]
    zeropoints: dict[str, float]
    truth: Any
    reference_band: str
    seed: int = 0

    def wcs(self, band: str) -> WCS:
        """The :class:`~galmix.geometry.WCS` of ``band``."""
        return WCS.from_fits(self.headers[band])

    def observation(self, band: str) -> Any:
        """The whole image of ``band`` as an :class:`~galmix.image.Observation`.

        Its Jacobian is the local one at the image centre; the PSF is a
        centred image observation.
        """
        from galmix.image import Observation
        from galmix.sim.psf import psf_observation

        img = self.images[band]
        ny, nx = img.shape
        jac = self.wcs(band).jacobian((nx - 1) / 2, (ny - 1) / 2)
        psf = psf_observation(_psf_from_spec(self.psf_specs[band]), jac)
        w = np.full(img.shape, 1.0 / self.noise_sigma[band] ** 2)
        return Observation(img, weight=w, jacobian=jac, psf=psf, meta={"band": band})

    def write(
        self,
        directory: str | Path,
        reference_fraction: float = 0.5,
        config_overrides: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write FITS images, weights, PSF images, truth, a reference catalog and a config.

        The reference catalog (CSV, like a spectroscopic catalog) holds a
        random ``reference_fraction`` of the galaxies and stars with ``z`` and
        ``class``; it is the photo-z training set.

        Returns
        -------
        Path
            The written ``config.yaml``.
        """
        import yaml
        from astropy.io import fits

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        bands_cfg: dict[str, Any] = {}
        for b in self.bands:
            hdr = self.headers[b].copy()
            hdr["BUNIT"] = "flux"
            hdr["MAGZERO"] = (self.zeropoints[b], "AB zero point")
            hdr["FILTER"] = b
            fits.PrimaryHDU(self.images[b].astype(np.float32), header=hdr).writeto(
                d / f"image-{b}.fits", overwrite=True
            )
            w = np.full(self.images[b].shape, 1.0 / self.noise_sigma[b] ** 2, dtype=np.float32)
            fits.PrimaryHDU(w, header=hdr).writeto(d / f"weight-{b}.fits", overwrite=True)
            wcs = self.wcs(b)
            ny, nx = self.images[b].shape
            jac = wcs.jacobian((nx - 1) / 2, (ny - 1) / 2)
            pimg = draw_psf_image(_psf_from_spec(self.psf_specs[b]), jac, 41)
            fits.PrimaryHDU(pimg).writeto(d / f"psf-{b}.fits", overwrite=True)
            bands_cfg[b] = {
                "image": f"image-{b}.fits",
                "weight": f"weight-{b}.fits",
                "psf": dict(self.psf_specs[b]),
                "zeropoint": float(self.zeropoints[b]),
            }
        truth = self.truth
        truth.write(d / "truth.parquet", overwrite=True)
        rng = np.random.default_rng([self.seed, 7])
        sel = rng.random(len(truth)) < reference_fraction
        ref = truth[sel]["id", "ra", "dec", "z", "kind"]
        ref.rename_column("kind", "class")
        ref.write(d / "reference.csv", format="ascii.csv", overwrite=True)
        cfg: dict[str, Any] = {
            "output": "output",
            "seed": int(self.seed),
            "bands": bands_cfg,
            "detection": {"band": "coadd", "threshold": 1.5, "minarea": 5},
            "registration": {"method": "interp", "reference": self.reference_band},
            "measurement": {
                "apertures_arcsec": [1.0, 2.0, 3.0],
                "moments": True,
                "fit": {"model": "sersic", "multiband": True},
                "metacal": False,
                "pixel_table": True,
                "stamp_size": 48,
            },
            "reference_catalog": {
                "path": "reference.csv",
                "ra": "ra",
                "dec": "dec",
                "radius_arcsec": 1.0,
                "columns": ["z", "class"],
            },
            "truth": {"path": "truth.parquet", "ra": "ra", "dec": "dec", "radius_arcsec": 1.0},
            "tiles": {"size": 512, "overlap": 64},
            "executor": {"kind": "serial", "workers": 2, "scheduler": None},
            "photoz": {"model": None, "train": True, "target": "z"},
        }
        for k, v in (config_overrides or {}).items():
            if isinstance(v, Mapping) and isinstance(cfg.get(k), dict):
                cfg[k] = {**cfg[k], **v}
            else:
                cfg[k] = v
        path = d / "config.yaml"
        path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg)), sort_keys=False))
        return path


def _psf_from_spec(spec: Mapping[str, Any]) -> Any:
    kind = spec.get("model", "gaussian")
    kw = {k: v for k, v in spec.items() if k in ("fwhm", "beta", "g1", "g2")}
    return make_psf(kind, **kw)


def sample_population(
    n_galaxies: int,
    n_stars: int,
    bands: Sequence[str],
    rng: np.random.Generator,
    reference_band: str = "r",
    mag_range: tuple[float, float] = (17.5, 24.5),
) -> dict[str, np.ndarray]:
    """Draw galaxy and star properties (no positions).

    Galaxies: ``z`` from a Gamma distribution, ``sed_type`` red/blue with a
    red fraction falling with ``z``, reference-band magnitude growing with
    ``z``, half-light radius shrinking with magnitude and ``z``, Sersic ``n``
    (0.1 grid) high for red and low for blue galaxies, intrinsic ellipticity
    (reduced-shear form) with rms 0.2 per component.

    Returns
    -------
    dict
        Column name -> array, ``n_galaxies + n_stars`` rows (galaxies first).
    """
    ng, ns = int(n_galaxies), int(n_stars)
    z = np.clip(rng.gamma(2.2, 0.22, ng), 0.03, 1.6)
    red = rng.random(ng) < np.clip(0.5 - 0.3 * z, 0.1, 0.5)
    t = np.where(red, rng.uniform(0.0, 0.25, ng), rng.uniform(0.35, 1.0, ng))
    mag = np.clip(18.0 + 5.0 * np.sqrt(z) + rng.normal(0.0, 0.8, ng), *mag_range)
    hlr = 0.9 * 10 ** (-0.12 * (mag - 20.0)) / np.sqrt(1.0 + z) * 10 ** rng.normal(0, 0.12, ng)
    hlr = np.where(red, 0.75 * hlr, hlr)
    hlr = np.clip(hlr, 0.15, 2.5)
    n = np.where(red, rng.uniform(2.5, 4.0, ng), rng.uniform(0.7, 1.5, ng))
    n = np.round(n, 1)
    emod = np.clip(np.abs(rng.normal(0.0, 0.2, ng) + 1j * rng.normal(0.0, 0.2, ng)), 0, 0.7)
    ang = rng.uniform(0, np.pi, ng)
    e1, e2 = emod * np.cos(2 * ang), emod * np.sin(2 * ang)
    gm = galaxy_magnitudes(z, t, mag, bands, reference_band)
    smag = rng.uniform(17.0, 23.0, ns)
    temp = rng.uniform(3500.0, 10000.0, ns)
    sm = star_magnitudes(temp, smag, bands, reference_band)
    out: dict[str, np.ndarray] = {
        "kind": np.array(["galaxy"] * ng + ["star"] * ns),
        "z": np.concatenate([z, np.zeros(ns)]),
        "sed_type": np.concatenate([t, np.full(ns, np.nan)]),
        "temperature": np.concatenate([np.full(ng, np.nan), temp]),
        "hlr": np.concatenate([hlr, np.zeros(ns)]),
        "n": np.concatenate([n, np.full(ns, np.nan)]),
        "e1_int": np.concatenate([e1, np.zeros(ns)]),
        "e2_int": np.concatenate([e2, np.zeros(ns)]),
    }
    for b in bands:
        out[f"mag_{b}"] = np.concatenate([gm[b], sm[b]])
    return out


def _radius_enclosing(n: float, frac: float) -> float:
    """Radius, in half-light radii, inside which a Sersic profile has ``frac`` of its flux."""
    from scipy.special import gammaincinv

    b = gammaincinv(2.0 * n, 0.5)
    return float((gammaincinv(2.0 * n, frac) / b) ** n)


def _render_band(args: tuple) -> np.ndarray:
    """Render one band (module-level so that process pools can pickle it)."""
    import galsim

    (hdr_str, shape, psf_spec, cols, flux, band_seed, sigma, shear) = args
    from astropy.io import fits

    hdr = fits.Header.fromstring(hdr_str)
    gwcs = galsim.GSFitsWCS(header=hdr)
    awcs = WCS.from_fits(hdr)
    psf = _psf_from_spec(psf_spec)
    ny, nx = shape
    full = galsim.ImageD(nx, ny, xmin=1, ymin=1)
    x, y = awcs.world_to_pixel(cols["ra"], cols["dec"])
    psf_fwhm = float(psf_spec.get("fwhm", 1.0))
    gsp = galsim.GSParams(maximum_fft_size=8192)
    sh = galsim.Shear(g1=shear[0], g2=shear[1])
    for k in range(len(flux)):
        pos = galsim.PositionD(float(x[k]) + 1.0, float(y[k]) + 1.0)
        if not full.bounds.withBorder(64).includes(pos):
            continue
        local = gwcs.local(pos)
        if cols["kind"][k] == "star":
            prof = psf.withFlux(float(flux[k]))
            radius = 6.0 * psf_fwhm
        else:
            hlr = float(cols["hlr"][k])
            gal = galsim.Sersic(float(cols["n"][k]), half_light_radius=hlr, gsparams=gsp)
            gal = gal.shear(g1=float(cols["e1_int"][k]), g2=float(cols["e2_int"][k]))
            gal = gal.shear(sh).withFlux(float(flux[k]))
            prof = galsim.Convolve(gal, psf, gsparams=gsp)
            # stamp half-size: the radius enclosing 99.9 % of the untruncated
            # profile's flux (n = 1: 5.5 hlr, n = 4: 43 hlr), so the image holds
            # the catalogued total flux (capped at 200 px below)
            radius = _radius_enclosing(float(cols["n"][k]), 0.999) * hlr + 2.0 * psf_fwhm
        scale = np.sqrt(abs(local.pixelArea()))
        size = int(min(2 * np.ceil(radius / scale) + 1, 401))
        stamp = prof.drawImage(nx=size, ny=size, wcs=local, center=pos)
        b = stamp.bounds & full.bounds
        if b.isDefined():
            full[b] += stamp[b]
    arr = full.array.astype(np.float64)
    rng = np.random.default_rng(band_seed)
    arr += rng.normal(0.0, sigma, arr.shape)
    return arr


def simulate_field(
    bands: Sequence[str] = ("g", "r", "i", "z"),
    shape: tuple[int, int] = (1000, 1000),
    pixel_scale: float = 0.2,
    n_galaxies: int = 300,
    n_stars: int = 30,
    seed: int = 0,
    reference_band: str | None = None,
    wcs: str = "tan-sip",
    psf_model: str = "moffat",
    psf_fwhm: Mapping[str, float] | None = None,
    psf_beta: float = 3.0,
    shear: tuple[float, float] = (0.02, 0.0),
    zeropoint: float = 30.0,
    depths: Mapping[str, float] | None = None,
    dither: bool = True,
    ra: float = 150.0,
    dec: float = 2.0,
    margin: int = 10,
    workers: int = 1,
) -> SimulatedField:
    """Simulate a multi-band field of galaxies and stars with known truth.

    Parameters
    ----------
    bands : sequence of str
        Band names (last letter one of ``ugrizy``).
    shape : (ny, nx)
        Image shape of every band.
    pixel_scale : float
        Arcsec per pixel.
    n_galaxies, n_stars : int
        Number of objects, placed uniformly at random.
    seed : int
        Seed of everything random (population, positions, dithers, noise).
    reference_band : str, optional
        Band whose WCS is undithered; truth ``x``/``y`` refer to it
        (default: ``"r"`` if present, else the first band).
    wcs : {"tan-sip", "tan"}
        WCS type of every band.
    psf_model : {"moffat", "gaussian", "kolmogorov", "optical"}
    psf_fwhm : dict band -> arcsec, optional
        Default :data:`DEFAULT_PSF_FWHM`.
    shear : (g1, g2)
        Constant reduced shear applied to every galaxy.
    zeropoint : float
        AB zero point of the image units (same in every band).
    depths : dict band -> mag, optional
        5-sigma point-source depth setting the noise level
        (default :data:`DEFAULT_DEPTHS`).
    dither : bool
        Shift (by up to 3 pixels) and rotate (by up to 0.3 degrees) the
        non-reference bands.
    workers : int
        Processes used to render bands in parallel (results do not depend on it).

    Returns
    -------
    SimulatedField

    Examples
    --------
    >>> field = simulate_field(bands=("g", "r"), shape=(64, 64), n_galaxies=3, n_stars=1, seed=1)
    >>> sorted(field.images), len(field.truth)
    (['g', 'r'], 4)
    """
    from astropy.table import Table

    bands = list(bands)
    if not bands:
        raise GalmixValueError("bands must name at least one band")
    for b in bands:
        band_wavelength(b)
    if wcs not in ("tan-sip", "tan"):
        raise GalmixValueError(f"wcs must be 'tan-sip' or 'tan', got {wcs!r}")
    ref = reference_band or ("r" if "r" in bands else bands[0])
    if ref not in bands:
        raise GalmixValueError(f"reference_band must be one of {bands}, got {ref!r}")
    ny, nx = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    fwhm = {**DEFAULT_PSF_FWHM, **(psf_fwhm or {})}
    dep = {**DEFAULT_DEPTHS, **(depths or {})}

    pop = sample_population(n_galaxies, n_stars, bands, rng, ref)
    ntot = len(pop["z"])
    headers: dict[str, Any] = {}
    for b in bands:
        off, rot = (0.0, 0.0), 0.0
        if dither and b != ref:
            off = tuple(rng.uniform(-3.0, 3.0, 2))
            rot = float(rng.uniform(-0.3, 0.3))
        headers[b] = make_wcs_header(
            (ny, nx), pixel_scale, ra, dec, rot, off, sip=(wcs == "tan-sip")
        )
    rwcs = WCS.from_fits(headers[ref])
    x = rng.uniform(margin, nx - 1 - margin, ntot)
    y = rng.uniform(margin, ny - 1 - margin, ntot)
    ra_, dec_ = rwcs.pixel_to_world(x, y)

    psf_specs: dict[str, dict[str, Any]] = {}
    sigmas: dict[str, float] = {}
    jc = rwcs.jacobian((nx - 1) / 2, (ny - 1) / 2)
    for b in bands:
        spec: dict[str, Any] = {"model": psf_model, "fwhm": float(fwhm[b[-1].lower()])}
        if psf_model == "moffat":
            spec["beta"] = float(psf_beta)
        psf_specs[b] = spec
        pimg = draw_psf_image(_psf_from_spec(spec), jc, 41)
        neff = 1.0 / np.sum(pimg**2)
        sigmas[b] = float(mag_to_flux(dep[b[-1].lower()], zeropoint) / (5.0 * np.sqrt(neff)))

    fluxes = {b: mag_to_flux(pop[f"mag_{b}"], zeropoint) for b in bands}
    cols = {
        "ra": ra_,
        "dec": dec_,
        "kind": pop["kind"],
        "hlr": pop["hlr"],
        "n": pop["n"],
        "e1_int": pop["e1_int"],
        "e2_int": pop["e2_int"],
    }
    jobs = [
        (
            headers[b].tostring(),
            (ny, nx),
            psf_specs[b],
            cols,
            fluxes[b],
            [int(seed), 1000 + i],
            sigmas[b],
            tuple(shear),
        )
        for i, b in enumerate(bands)
    ]
    if workers > 1 and len(bands) > 1:
        with ProcessPoolExecutor(max_workers=min(int(workers), len(bands))) as pool:
            arrays = list(pool.map(_render_band, jobs))
    else:
        arrays = [_render_band(j) for j in jobs]
    images = dict(zip(bands, arrays))

    # total (sheared) ellipticity of every galaxy, GalSim shear addition
    g1t = np.zeros(ntot)
    g2t = np.zeros(ntot)
    import galsim

    sh = galsim.Shear(g1=shear[0], g2=shear[1])
    for k in range(ntot):
        if pop["kind"][k] == "galaxy":
            s = galsim.Shear(g1=pop["e1_int"][k], g2=pop["e2_int"][k]) + sh
            g1t[k], g2t[k] = s.g1, s.g2
    truth = Table()
    truth["id"] = np.arange(1, ntot + 1, dtype=np.int64)
    truth["kind"] = pop["kind"]
    truth["is_star"] = pop["kind"] == "star"
    truth["ra"] = ra_
    truth["dec"] = dec_
    truth["x"] = x
    truth["y"] = y
    for c in ("z", "sed_type", "temperature", "hlr", "n", "e1_int", "e2_int"):
        truth[c] = pop[c]
    truth["g1"] = g1t
    truth["g2"] = g2t
    truth["shear_g1"] = np.full(ntot, float(shear[0]))
    truth["shear_g2"] = np.full(ntot, float(shear[1]))
    for b in bands:
        truth[f"mag_{b}"] = pop[f"mag_{b}"]
        truth[f"flux_{b}"] = fluxes[b]
    truth.meta["zeropoint"] = float(zeropoint)
    truth.meta["reference_band"] = ref
    truth.meta["pixel_scale"] = float(pixel_scale)
    return SimulatedField(
        bands=bands,
        images=images,
        noise_sigma=sigmas,
        headers=headers,
        psf_specs=psf_specs,
        zeropoints={b: float(zeropoint) for b in bands},
        truth=truth,
        reference_band=ref,
        seed=int(seed),
    )
