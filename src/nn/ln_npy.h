/*
 * NumPy .npy files (format version 1.0) for float32 arrays, so that
 * intermediate tensors (scene codes, density grids) can be inspected and
 * compared with numpy.load. The header is the magic "\x93NUMPY", version
 * 1.0, a little-endian u16 length and a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (...), } padded with
 * spaces to a 64-byte boundary and ended by a newline; the data follow in
 * C order, little-endian.
 *
 *     size_t shape[3] = {R, R, R};
 *     if (ln_npy_write_f32("density.npy", grid, shape, 3, &err) < 0) ...
 *
 * The file is replaced atomically (temporary file in the same folder,
 * fsync, rename, fsync of the folder). Reentrant.
 */
#ifndef LN_NPY_H
#define LN_NPY_H

#include <stddef.h>

#include "ln_error.h"

#define LN_NPY_MAX_DIMS 8

/* Writes data (the product of shape[0..ndim) floats) to path. Errors:
 * LN_EINVAL for a bad shape, LN_EIO when the file cannot be written (the
 * message names it), LN_ETOOBIG when the size overflows. */
int ln_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
                     struct ln_error *err);

/* The header for such a file into buf (cap bytes); returns its length
 * (a multiple of 64), or 0 when it does not fit or the shape is bad. */
size_t ln_npy_header_f32(const size_t *shape, int ndim, char *buf, size_t cap);

#endif
