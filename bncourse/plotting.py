"""Plotting helpers shared by the chapters (matplotlib; imported on demand, not by ``import bnlib``).

Colours come from the Okabe-Ito palette, which stays distinguishable under the common forms of
colour blindness.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PALETTE", "show_digits"]

#: Okabe & Ito's colour-blind-safe palette, in the order the chapters use it.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)


def show_digits(images, labels=None, ncols=10, title=None, size=1.1):
    """Draw 28x28 grey-scale digits in a grid, each titled with its label.

    Parameters
    ----------
    images : array_like, shape (n, 28, 28) (any (n, H, W) works)
    labels : array_like, shape (n,), optional
    ncols : int
        Digits per row.
    title : str, optional
        A title for the whole figure.
    size : float
        Inches per digit.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, H, W), got {images.shape}")
    n = images.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per image ({n}), got {len(labels)}")
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0))
    )
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=images.max() or 1)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
