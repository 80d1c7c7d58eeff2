"""Rendering of Gaussian mixtures: pixel sampling and exact pixel integration.

Examples
--------
>>> from galmix.geometry import Jacobian
>>> from galmix.profiles import Gaussian
>>> from galmix.render import draw
>>> im = draw(Gaussian(1.0, sigma=1.0), Jacobian.from_scale(0.5, x0=10, y0=10), (21, 21))
>>> im.shape
(21, 21)
"""

from galmix.render.draw import METHODS, as_gmix_data, draw, draw_batch, draw_scene

__all__ = ["METHODS", "as_gmix_data", "draw", "draw_batch", "draw_scene"]
