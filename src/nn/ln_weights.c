/*
 * Weight files: mapping, format detection, the tensor table and float32
 * views. The file is memory-mapped read-only and tensors point into the
 * mapping, so a 1.7 GB checkpoint costs no copy and no load time; only
 * tensors that are not contiguous float32 get a converted copy, made on
 * first request and owned by the weights. The format readers live in
 * ln_weights_zip.c, ln_weights_pickle.c and ln_weights_safetensors.c and
 * add tensors through ln__weights_add, which checks every tensor against
 * its storage before anything can read it.
 */
#include "ln_weights_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

/* The first bytes of a legacy (pre-1.6) torch.save stream: PROTO 2, then
 * LONG1 of 10 bytes holding the magic number 0x1950a86a20f9469cfc6c. */
static const uint8_t ln__legacy_magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                           0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

int ln__weights_fail(const struct ln_weights *w, struct ln_error *err, const char *fmt, ...)
{
    char what[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ln_error_set(err, LN_EMODEL, "%s: %s", w->name, what);
}

const char *ln_dtype_name(enum ln_dtype dt)
{
    switch (dt) {
    case LN_DTYPE_F32:
        return "float32";
    case LN_DTYPE_F16:
        return "float16";
    case LN_DTYPE_BF16:
        return "bfloat16";
    case LN_DTYPE_F64:
        return "float64";
    case LN_DTYPE_I64:
        return "int64";
    case LN_DTYPE_I32:
        return "int32";
    case LN_DTYPE_I16:
        return "int16";
    case LN_DTYPE_I8:
        return "int8";
    case LN_DTYPE_U8:
        return "uint8";
    case LN_DTYPE_BOOL:
        return "bool";
    }
    return "unknown";
}

size_t ln_dtype_size(enum ln_dtype dt)
{
    switch (dt) {
    case LN_DTYPE_F64:
    case LN_DTYPE_I64:
        return 8;
    case LN_DTYPE_F32:
    case LN_DTYPE_I32:
        return 4;
    case LN_DTYPE_F16:
    case LN_DTYPE_BF16:
    case LN_DTYPE_I16:
        return 2;
    case LN_DTYPE_I8:
    case LN_DTYPE_U8:
    case LN_DTYPE_BOOL:
        return 1;
    }
    return 0;
}

int ln__weights_add(struct ln_weights *w, const struct ln_tensor_info *t, const char *name,
                    size_t name_len, struct ln_error *err)
{
    if (memchr(name, 0, name_len))
        return ln__weights_fail(w, err, "a tensor name contains a NUL byte");
    if (name_len == 0)
        return ln__weights_fail(w, err, "a tensor has an empty name");
    const int shown = name_len > 120 ? 120 : (int)name_len;
    if (t->ndim < 0 || t->ndim > LN_TENSOR_MAX_DIMS)
        return ln__weights_fail(w, err, "tensor %.*s has %d dimensions (at most %d supported)",
                                shown, name, t->ndim, LN_TENSOR_MAX_DIMS);
    const int64_t esize = (int64_t)ln_dtype_size(t->dtype);
    if (esize == 0)
        return ln__weights_fail(w, err, "tensor %.*s has an unknown dtype", shown, name);
    if (t->offset < 0)
        return ln__weights_fail(w, err, "tensor %.*s has a negative storage offset", shown, name);

    /* numel and the furthest element index, both bounded by the tensor size
     * limit so that no product below can overflow int64. */
    const int64_t max_elems = LN__WEIGHTS_MAX_TENSOR_BYTES / esize;
    int64_t numel = 1, last = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || t->strides[d] < 0)
            return ln__weights_fail(w, err, "tensor %.*s has a negative size or stride", shown,
                                    name);
        if (t->shape[d] == 0) {
            numel = 0;
            continue;
        }
        if (numel != 0 && t->shape[d] > max_elems / numel)
            return ln__weights_fail(w, err, "tensor %.*s is too large", shown, name);
        if (numel != 0)
            numel *= t->shape[d];
        if (t->strides[d] > max_elems ||
            t->shape[d] - 1 > max_elems / (t->strides[d] ? t->strides[d] : 1))
            return ln__weights_fail(w, err, "tensor %.*s has a stride out of range", shown, name);
        last += (t->shape[d] - 1) * t->strides[d];
        if (last > max_elems)
            return ln__weights_fail(w, err, "tensor %.*s lies outside its storage", shown, name);
    }
    if (numel > 0 && (uint64_t)((last + 1) * esize) > (uint64_t)t->storage_bytes)
        return ln__weights_fail(w, err,
                                "tensor %.*s lies outside its storage (needs %lld bytes, storage "
                                "has %zu)",
                                shown, name, (long long)((last + 1) * esize), t->storage_bytes);

    int contiguous = 1;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0 && numel > 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect)
            contiguous = 0;
        expect *= t->shape[d];
    }

    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? 2 * w->cap_tensors : 64;
        w->tensors = ln_xrealloc(w->tensors, w->cap_tensors * sizeof *w->tensors);
    }
    struct ln_tensor_info *dst = &w->tensors[w->n_tensors++];
    *dst = *t;
    char *copy = ln_xmalloc(name_len + 1);
    memcpy(copy, name, name_len);
    copy[name_len] = 0;
    dst->name = copy;
    dst->contiguous = contiguous;
    return 0;
}

