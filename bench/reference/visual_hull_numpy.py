#!/usr/bin/env python3
"""Reference for the multi-view benchmark: a straightforward NumPy visual
hull of the same synthetic box (tools/ln_synth.h) from 4 orthographic views
around the vertical axis, on the same grid. It builds the silhouettes at the
benchmark's image size, projects every voxel centre into every view, and
ANDs the mask lookups: what a short Python implementation would do.

usage: visual_hull_numpy.py IMAGE_SIZE GRID
"""
import sys
import time

import numpy as np


def silhouette(az_deg, size, window=1.25, half=(0.35, 0.25, 0.2)):
    """Mask of the box seen from azimuth az (orthographic, elevation 0)."""
    az = np.radians(az_deg)
    right = np.array([np.cos(az), 0.0, -np.sin(az)])
    # Projected half-width of a box onto the right vector; height is half[1].
    hw = abs(right[0]) * half[0] + abs(right[2]) * half[2]
    c = (np.arange(size) + 0.5) / size
    x = (c - 0.5) * window
    y = (0.5 - c) * window
    return (np.abs(y)[:, None] <= half[1]) & (np.abs(x)[None, :] <= hw)


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    grid = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    window = 1.25
    views = [0.0, 90.0, 180.0, 270.0]
    masks = [silhouette(a, size) for a in views]
    t0 = time.perf_counter()
    lin = ((np.arange(grid) + 0.5) / grid - 0.5) * window
    X, Y, Z = np.meshgrid(lin, lin, lin, indexing="ij")
    occ = np.ones(X.shape, dtype=bool)
    for az_deg, mask in zip(views, masks):
        az = np.radians(az_deg)
        u = X * np.cos(az) - Z * np.sin(az)
        px = np.clip(((u / window + 0.5) * size).astype(np.int64), 0, size - 1)
        py = np.clip(((0.5 - Y / window) * size).astype(np.int64), 0, size - 1)
        occ &= mask[py, px]
    t1 = time.perf_counter()
    print(f"  numpy visual hull: {t1 - t0:.3f} s ({int(occ.sum())} voxels inside)")


if __name__ == "__main__":
    main()
