"""Detection, segmentation, deblending and aperture photometry (SExtractor algorithms via ``sep``).

Examples
--------
>>> import numpy as np
>>> from galmix.detect import detect, photometry
>>> rng = np.random.default_rng(3)
>>> yy, xx = np.mgrid[0:80, 0:80]
>>> img = 100 + 400 * np.exp(-((xx - 40.0) ** 2 + (yy - 25.0) ** 2) / 6.0)
>>> img = img + rng.normal(0.0, 1.0, img.shape)
>>> det = detect(img, threshold=5.0)
>>> phot = photometry(det.image, det.variance, det.catalog, det.segmentation)
>>> bool(abs(phot["flux_auto"][0] / (400 * np.pi * 6.0) - 1) < 0.03)
True
"""

from galmix.detect.background import Background, estimate_background
from galmix.detect.detection import Detections, detect, gaussian_kernel, sep_flags_to_galmix
from galmix.detect.fitsimage import FitsImage, read_image
from galmix.detect.photometry import photometry

__all__ = [
    "Background",
    "Detections",
    "FitsImage",
    "detect",
    "estimate_background",
    "gaussian_kernel",
    "photometry",
    "read_image",
    "sep_flags_to_galmix",
]