static int ln__cmp_by_name(const void *a, const void *b)
{
    const struct ln_tensor_info *ta = *(const struct ln_tensor_info *const *)a;
    const struct ln_tensor_info *tb = *(const struct ln_tensor_info *const *)b;
    return strcmp(ta->name, tb->name);
}

/* Builds the name index; a name that occurs twice is an error. */
static int ln__weights_index(struct ln_weights *w, struct ln_error *err)
{
    w->by_name = ln_xmalloc((w->n_tensors ? w->n_tensors : 1) * sizeof *w->by_name);
    for (size_t i = 0; i < w->n_tensors; i++)
        w->by_name[i] = &w->tensors[i];
    qsort(w->by_name, w->n_tensors, sizeof *w->by_name, ln__cmp_by_name);
    for (size_t i = 1; i < w->n_tensors; i++) {
        if (strcmp(w->by_name[i - 1]->name, w->by_name[i]->name) == 0)
            return ln__weights_fail(w, err, "tensor %.120s occurs twice", w->by_name[i]->name);
    }
    w->converted = ln_xcalloc(w->n_tensors ? w->n_tensors : 1, sizeof *w->converted);
    return 0;
}

static int ln__starts_zip(const uint8_t *d, size_t n)
{
    return n >= 4 && d[0] == 'P' && d[1] == 'K' &&
           ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6));
}

/* An end-of-central-directory record near the end: an archive with data in
 * front of it, or with a damaged first header. */
static int ln__ends_zip(const uint8_t *d, size_t n)
{
    if (n < 22)
        return 0;
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;)
        if (d[p] == 'P' && d[p + 1] == 'K' && d[p + 2] == 5 && d[p + 3] == 6)
            return 1;
    return 0;
}

static int ln__detect_and_load(struct ln_weights *w, struct ln_error *err)
{
    const uint8_t *d = w->data;
    const size_t n = w->len;
    if (n == 0)
        return ln__weights_fail(w, err, "empty file, not a weight file");
    /* Zip by its first bytes, then safetensors by its header, then a bare
     * pickle, and only then the end-of-archive scan, which random tensor
     * data could fool. */
    if (ln__starts_zip(d, n)) {
        w->format = LN_WEIGHTS_FORMAT_TORCH_ZIP;
        return ln__weights_load_torch_zip(w, err);
    }
    if (n >= 9 && d[8] == '{') {
        w->format = LN_WEIGHTS_FORMAT_SAFETENSORS;
        return ln__weights_load_safetensors(w, err);
    }
    if (n >= 2 && d[0] == 0x80 && d[1] <= 5) {
        size_t scan = n < 32 ? n : 32;
        for (size_t i = 2; i + sizeof ln__legacy_magic <= scan; i++)
            if (memcmp(d + i, ln__legacy_magic, sizeof ln__legacy_magic) == 0)
                return ln__weights_fail(
                    w, err,
                    "legacy PyTorch checkpoint format (torch < 1.6) is not supported; re-save "
                    "it with a current torch.save or convert it to safetensors");
        return ln__weights_fail(w, err,
                                "a bare pickle stream, not a torch.save zip checkpoint or "
                                "safetensors file");
    }
    if (ln__ends_zip(d, n)) {
        w->format = LN_WEIGHTS_FORMAT_TORCH_ZIP;
        return ln__weights_load_torch_zip(w, err);
    }
    if (n >= 8) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = (hlen << 8) | d[i];
        if (hlen > 0 && hlen <= n - 8 && hlen < ((uint64_t)1 << 30)) {
            w->format = LN_WEIGHTS_FORMAT_SAFETENSORS;
            return ln__weights_load_safetensors(w, err);
        }
    }
    return ln__weights_fail(w, err,
                            "not a weight file (neither a PyTorch zip checkpoint nor "
                            "safetensors)");
}

