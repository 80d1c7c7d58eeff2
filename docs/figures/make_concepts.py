"""Make the figures of docs/concepts.md (run: python docs/figures/make_concepts.py)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from galmix import Jacobian

HERE = Path(__file__).parent


def pixel_grid(ax):
    ny, nx = 3, 4
    for j in range(ny):
        for i in range(nx):
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, lw=1))
            ax.plot(i, j, "k.", ms=4)
            ax.text(i, j + 0.18, f"[{j},{i}]", ha="center", fontsize=7, color="0.3")
    ax.annotate("", xy=(1.2, -0.9), xytext=(-0.5, -0.9), arrowprops={"arrowstyle": "->"})
    ax.text(1.25, -0.95, "x (column, i)", fontsize=8, va="center")
    ax.annotate("", xy=(-0.9, 1.2), xytext=(-0.9, -0.5), arrowprops={"arrowstyle": "->"})
    ax.text(-0.95, 1.3, "y (row, j)", fontsize=8, rotation=90, ha="center")
    ax.set_xlim(-1.2, nx)
    ax.set_ylim(-1.2, ny)
    ax.set_aspect("equal")
    ax.set_title("pixel grid: array[y, x], centres at integers", fontsize=9)
    ax.axis("off")


def world_frame(ax, jac, title):
    for j in range(-1, 2):
        for i in range(-1, 2):
            corners = np.array(
                [
                    [i - 0.5, j - 0.5],
                    [i + 0.5, j - 0.5],
                    [i + 0.5, j + 0.5],
                    [i - 0.5, j + 0.5],
                    [i - 0.5, j - 0.5],
                ]
            )
            u, v = jac.to_world(corners[:, 0], corners[:, 1])
            ax.plot(u, v, "k-", lw=0.8)
    ux, vx = jac.to_world(1.0, 0.0)
    uy, vy = jac.to_world(0.0, 1.0)
    ax.annotate("", xy=(ux, vx), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "C0"})
    ax.annotate("", xy=(uy, vy), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "C3"})
    ax.text(ux, vx, " +x", color="C0", fontsize=8)
    ax.text(uy, vy, " +y", color="C3", fontsize=8)
    ax.set_xlabel("u [arcsec] (west)", fontsize=8)
    ax.set_ylabel("v [arcsec] (north)", fontsize=8)
    ax.set_aspect("equal")
    ax.set_title(f"{title}\ndet = {jac.det:+.3f}", fontsize=9)
    ax.tick_params(labelsize=7)
    lim = 0.45
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)


def main():
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    pixel_grid(axes[0])
    world_frame(axes[1], Jacobian.from_scale(0.2), 'square pixels, 0.2"')
    world_frame(
        axes[2],
        Jacobian(0.18, 0.0, 0.0, 0.22).compose(
            Jacobian(np.cos(0.4), -np.sin(0.4), np.sin(0.4), np.cos(0.4))
        ),
        "sheared + rotated",
    )
    world_frame(axes[3], Jacobian(-0.2, 0.0, 0.0, 0.2), "flipped (east right)")
    fig.tight_layout()
    fig.savefig(HERE / "conventions.png", dpi=110)


if __name__ == "__main__":
    main()
