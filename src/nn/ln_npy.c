/*
 * The .npy writer (see ln_npy.h). Data go straight from the caller's array
 * to the file in large writes, without a copy, through a temporary file
 * that is renamed over the target only once everything is on disk.
 */
#include "ln_npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"

size_t ln_npy_header_f32(const size_t *shape, int ndim, char *buf, size_t cap)
{
    if (ndim < 0 || ndim > LN_NPY_MAX_DIMS || cap < 128)
        return 0;
    char dims[LN_NPY_MAX_DIMS * 24 + 8];
    size_t d = 0;
    dims[0] = 0;
    for (int i = 0; i < ndim; i++)
        d += (size_t)snprintf(dims + d, sizeof dims - d, "%s%zu", i ? ", " : "", shape[i]);
    /* A one-element tuple needs its trailing comma. */
    if (ndim == 1)
        snprintf(dims + d, sizeof dims - d, ",");
    char dict[sizeof dims + 96];
    const int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                           dims);
    if (n < 0 || (size_t)n >= sizeof dict)
        return 0;
    /* magic (6) + version (2) + length (2) + dict + padding + '\n'. */
    const size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535)
        return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

static int ln__host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* The floats in little-endian order, converting through a small buffer on
 * big-endian hosts. */
static int ln__write_floats(struct ln_file_atomic *a, const float *data, size_t n,
                            struct ln_error *err)
{
    if (ln__host_is_little_endian())
        return ln_file_atomic_write(a, data, n * sizeof(float), err);
    uint8_t buf[4096];
    while (n > 0) {
        const size_t m = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, data + i, 4);
            for (int b = 0; b < 4; b++)
                buf[i * 4 + (size_t)b] = (uint8_t)(u >> (8 * b));
        }
        int rc = ln_file_atomic_write(a, buf, m * 4, err);
        if (rc < 0)
            return rc;
        data += m;
        n -= m;
    }
    return 0;
}

int ln_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim,
                     struct ln_error *err)
{
    char header[1024];
    const size_t hlen = ln_npy_header_f32(shape, ndim, header, sizeof header);
    if (hlen == 0)
        return ln_error_set(err, LN_EINVAL, "%s: cannot describe a %d-dimensional array", path,
                            ndim);
    size_t count = 1, bytes;
    for (int i = 0; i < ndim; i++)
        if (ln_size_mul(count, shape[i], &count) < 0 || ln_size_mul(count, sizeof(float), &bytes) < 0)
            return ln_error_set(err, LN_ETOOBIG, "%s: array too large", path);
    struct ln_file_atomic a;
    int rc = ln_file_atomic_open(&a, path, err);
    if (rc < 0)
        return rc;
    if ((rc = ln_file_atomic_write(&a, header, hlen, err)) < 0 ||
        (rc = ln__write_floats(&a, data, count, err)) < 0) {
        ln_file_atomic_abort(&a);
        return rc;
    }
    return ln_file_atomic_commit(&a, err);
}