static struct ln_weights *ln__weights_new(const char *name)
{
    struct ln_weights *w = ln_xcalloc(1, sizeof *w);
    w->name = ln_xstrdup(name ? name : "<memory>");
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

static int ln__weights_finish(struct ln_weights *w, struct ln_weights **out, struct ln_error *err)
{
    int rc = ln__detect_and_load(w, err);
    if (rc == 0)
        rc = ln__weights_index(w, err);
    if (rc < 0) {
        ln_weights_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

int ln_weights_open_memory(const void *data, size_t len, const char *name, struct ln_weights **out,
                           struct ln_error *err)
{
    *out = NULL;
    struct ln_weights *w = ln__weights_new(name);
    w->data = data;
    w->len = data ? len : 0;
    return ln__weights_finish(w, out, err);
}

int ln_weights_open(const char *path, struct ln_weights **out, struct ln_error *err)
{
    *out = NULL;
    struct ln_map map;
    struct ln_error merr = {0};
    int rc = ln_map_file(&map, path, &merr);
    if (rc == LN_ENOTFOUND)
        return ln_error_set(err, LN_ENOTFOUND, "%s: no such file", path);
    if (rc == LN_EUNUSABLE)
        return ln_error_set(err, LN_EMODEL, "%s: not a regular file", path);
    if (rc == LN_ETOOBIG)
        return ln_error_set(err, LN_EMODEL, "%s: file too large to map", path);
    if (rc < 0)
        return ln_error_set(err, LN_EMODEL, "%s", merr.message);
    struct ln_weights *w = ln__weights_new(path);
    w->map = map;
    w->data = map.data;
    w->len = (size_t)map.size;
    return ln__weights_finish(w, out, err);
}

void ln_weights_release(const struct ln_weights *w, const void *p, size_t bytes)
{
    ln_map_release(&w->map, p, bytes);
}

void ln_weights_close(struct ln_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_tensors; i++) {
        free((char *)w->tensors[i].name);
        if (w->converted)
            free(w->converted[i]);
    }
    free(w->converted);
    free(w->tensors);
    free(w->by_name);
    ln_unmap(&w->map);
    pthread_mutex_destroy(&w->lock);
    free(w->name);
    free(w);
}

enum ln_weights_format ln_weights_format(const struct ln_weights *w)
{
    return w->format;
}

size_t ln_weights_count(const struct ln_weights *w)
{
    return w->n_tensors;
}

const struct ln_tensor_info *ln_weights_at(const struct ln_weights *w, size_t i)
{
    return i < w->n_tensors ? &w->tensors[i] : NULL;
}

static ptrdiff_t ln__find_index(const struct ln_weights *w, const char *name)
{
    size_t lo = 0, hi = w->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->by_name[mid]->name, name);
        if (c == 0)
            return w->by_name[mid] - w->tensors;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const struct ln_tensor_info *ln_weights_find(const struct ln_weights *w, const char *name)
{
    ptrdiff_t i = ln__find_index(w, name);
    return i < 0 ? NULL : &w->tensors[i];
}

static void ln__shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

static float ln__half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            /* Subnormal: normalise the mantissa. */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float ln__load_as_float(const uint8_t *p, enum ln_dtype dt)
{
    switch (dt) {
    case LN_DTYPE_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case LN_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return ln__half_to_float(h);
    }
    case LN_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case LN_DTYPE_F64: {
        double v;
        memcpy(&v, p, 8);
        return (float)v;
    }
    default:
        return 0.0f;
    }
}

/* Copies a (possibly strided, possibly non-f32) tensor into a new row-major
 * float32 buffer. Shapes and strides were validated at open. */
static float *ln__convert(const struct ln_tensor_info *t, size_t numel, struct ln_error *err)
{
    float *dst = ln_alloc_array(numel ? numel : 1, sizeof(float), 0, t->name, err);
    if (!dst)
        return NULL;
    const size_t esize = ln_dtype_size(t->dtype);
    const uint8_t *base = t->storage;
    int64_t idx[LN_TENSOR_MAX_DIMS] = {0};
    int64_t pos = t->offset;
    for (size_t i = 0; i < numel; i++) {
        dst[i] = ln__load_as_float(base + (size_t)pos * esize, t->dtype);
        /* Advance the multi-index, last dimension fastest. */
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) {
                pos += t->strides[d];
                break;
            }
            pos -= (t->shape[d] - 1) * t->strides[d];
            idx[d] = 0;
        }
    }
    return dst;
}

int ln_weights_f32(struct ln_weights *w, const char *name, int ndim, const int64_t *shape,
                   const float **out, struct ln_error *err)
{
    *out = NULL;
    ptrdiff_t i = ln__find_index(w, name);
    if (i < 0)
        return ln__weights_fail(w, err, "tensor %s missing", name);
    const struct ln_tensor_info *t = &w->tensors[i];
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        char have[128], want[128];
        ln__shape_str(have, sizeof have, t->ndim, t->shape);
        ln__shape_str(want, sizeof want, ndim, shape);
        return ln__weights_fail(w, err, "tensor %s has shape %s, expected %s", name, have, want);
    }
    if (t->dtype != LN_DTYPE_F32 && t->dtype != LN_DTYPE_F16 && t->dtype != LN_DTYPE_BF16 &&
        t->dtype != LN_DTYPE_F64)
        return ln__weights_fail(w, err, "tensor %s has dtype %s, expected a floating-point type",
                                name, ln_dtype_name(t->dtype));
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++)
        numel *= (size_t)t->shape[d];
    const uint8_t *p = (const uint8_t *)t->storage + (size_t)t->offset * ln_dtype_size(t->dtype);
    if (t->dtype == LN_DTYPE_F32 && t->contiguous && ((uintptr_t)p % sizeof(float)) == 0) {
        *out = (const float *)(const void *)p;
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    if (!w->converted[i])
        w->converted[i] = ln__convert(t, numel, err);
    float *c = w->converted[i];
    pthread_mutex_unlock(&w->lock);
    if (!c)
        return ln_error_prefix(err, "%s", w->name);
    *out = c;
    return 0;
}
