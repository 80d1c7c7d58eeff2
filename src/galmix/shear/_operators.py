"""PSF and target-kernel models in Fourier space (internal to galmix.shear).

Conventions. An image lives on a pixel grid with Jacobian matrix ``J``
(world ``w = J x``). Pixel-frame frequencies ``q`` (radians per pixel)
and world frequencies ``kappa`` (radians per arcsec) are related by
``q = J^T kappa``. A world profile ``f(w)`` sheared by ``A``,
``f'(w) = f(A^{-1} w)``, has transform ``f~'(kappa) = f~(A^T kappa)``; in
the pixel frame of the same grid this is ``q -> B(A) q`` with
``B(A) = J^T A^T J^{-T}``.

All transforms here are normalised to unit flux and centred on the world
origin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.fft

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian, PixelResponse
from galmix.image import Observation
from galmix.shear.kspace import KSpaceImage, box_kvalue, output_frequencies

__all__ = [
    "GMixPSF",
    "ImagePSF",
    "Target",
    "as_gmix_data",
    "psf_model",
]


def _pixel_array(pixel: PixelResponse) -> np.ndarray | None:
    return None if pixel.is_full else pixel.as_array()


def as_gmix_data(obj: Any) -> np.ndarray | None:
    """``(K, 6)`` data of a GMix or profile (``.gmix()``), else ``None``."""
    if hasattr(obj, "gmix") and callable(obj.gmix):
        obj = obj.gmix()
    data = getattr(obj, "data", None)
    if data is None and hasattr(obj, "get_data"):
        data = obj.get_data()
    if data is None:
        return None
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6:
        return None
    return arr


def gmix_kvalue(data: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Unit-flux transform of a Gaussian mixture at world frequencies."""
    total = float(np.sum(data[:, 0]))
    out = np.zeros(np.broadcast(kx, ky).shape, dtype=np.complex128)
    for f, u0, v0, iuu, iuv, ivv in data:
        arg = -0.5 * (iuu * kx * kx + 2.0 * iuv * kx * ky + ivv * ky * ky)
        if u0 == 0.0 and v0 == 0.0:
            out += f * np.exp(arg)
        else:
            out += f * np.exp(arg - 1j * (kx * u0 + ky * v0))
    return out / total


class ImagePSF:
    """A PSF image (including its pixel) as an effective PSF of another grid.

    ``kvalue(q)`` is the unit-flux transform of the PSF convolved with the
    *image's* pixel response, at pixel-frame frequencies ``q`` of the image
    grid (Jacobian ``jacobian``). When the PSF grid has the same matrix
    and pixel response the PSF image is used as is; otherwise its own
    pixel is divided out and the image pixel multiplied in.
    """

    def __init__(self, psf_obs: Observation, jacobian: Jacobian, pixel: PixelResponse) -> None:
        img = np.asarray(psf_obs.image)
        flux = float(np.sum(img))
        if not (math.isfinite(flux) and flux > 0):
            raise GalmixValueError(f"psf image sum must be positive and finite, got {flux!r}")
        self.obs = psf_obs
        self.flux = flux
        self.ks = KSpaceImage(img / flux, psf_obs.jacobian.origin)
        jm = jacobian.matrix
        self.jinv_t = np.linalg.inv(jm).T
        self.q_to_psf = psf_obs.jacobian.matrix.T @ self.jinv_t  # image q -> PSF q
        self.same = float(np.max(np.abs(self.q_to_psf - np.eye(2)))) <= 1e-12 and (
            psf_obs.pixel == pixel
        )
        self.img_pixel = _pixel_array(pixel)
        self.psf_pixel = _pixel_array(psf_obs.pixel)

    def kvalue(self, q: np.ndarray) -> np.ndarray:
        """Effective PSF transform at image pixel-frame frequencies ``q`` (2, n)."""
        if self.same:
            return self.ks.evaluate(q)[0]
        qp = self.q_to_psf @ q
        val = self.ks.evaluate(qp)[0]
        bp = box_kvalue(qp[0], qp[1], self.psf_pixel)
        bi = box_kvalue(q[0], q[1], self.img_pixel)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(bp) > 1e-3, val * bi / bp, 0.0)

    def sizing_samples(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """``(q, |psi_eff(q)|)`` on the PSF's own 2x-padded FFT grid (no interpolation).

        ``q`` are image-grid frequencies; the zero frequency is excluded.
        """
        img = np.asarray(self.obs.image) / self.flux
        ny, nx = img.shape
        spec = np.abs(scipy.fft.rfft2(img, s=(2 * ny, 2 * nx), workers=1))
        qp = output_frequencies((2 * ny, 2 * nx)).reshape(2, -1)[:, 1:]
        val = spec.reshape(-1)[1:]
        q = np.linalg.solve(self.q_to_psf, qp)
        if not self.same:
            bp = np.abs(box_kvalue(qp[0], qp[1], self.psf_pixel))
            bi = np.abs(box_kvalue(q[0], q[1], self.img_pixel))
            val = np.where(bp > 1e-3, val * bi / np.maximum(bp, 1e-3), 0.0)
        return q, val

    def prepixel_world_kvalue(self, kappa: np.ndarray) -> np.ndarray:
        """Transform of the PSF with its own pixel divided out, at world ``kappa``."""
        qp = self.obs.jacobian.matrix.T @ kappa
        val = self.ks.evaluate(qp)[0]
        bp = box_kvalue(qp[0], qp[1], self.psf_pixel)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(bp) > 1e-3, val / bp, 0.0)


