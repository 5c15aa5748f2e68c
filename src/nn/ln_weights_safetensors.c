/*
 * safetensors reader (docs/TRIPOSR.md section 14.2): a little-endian u64
 * header length, a JSON header mapping tensor names to dtype, shape and
 * [begin, end) byte offsets in the data buffer that follows, then the raw
 * row-major little-endian data. The header is parsed with jansson; every
 * tensor's range must lie inside the buffer, match its shape exactly and
 * overlap no other tensor. Tensors keep the header's order.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ln_alloc.h"
#include "ln_weights_int.h"

/* A header larger than this is not a weight-file header. */
#define LN__ST_MAX_HEADER ((uint64_t)100 << 20)

struct ln__st_range {
    uint64_t begin, end;
    size_t tensor;
};

static int ln__st_dtype(const char *s, enum ln_dtype *dt)
{
    static const struct {
        const char *name;
        enum ln_dtype dt;
    } map[] = {
        {"F32", LN_DTYPE_F32},   {"F16", LN_DTYPE_F16}, {"BF16", LN_DTYPE_BF16},
        {"F64", LN_DTYPE_F64},   {"I64", LN_DTYPE_I64}, {"I32", LN_DTYPE_I32},
        {"I16", LN_DTYPE_I16},   {"I8", LN_DTYPE_I8},   {"U8", LN_DTYPE_U8},
        {"BOOL", LN_DTYPE_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(s, map[i].name) == 0) {
            *dt = map[i].dt;
            return 0;
        }
    }
    return -1;
}

static int ln__st_cmp_range(const void *a, const void *b)
{
    const struct ln__st_range *ra = a, *rb = b;
    if (ra->begin != rb->begin)
        return ra->begin < rb->begin ? -1 : 1;
    if (ra->end != rb->end)
        return ra->end < rb->end ? -1 : 1;
    return 0;
}

/* Reads one header entry into t (storage and offsets relative to the data
 * buffer of buf_len bytes). */
static int ln__st_entry(struct ln_weights *w, const char *name, json_t *v, const uint8_t *buf,
                        uint64_t buf_len, struct ln_tensor_info *t, struct ln__st_range *r,
                        struct ln_error *err)
{
    if (!json_is_object(v))
        return ln__weights_fail(w, err, "header entry %.120s is not an object", name);
    json_t *jdt = json_object_get(v, "dtype");
    json_t *jshape = json_object_get(v, "shape");
    json_t *joff = json_object_get(v, "data_offsets");
    if (!json_is_string(jdt) || !json_is_array(jshape) || !json_is_array(joff))
        return ln__weights_fail(w, err, "header entry %.120s lacks dtype, shape or data_offsets",
                                name);
    memset(t, 0, sizeof *t);
    if (ln__st_dtype(json_string_value(jdt), &t->dtype) < 0)
        return ln__weights_fail(w, err, "tensor %.120s has unsupported dtype %.32s", name,
                                json_string_value(jdt));
    size_t ndim = json_array_size(jshape);
    if (ndim > LN_TENSOR_MAX_DIMS)
        return ln__weights_fail(w, err, "tensor %.120s has %zu dimensions (at most %d supported)",
                                name, ndim, LN_TENSOR_MAX_DIMS);
    t->ndim = (int)ndim;
    /* The size limit keeps the running product far from overflow. */
    const uint64_t esize = ln_dtype_size(t->dtype);
    uint64_t bytes = esize;
    for (size_t d = 0; d < ndim; d++) {
        json_t *e = json_array_get(jshape, d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return ln__weights_fail(w, err, "tensor %.120s has a malformed shape", name);
        t->shape[d] = json_integer_value(e);
        if (t->shape[d] != 0 &&
            (uint64_t)t->shape[d] > (uint64_t)LN__WEIGHTS_MAX_TENSOR_BYTES / (bytes ? bytes : 1))
            return ln__weights_fail(w, err, "tensor %.120s is too large", name);
        bytes *= (uint64_t)t->shape[d];
    }
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d] ? t->shape[d] : 1;
    }
    json_t *jb = json_array_get(joff, 0), *je = json_array_get(joff, 1);
    if (json_array_size(joff) != 2 || !json_is_integer(jb) || !json_is_integer(je) ||
        json_integer_value(jb) < 0 || json_integer_value(je) < json_integer_value(jb))
        return ln__weights_fail(w, err, "tensor %.120s has malformed data_offsets", name);
    r->begin = (uint64_t)json_integer_value(jb);
    r->end = (uint64_t)json_integer_value(je);
    if (r->end > buf_len)
        return ln__weights_fail(w, err,
                                "tensor %.120s data [%llu, %llu) lies outside the %llu-byte data "
                                "buffer (truncated file?)",
                                name, (unsigned long long)r->begin, (unsigned long long)r->end,
                                (unsigned long long)buf_len);
    if (r->end - r->begin != bytes)
        return ln__weights_fail(
            w, err, "tensor %.120s has %llu data bytes, its shape and dtype need %llu", name,
            (unsigned long long)(r->end - r->begin), (unsigned long long)bytes);
    t->storage = buf + r->begin;
    t->storage_bytes = (size_t)bytes;
    return 0;
}

int ln__weights_load_safetensors(struct ln_weights *w, struct ln_error *err)
{
    int rc = 0;
    json_t *root = NULL;
    struct ln__st_range *ranges = NULL;

    if (w->len < 8)
        return ln__weights_fail(w, err, "safetensors file shorter than its 8-byte header length");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | w->data[i];
    if (hlen > w->len - 8)
        return ln__weights_fail(w, err,
                                "safetensors header length %llu exceeds the file (%zu bytes; "
                                "truncated?)",
                                (unsigned long long)hlen, w->len);
    if (hlen < 2 || hlen > LN__ST_MAX_HEADER)
        return ln__weights_fail(w, err, "safetensors header length %llu is implausible",
                                (unsigned long long)hlen);

    json_error_t jerr;
    root = json_loadb((const char *)w->data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ln__weights_fail(w, err, "safetensors header is not valid JSON: %.100s (byte %d)",
                              jerr.text, jerr.position);
        goto cleanup;
    }
    if (!json_is_object(root)) {
        rc = ln__weights_fail(w, err, "safetensors header is not a JSON object");
        goto cleanup;
    }

    const uint8_t *buf = w->data + 8 + hlen;
    const uint64_t buf_len = w->len - 8 - hlen;
    ranges = ln_xmalloc((json_object_size(root) + 1) * sizeof *ranges);
    size_t n_ranges = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        struct ln_tensor_info t;
        struct ln__st_range *r = &ranges[n_ranges];
        if ((rc = ln__st_entry(w, key, v, buf, buf_len, &t, r, err)) < 0)
            goto cleanup;
        r->tensor = w->n_tensors;
        if ((rc = ln__weights_add(w, &t, key, strlen(key), err)) < 0)
            goto cleanup;
        n_ranges++;
    }

    qsort(ranges, n_ranges, sizeof *ranges, ln__st_cmp_range);
    /* Empty tensors occupy nothing and may sit anywhere. */
    size_t far = 0;
    for (size_t i = 0; i < n_ranges; i++) {
        if (ranges[i].begin == ranges[i].end)
            continue;
        if (i > 0 && ranges[far].end > ranges[i].begin) {
            rc = ln__weights_fail(w, err, "tensors %.100s and %.100s overlap in the data buffer",
                                  w->tensors[ranges[far].tensor].name,
                                  w->tensors[ranges[i].tensor].name);
            goto cleanup;
        }
        far = i;
    }

cleanup:
    free(ranges);
    json_decref(root);
    return rc;
}
