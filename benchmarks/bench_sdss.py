"""SDSS data access benchmarks: sky interpolation, frame reading, loopback downloads.

Run: ``python benchmarks/bench_sdss.py`` (about a minute). Prints a Markdown
table; references are run side by side in the same process:

- sky interpolation (192x256 grid -> 1489x2048 frame): galmix
  ``interpolate_sky`` vs scipy ``ndimage.map_coordinates(order=1,
  mode="nearest")`` and ``RegularGridInterpolator`` (same numbers), and the
  seed's per-pixel interpolator loop (timed on 20 000 pixels, scaled up);
- ``read_frame`` on a full-size bzip2 frame (decompression + weight) vs
  astropy ``fits.open`` + reading the HDUs alone;
- downloading 24 files of 3 MB from a loopback HTTP server: galmix
  ``download`` with 1 and 4 workers vs a sequential ``urllib.request.urlretrieve``
  loop (the seed's approach).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import scipy
    from astropy.io import fits
    from scipy.interpolate import RectBivariateSpline, RegularGridInterpolator
    from scipy.ndimage import map_coordinates

    from galmix.image.calibration import interpolate_sky
    from galmix.sdss import DownloadItem, download, read_frame
    from galmix.sdss.synthetic import write_synthetic_frame

    rows = []
    rng = np.random.default_rng(0)
    grid = rng.uniform(100, 140, (192, 256))
    xi = (np.arange(2048) - 3.5) / 8
    yi = (np.arange(1489) + 16 - 3.5) / 8

    t_g = best_of(lambda: interpolate_sky(grid, xi, yi))
    yy, xx = np.meshgrid(yi, xi, indexing="ij")
    t_mc = best_of(lambda: map_coordinates(grid, [yy.ravel(), xx.ravel()], order=1, mode="nearest"))
    rgi = RegularGridInterpolator((np.arange(192.0), np.arange(256.0)), grid, method="linear")

    def _rgi():
        pts = np.stack([np.clip(yy, 0, 191).ravel(), np.clip(xx, 0, 255).ravel()], axis=-1)
        return rgi(pts)

    t_rgi = best_of(_rgi)
    ref = map_coordinates(grid, [yy.ravel(), xx.ravel()], order=1, mode="nearest").reshape(yy.shape)
    maxdiff = float(np.max(np.abs(interpolate_sky(grid, xi, yi) - ref)))
    # the seed: one interpolator call per pixel in a Python loop (cubic interp2d, removed from
    # SciPy 1.14; RectBivariateSpline cubic is its replacement)
    spl = RectBivariateSpline(np.arange(192.0), np.arange(256.0), grid, kx=3, ky=3)
    npix = 20000
    t0 = time.perf_counter()
    for k in range(npix):
        spl(yi[k % 1489], xi[k % 2048])
    t_seed = (time.perf_counter() - t0) * (1489 * 2048 / npix)
    rows.append(
        (
            "sky grid 192x256 -> 1489x2048 frame",
            "galmix interpolate_sky",
            t_g,
            f"max |diff| vs scipy {maxdiff:.1e}",
        )
    )
    rows.append(("", "scipy map_coordinates(order=1, nearest)", t_mc, "reference"))
    rows.append(("", "scipy RegularGridInterpolator (linear)", t_rgi, "reference"))
    rows.append(
        ("", "seed: per-pixel interpolator loop (scaled)", t_seed, f"timed on {npix} pixels")
    )

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        truth = write_synthetic_frame(
            d / "frame-r-003813-5-0023.fits.bz2", shape=(1489, 2048), seed=1, nsources=50
        )
        size_mb = truth.path.stat().st_size / 1e6
        t_read = best_of(lambda: read_frame(truth.path), repeat=2)

        def _astropy_only():
            with fits.open(truth.path) as h:
                _ = np.asarray(h[0].data, float), np.asarray(h[1].data), h[2].data[0]["ALLSKY"]

        t_ap = best_of(_astropy_only, repeat=2)
        rows.append(
            (
                f"full frame .fits.bz2 ({size_mb:.1f} MB)",
                "galmix read_frame (image+sky+weight+WCS)",
                t_read,
                "",
            )
        )
        rows.append(("", "astropy fits.open + read HDUs only", t_ap, "reference (no weight)"))

        # loopback downloads
        srv_dir = d / "srv"
        srv_dir.mkdir()
        payload = rng.integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
        names = [f"f{i:02d}.bin" for i in range(24)]
        for n in names:
            (srv_dir / n).write_bytes(payload)

        class Handler(SimpleHTTPRequestHandler):
            latency = 0.0

            def log_message(self, *args):
                pass

            def do_GET(self):
                time.sleep(Handler.latency)  # simulated network round trip
                super().do_GET()

        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(srv_dir)))
        server.daemon_threads = True
        th = threading.Thread(target=server.serve_forever, daemon=True)
        th.start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        total_mb = 24 * len(payload) / 1e6
        for latency in (0.0, 0.2):
            Handler.latency = latency
            case = f"24 x 3 MB from loopback, {latency * 1000:.0f} ms latency/request"
            for workers in (1, 4):
                out = d / f"dl{workers}-{latency}"
                items = [DownloadItem(base + n, out / n) for n in names]
                t0 = time.perf_counter()
                rep = download(items, workers=workers, retries=0)
                t = time.perf_counter() - t0
                assert rep.ok
                rows.append(
                    (
                        case if workers == 1 else "",
                        f"galmix download, {workers} worker(s)",
                        t,
                        f"{total_mb / t:.0f} MB/s",
                    )
                )
            out = d / f"seed-{latency}"
            out.mkdir()
            t0 = time.perf_counter()
            for n in names:
                urllib.request.urlretrieve(base + n, out / n)
            t = time.perf_counter() - t0
            rows.append(("", "seed: sequential urllib urlretrieve", t, f"{total_mb / t:.0f} MB/s"))
        server.shutdown()
        server.server_close()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}"
    )
    print()
    print("| case | code | time (s) | note |")
    print("|---|---|---|---|")
    for case, code, t, note in rows:
        print(f"| {case} | {code} | {t:.4f} | {note} |")


if __name__ == "__main__":
    main()