class GMixPSF:
    """An analytic (pre-pixel) PSF mixture as an effective PSF of an image grid."""

    def __init__(self, data: np.ndarray, jacobian: Jacobian, pixel: PixelResponse) -> None:
        total = float(np.sum(data[:, 0]))
        if not (math.isfinite(total) and total > 0):
            raise GalmixValueError(f"psf mixture flux must be positive, got {total!r}")
        self.data = np.array(data, dtype=np.float64)
        self.jinv_t = np.linalg.inv(jacobian.matrix).T
        self.img_pixel = _pixel_array(pixel)

    def kvalue(self, q: np.ndarray) -> np.ndarray:
        kap = self.jinv_t @ q
        return gmix_kvalue(self.data, kap[0], kap[1]) * box_kvalue(q[0], q[1], self.img_pixel)

    def prepixel_world_kvalue(self, kappa: np.ndarray) -> np.ndarray:
        return gmix_kvalue(self.data, kappa[0], kappa[1])

    def sizing_samples(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """``(q, |psi_eff(q)|)`` on a 2x-oversampled grid of the image zone."""
        q = output_frequencies((2 * shape[0], 2 * shape[1])).reshape(2, -1)[:, 1:]
        return q, np.abs(self.kvalue(q))


def psf_model(psf: Any, jacobian: Jacobian, pixel: PixelResponse) -> ImagePSF | GMixPSF:
    """Effective-PSF model for ``obs.psf`` (an Observation or a GMix/profile)."""
    if psf is None:
        raise GalmixValueError("obs.psf is None: metacalibration needs the PSF")
    if isinstance(psf, Observation):
        return ImagePSF(psf, jacobian, pixel)
    data = as_gmix_data(psf)
    if data is None:
        raise GalmixTypeError(
            f"psf must be an Observation or a GMix/profile, got {type(psf).__name__}"
        )
    return GMixPSF(data, jacobian, pixel)


class Target:
    """A reconvolution kernel: a unit-flux world profile known in Fourier space.

    The kernel is the continuous (pre-pixel) PSF of the output image; the
    output grid's own pixel response is applied on top when the image is
    made (``kvalue_on_grid``), in that grid's frame, so the result is a
    correctly pixelated image for any Jacobian.
    """

    def __init__(self, world_kvalue, gmix_data: np.ndarray | None = None, name: str = "") -> None:
        self._world_kvalue = world_kvalue
        self.gmix_data = gmix_data
        self.name = name

    @classmethod
    def gaussian(cls, sigma: float) -> Target:
        s2 = float(sigma) ** 2
        data = np.array([[1.0, 0.0, 0.0, s2, 0.0, s2]])
        return cls(lambda kap: np.exp(-0.5 * s2 * (kap[0] ** 2 + kap[1] ** 2)), data, "gauss")

    @classmethod
    def from_gmix(cls, data: np.ndarray) -> Target:
        data = np.array(data, dtype=np.float64)
        return cls(lambda kap: gmix_kvalue(data, kap[0], kap[1]), data, "gmix")

    def world_kvalue(self, kappa: np.ndarray) -> np.ndarray:
        return self._world_kvalue(kappa)

    def kvalue_on_grid(
        self, q: np.ndarray, jacobian_matrix: np.ndarray, pixel, with_pixel: bool = True
    ) -> np.ndarray:
        """Kernel (convolved with the grid's pixel if ``with_pixel``) at grid frequencies ``q``."""
        kap = np.linalg.inv(jacobian_matrix).T @ q
        val = self.world_kvalue(kap)
        if with_pixel:
            val = val * box_kvalue(q[0], q[1], pixel)
        return val

    def dilated(self, factor: float) -> Target:
        f = float(factor)
        data = None
        if self.gmix_data is not None:
            data = self.gmix_data.copy()
            data[:, 1:3] *= f
            data[:, 3:6] *= f * f
        return Target(lambda kap: self._world_kvalue(kap * f), data, self.name + "-dilated")

    def draw(
        self,
        jacobian: Jacobian,
        shape: tuple[int, int],
        pixel: PixelResponse,
        with_pixel: bool = True,
    ) -> np.ndarray:
        """Image (unit sum) of the kernel centred on ``jacobian``'s origin.

        With ``with_pixel`` the kernel is integrated over the pixels, else
        sampled at the pixel centres (times the pixel area).
        """
        d = self.gmix_data
        if d is not None and not with_pixel and np.all(d[:, 3] * d[:, 5] - d[:, 4] ** 2 > 0):
            # samples of the mixture at the pixel centres times the pixel area
            ny, nx = shape
            x = np.arange(nx) - jacobian.x0
            y = np.arange(ny) - jacobian.y0
            m = jacobian.matrix
            u = m[0, 0] * x[None, :] + m[0, 1] * y[:, None]
            v = m[1, 0] * x[None, :] + m[1, 1] * y[:, None]
            img = np.zeros(shape)
            total = float(np.sum(self.gmix_data[:, 0]))
            for f, u0, v0, iuu, iuv, ivv in self.gmix_data:
                det = iuu * ivv - iuv * iuv
                du, dv = u - u0, v - v0
                chi2 = (ivv * du * du - 2.0 * iuv * du * dv + iuu * dv * dv) / det
                img += f / (2.0 * math.pi * math.sqrt(det)) * np.exp(-0.5 * chi2)
            return img * (abs(jacobian.det) / total)
        kk = output_frequencies(shape)
        q = kk.reshape(2, -1)
        val = self.kvalue_on_grid(q, jacobian.matrix, _pixel_array(pixel), with_pixel)
        val = val.reshape(kk.shape[1:])
        val = val * np.exp(-1j * (kk[0] * jacobian.x0 + kk[1] * jacobian.y0))
        import scipy.fft

        return scipy.fft.irfft2(val, s=shape, workers=1)
