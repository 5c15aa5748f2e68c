/* Unit tests of the weight-file reader: the golden tiny checkpoint in both
 * formats against its manifest, float32 views and their errors, small
 * archives built here (tolerant pickle opcodes, strided and half-precision
 * tensors, forbidden globals, compressed entries, TorchScript, big-endian),
 * hand-written safetensors headers, and damaged copies of the golden file
 * (truncated, bytes flipped), each of which must fail cleanly. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ln_error.h"
#include "ln_file.h"
#include "ln_weights.h"

static const char *g_ckpt_name = "golden.ckpt";

/* A damaged input must give LN_EMODEL with a message naming the input. */
static void assert_model_error(int rc, const struct ln_error *err, const char *name)
{
    if (rc != LN_EMODEL)
        fail_msg("expected LN_EMODEL, got %d (%s)", rc, err->message);
    assert_int_equal(err->code, LN_EMODEL);
    assert_true(strncmp(err->message, name, strlen(name)) == 0);
    assert_true(strlen(err->message) > strlen(name) + 4);
}

/* Opens bytes that end exactly at the end of their allocation (so reading
 * past the end is caught by the sanitizers), touches every tensor and
 * closes again. */
static int open_exact(const uint8_t *data, size_t len, struct ln_error *err, struct ln_weights **w)
{
    int rc = ln_weights_open_memory(data, len, g_ckpt_name, w, err);
    if (rc == 0) {
        for (size_t i = 0; i < ln_weights_count(*w); i++) {
            const struct ln_tensor_info *t = ln_weights_at(*w, i);
            const float *f;
            struct ln_error e2 = {0};
            if (ln_weights_f32(*w, t->name, t->ndim, t->shape, &f, &e2) == 0 && t->ndim > 0 &&
                t->shape[0] > 0)
                (void)*(volatile const float *)f;
        }
        ln_weights_close(*w);
        *w = NULL;
    }
    return rc;
}

/* Same on a private copy of exactly len bytes. */
static int open_copy(const uint8_t *data, size_t len, struct ln_error *err, struct ln_weights **w)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    int rc = open_exact(copy, len, err, w);
    free(copy);
    return rc;
}

/* ---- golden checkpoint ---------------------------------------------- */

static void test_golden_both_formats(void **state)
{
    (void)state;
    struct ln_error err = {0};
    struct ln_weights *ck = NULL, *st = NULL;
    if (ln_weights_open(ln_test_data("triposr-tiny/model.ckpt"), &ck, &err) < 0)
        fail_msg("%s", err.message);
    if (ln_weights_open(ln_test_data("triposr-tiny/model.safetensors"), &st, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(ln_weights_format(ck), LN_WEIGHTS_FORMAT_TORCH_ZIP);
    assert_int_equal(ln_weights_format(st), LN_WEIGHTS_FORMAT_SAFETENSORS);

    json_error_t jerr;
    json_t *man = json_load_file(ln_test_data("triposr-tiny/manifest.json"), 0, &jerr);
    assert_non_null(man);
    json_t *sd = json_object_get(man, "state_dict");
    assert_true(json_is_array(sd));
    assert_int_equal(json_array_size(sd), ln_weights_count(ck));
    assert_int_equal(json_array_size(sd), ln_weights_count(st));
    assert_int_equal(ln_weights_count(ck), 97);

    for (size_t i = 0; i < json_array_size(sd); i++) {
        json_t *row = json_array_get(sd, i);
        const char *name = json_string_value(json_array_get(row, 0));
        json_t *shape = json_array_get(row, 1);
        const struct ln_tensor_info *a = ln_weights_at(ck, i);
        assert_string_equal(a->name, name);
        const struct ln_tensor_info *b = ln_weights_find(st, name);
        assert_non_null(b);
        assert_int_equal(a->ndim, (int)json_array_size(shape));
        assert_int_equal(b->ndim, a->ndim);
        int64_t dims[LN_TENSOR_MAX_DIMS];
        size_t numel = 1;
        for (int d = 0; d < a->ndim; d++) {
            dims[d] = json_integer_value(json_array_get(shape, (size_t)d));
            assert_int_equal(a->shape[d], dims[d]);
            assert_int_equal(b->shape[d], dims[d]);
            numel *= (size_t)dims[d];
        }
        assert_int_equal(a->dtype, LN_DTYPE_F32);
        assert_true(a->contiguous);
        const float *fa, *fb;
        if (ln_weights_f32(ck, name, a->ndim, dims, &fa, &err) < 0 ||
            ln_weights_f32(st, name, b->ndim, dims, &fb, &err) < 0)
            fail_msg("%s", err.message);
        /* Contiguous float32 is a view into the mapping, not a copy. */
        assert_ptr_equal(fa, (const float *)a->storage + a->offset);
        if (memcmp(fa, fb, numel * sizeof(float)) != 0)
            fail_msg("tensor %s differs between the formats", name);
    }
    assert_null(ln_weights_find(ck, "no.such.tensor"));
    assert_null(ln_weights_at(ck, 97));
    json_decref(man);
    ln_weights_close(ck);
    ln_weights_close(st);
}

static void test_f32_errors(void **state)
{
    (void)state;
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    if (ln_weights_open(ln_test_data("triposr-tiny/model.ckpt"), &w, &err) < 0)
        fail_msg("%s", err.message);
    const float *f = (const float *)1;
    int rc = ln_weights_f32(w, "image_tokenizer.model.embeddings.position_embeddings", 2,
                            (int64_t[]){197, 64}, &f, &err);
    assert_int_equal(rc, LN_EMODEL);
    assert_null(f);
    assert_non_null(strstr(err.message, "image_tokenizer.model.embeddings.position_embeddings "
                                        "has shape [1, 197, 64], expected [197, 64]"));
    rc = ln_weights_f32(w, "decoder.layers.99.weight", 1, (int64_t[]){4}, &f, &err);
    assert_int_equal(rc, LN_EMODEL);
    assert_non_null(strstr(err.message, "decoder.layers.99.weight missing"));
    assert_non_null(strstr(err.message, "model.ckpt"));
    ln_weights_close(w);
}

static void test_open_errors(void **state)
{
    (void)state;
    const char *dir = ln_test_tmpdir("weights_open_errors");
    struct ln_error err = {0};
    struct ln_weights *w = (struct ln_weights *)1;
    char *missing = ln_test_path(dir, "missing.ckpt");
    assert_int_equal(ln_weights_open(missing, &w, &err), LN_ENOTFOUND);
    assert_null(w);
    assert_non_null(strstr(err.message, "missing.ckpt"));

    char *empty = ln_test_path(dir, "empty.ckpt");
    assert_int_equal(ln_file_write_atomic(empty, "", 0, &err), 0);
    assert_model_error(ln_weights_open(empty, &w, &err), &err, empty);
    assert_non_null(strstr(err.message, "empty"));

    char *text = ln_test_path(dir, "notes.txt");
    const char *words = "These are not the weights you are looking for.\n";
    assert_int_equal(ln_file_write_atomic(text, words, strlen(words), &err), 0);
    assert_model_error(ln_weights_open(text, &w, &err), &err, text);
    assert_non_null(strstr(err.message, "not a weight file"));

    assert_model_error(ln_weights_open(dir, &w, &err), &err, dir);

    /* Legacy torch.save stream: PROTO 2, LONG1 magic number, ... */
    const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a,
                              0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e};
    g_ckpt_name = "legacy.pt";
    assert_model_error(open_copy(legacy, sizeof legacy, &err, &w), &err, "legacy.pt");
    assert_non_null(strstr(err.message, "legacy"));
    g_ckpt_name = "golden.ckpt";
    free(missing);
    free(empty);
    free(text);
}

/* ---- archives built by the test --------------------------------------- */

struct zentry {
    const char *name;
    const void *data;
    size_t len;
    int method;
};

/* Appends a string literal, embedded NULs included. */
#define LIT(b, s) ln_buf_append((b), (s), sizeof(s) - 1)

static void put16(struct ln_buf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    ln_buf_append(b, x, 2);
}

/* A zip laid out as torch.save does: stored entries, data 64-byte aligned
 * through an "FB" extra field in the local header, sizes in the local
 * header zeroed (flag bit 3), zip64 end records in front of the classic
 * one. */
static void build_zip(struct ln_buf *b, const struct zentry *e, size_t n)
{
    size_t offsets[32];
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++) {
        offsets[i] = b->len;
        const size_t nl = strlen(e[i].name);
        size_t pad = (64 - (b->len + 30 + nl + 4) % 64) % 64;
        ln_buf_u32le(b, 0x04034b50);
        put16(b, 20);
        put16(b, 0x0808);
        put16(b, (unsigned)e[i].method);
        put16(b, 0);
        put16(b, 0);
        ln_buf_u32le(b, 0);
        ln_buf_u32le(b, 0);
        ln_buf_u32le(b, 0);
        put16(b, (unsigned)nl);
        put16(b, (unsigned)(4 + pad));
        ln_buf_append(b, e[i].name, nl);
        put16(b, 0x4246);
        put16(b, (unsigned)pad);
        for (size_t k = 0; k < pad; k++)
            ln_buf_append(b, "Z", 1);
        ln_buf_append(b, e[i].data, e[i].len);
    }
    const size_t cd = b->len;
    for (size_t i = 0; i < n; i++) {
        const size_t nl = strlen(e[i].name);
        ln_buf_u32le(b, 0x02014b50);
        put16(b, 45);
        put16(b, 20);
        put16(b, 0x0808);
        put16(b, (unsigned)e[i].method);
        put16(b, 0);
        put16(b, 0);
        ln_buf_u32le(b, 0);
        ln_buf_u32le(b, (uint32_t)e[i].len);
        ln_buf_u32le(b, (uint32_t)e[i].len);
        put16(b, (unsigned)nl);
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        ln_buf_u32le(b, 0);
        ln_buf_u32le(b, (uint32_t)offsets[i]);
        ln_buf_append(b, e[i].name, nl);
    }
    const size_t cd_size = b->len - cd, z64 = b->len;
    ln_buf_u32le(b, 0x06064b50);
    ln_buf_u32le(b, 44);
    ln_buf_u32le(b, 0);
    put16(b, 45);
    put16(b, 45);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, (uint32_t)n);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, (uint32_t)n);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, (uint32_t)cd_size);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, (uint32_t)cd);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, 0x07064b50);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, (uint32_t)z64);
    ln_buf_u32le(b, 0);
    ln_buf_u32le(b, 1);
    ln_buf_u32le(b, 0x06054b50);
    put16(b, 0);
    put16(b, 0);
    put16(b, 0xFFFF);
    put16(b, 0xFFFF);
    ln_buf_u32le(b, 0xFFFFFFFF);
    ln_buf_u32le(b, 0xFFFFFFFF);
    put16(b, 0);
    assert_false(b->failed);
}

/* Pickle helpers (protocol 2 opcodes as torch.save writes them). */
static void pk_str(struct ln_buf *p, const char *s)
{
    ln_buf_append(p, "X", 1);
    ln_buf_u32le(p, (uint32_t)strlen(s));
    ln_buf_append(p, s, strlen(s));
}

static void pk_int(struct ln_buf *p, long v)
{
    ln_buf_append(p, "J", 1);
    ln_buf_u32le(p, (uint32_t)(int32_t)v);
}

static void pk_global(struct ln_buf *p, const char *mod, const char *name)
{
    ln_buf_printf(p, "c%s\n%s\n", mod, name);
}

struct ptensor {
    const char *name, *storage_class, *key;
    long numel, offset;
    int ndim;
    long shape[4], stride[4];
};

static void pk_tensor(struct ln_buf *p, const struct ptensor *t)
{
    pk_str(p, t->name);
    pk_global(p, "torch._utils", "_rebuild_tensor_v2");
    ln_buf_append(p, "((", 2);
    pk_str(p, "storage");
    pk_global(p, "torch", t->storage_class);
    pk_str(p, t->key);
    pk_str(p, "cpu");
    pk_int(p, t->numel);
    ln_buf_append(p, "tQ", 2);
    pk_int(p, t->offset);
    ln_buf_append(p, "(", 1);
    for (int d = 0; d < t->ndim; d++)
        pk_int(p, t->shape[d]);
    ln_buf_append(p, "t(", 2);
    for (int d = 0; d < t->ndim; d++)
        pk_int(p, t->stride[d]);
    ln_buf_append(p, "t\x89", 2);
    pk_global(p, "collections", "OrderedDict");
    ln_buf_append(p, ")Rt", 3);
    ln_buf_append(p, "R", 1);
}

static void pk_state_dict(struct ln_buf *p, const struct ptensor *t, size_t n)
{
    ln_buf_append(p, "\x80\x02", 2);
    pk_global(p, "collections", "OrderedDict");
    ln_buf_append(p, ")R(", 3);
    for (size_t i = 0; i < n; i++)
        pk_tensor(p, &t[i]);
    ln_buf_append(p, "u", 1);
    /* The _metadata attribute that torch adds with BUILD. */
    ln_buf_append(p, "}", 1);
    pk_str(p, "_metadata");
    ln_buf_append(p, "}sb.", 4);
}

static const float k_data[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
/* 1.0, -2.0, 0.5, 65504 and a subnormal in float16. */
static const uint16_t k_half[5] = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001};

/* Builds "archive/..." with the given pickle and the two storages. */
static void build_ckpt(struct ln_buf *zip, const struct ln_buf *pkl, int pkl_method,
                       const char *extra_name, const char *extra_data)
{
    struct zentry e[5] = {
        {"archive/data.pkl", pkl->data, pkl->len, pkl_method},
        {"archive/data/0", k_data, sizeof k_data, 0},
        {"archive/data/1", k_half, sizeof k_half, 0},
        {"archive/version", "3\n", 2, 0},
    };
    size_t n = 4;
    if (extra_name)
        e[n++] = (struct zentry){extra_name, extra_data, strlen(extra_data), 0};
    build_zip(zip, e, n);
}

static const struct ptensor k_good[3] = {
    {"a.weight", "FloatStorage", "0", 12, 0, 2, {3, 4}, {4, 1}},
    /* The transpose of a 3x4 block starting at element 1: strided. */
    {"a.t", "FloatStorage", "0", 12, 1, 2, {3, 3}, {1, 4}},
    {"h", "HalfStorage", "1", 5, 0, 1, {5}, {1}},
};

static void test_built_checkpoint(void **state)
{
    (void)state;
    struct ln_buf pkl = {0}, zip = {0};
    pk_state_dict(&pkl, k_good, 3);
    build_ckpt(&zip, &pkl, 0, "archive/byteorder", "little");
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    if (ln_weights_open_memory(zip.data, zip.len, "built.ckpt", &w, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(ln_weights_count(w), 3);
    const float *f;
    assert_int_equal(ln_weights_f32(w, "a.weight", 2, (int64_t[]){3, 4}, &f, &err), 0);
    for (int i = 0; i < 12; i++)
        assert_true(f[i] == (float)i);
    const struct ln_tensor_info *t = ln_weights_find(w, "a.t");
    assert_false(t->contiguous);
    assert_int_equal(ln_weights_f32(w, "a.t", 2, (int64_t[]){3, 3}, &f, &err), 0);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            assert_true(f[r * 3 + c] == (float)(1 + r + 4 * c));
    const float *again;
    assert_int_equal(ln_weights_f32(w, "a.t", 2, (int64_t[]){3, 3}, &again, &err), 0);
    assert_ptr_equal(f, again);
    assert_int_equal(ln_weights_find(w, "h")->dtype, LN_DTYPE_F16);
    assert_int_equal(ln_weights_f32(w, "h", 1, (int64_t[]){5}, &f, &err), 0);
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 65504.0f);
    assert_true(f[4] == ldexpf(1.0f, -24));
    ln_weights_close(w);
    ln_buf_free(&pkl);
    ln_buf_free(&zip);
}

/* Protocol-4 style pickle: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE,
 * a plain dict on top, NONE/NEWTRUE/BINFLOAT/LONG1/lists/bytes in the
 * hooks and metadata arguments. */
static void test_tolerant_opcodes(void **state)
{
    (void)state;
    struct ln_buf q = {0};
    LIT(&q, "\x80\x04\x95"
            "\x10\0\0\0\0\0\0\0"); /* PROTO 4, FRAME */
    LIT(&q, "}\x94(");             /* plain dict, MEMOIZE, MARK */
    LIT(&q, "\x8c\x01"
            "w\x94");
    LIT(&q, "\x8c\x0c"
            "torch._utils\x94\x8c\x12"
            "_rebuild_tensor_v2\x94\x93\x94");
    LIT(&q, "((\x8c\x07"
            "storage\x94");
    LIT(&q, "\x8c\x05"
            "torch\x8c\x0c"
            "FloatStorage\x93");
    LIT(&q, "\x8c\x01"
            "0\x8c\x03"
            "cpu");
    LIT(&q, "\x8a\x01\x0c"); /* LONG1 12 */
    LIT(&q, "tQ");
    LIT(&q, "K\x02"); /* storage offset 2 */
    LIT(&q, "K\x02"
            "K\x05\x86"); /* size (2, 5) */
    LIT(&q, "K\x05"
            "K\x01\x86"); /* stride (5, 1) */
    LIT(&q, "\x88");      /* requires_grad True */
    LIT(&q, "]N"
            "a"); /* hooks: a list, APPEND None */
    LIT(&q, "(G\x3f\xf0\0\0\0\0\0\0"
            "C\x02"
            "hi"
            "B\x01\0\0\0"
            "x"
            "\x8a\x00"
            "\x89"
            "e");
    LIT(&q, "}"); /* metadata */
    LIT(&q, "tR\x94"
            "u.");
    struct ln_buf zip = {0};
    build_ckpt(&zip, &q, 0, NULL, NULL);
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    if (ln_weights_open_memory(zip.data, zip.len, "p4.ckpt", &w, &err) < 0)
        fail_msg("%s", err.message);
    const float *f;
    assert_int_equal(ln_weights_f32(w, "w", 2, (int64_t[]){2, 5}, &f, &err), 0);
    for (int i = 0; i < 10; i++)
        assert_true(f[i] == (float)(i + 2));
    ln_weights_close(w);
    ln_buf_free(&q);
    ln_buf_free(&zip);
}

/* Builds a checkpoint from a pickle and expects LN_EMODEL naming what. */
static void expect_ckpt_error(const struct ln_buf *pkl, int method, const char *extra_name,
                              const char *extra_data, const char *what)
{
    struct ln_buf zip = {0};
    build_ckpt(&zip, pkl, method, extra_name, extra_data);
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    assert_model_error(open_copy(zip.data, zip.len, &err, &w), &err, g_ckpt_name);
    if (!strstr(err.message, what))
        fail_msg("message \"%s\" does not mention \"%s\"", err.message, what);
    ln_buf_free(&zip);
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    struct ln_buf good = {0};
    pk_state_dict(&good, k_good, 3);

    /* A forbidden global: what a malicious pickle would call. */
    struct ln_buf evil = {0};
    ln_buf_append(&evil, "\x80\x02", 2);
    pk_global(&evil, "os", "system");
    ln_buf_append(&evil, "(", 1);
    pk_str(&evil, "echo owned");
    ln_buf_append(&evil, "tR.", 3);
    expect_ckpt_error(&evil, 0, NULL, NULL, "forbidden global os.system");
    ln_buf_free(&evil);
    struct ln_buf evil2 = {0};
    LIT(&evil2, "\x80\x04\x8c\x08"
                "builtins\x8c\x04"
                "eval\x93.");
    expect_ckpt_error(&evil2, 0, NULL, NULL, "forbidden global builtins.eval");
    ln_buf_free(&evil2);
    struct ln_buf evil3 = {0};
    ln_buf_append(&evil3, "\x80\x02", 2);
    pk_global(&evil3, "torch", "load");
    ln_buf_append(&evil3, ".", 1);
    expect_ckpt_error(&evil3, 0, NULL, NULL, "forbidden global torch.load");
    ln_buf_free(&evil3);

    expect_ckpt_error(&good, 8, NULL, NULL, "compressed (method 8)");
    expect_ckpt_error(&good, 0, "archive/constants.pkl", "x", "TorchScript");
    expect_ckpt_error(&good, 0, "archive/byteorder", "big", "big-endian");

    /* Tensor reaching past its storage; storage smaller than numel. */
    struct ptensor t = k_good[0];
    t.offset = 1;
    struct ln_buf p1 = {0};
    pk_state_dict(&p1, &t, 1);
    expect_ckpt_error(&p1, 0, NULL, NULL, "outside its storage");
    ln_buf_free(&p1);
    t = k_good[0];
    t.numel = 13;
    struct ln_buf p2 = {0};
    pk_state_dict(&p2, &t, 1);
    expect_ckpt_error(&p2, 0, NULL, NULL, "fewer than");
    ln_buf_free(&p2);
    t = k_good[0];
    t.key = "7";
    struct ln_buf p3 = {0};
    pk_state_dict(&p3, &t, 1);
    expect_ckpt_error(&p3, 0, NULL, NULL, "archive/data/7 is missing");
    ln_buf_free(&p3);
    t = k_good[0];
    t.shape[0] = -3;
    struct ln_buf p4 = {0};
    pk_state_dict(&p4, &t, 1);
    expect_ckpt_error(&p4, 0, NULL, NULL, "negative");
    ln_buf_free(&p4);
    /* Two tensors with one name. */
    struct ptensor two[2] = {k_good[0], k_good[0]};
    struct ln_buf p5 = {0};
    pk_state_dict(&p5, two, 2);
    expect_ckpt_error(&p5, 0, NULL, NULL, "occurs twice");
    ln_buf_free(&p5);
    /* Unknown opcode, stack underflow, memo misuse, a non-dict result. */
    struct ln_buf p6 = {0};
    LIT(&p6, "\x80\x02}\xff.");
    expect_ckpt_error(&p6, 0, NULL, NULL, "unsupported pickle opcode 0xff");
    ln_buf_free(&p6);
    struct ln_buf p7 = {0};
    LIT(&p7, "\x80\x02s.");
    expect_ckpt_error(&p7, 0, NULL, NULL, "stack underflow");
    ln_buf_free(&p7);
    struct ln_buf p8 = {0};
    LIT(&p8, "\x80\x02h\x05.");
    expect_ckpt_error(&p8, 0, NULL, NULL, "memo");
    ln_buf_free(&p8);
    struct ln_buf p9 = {0};
    LIT(&p9, "\x80\x02]q\x00.");
    expect_ckpt_error(&p9, 0, NULL, NULL, "not hold a dict");
    ln_buf_free(&p9);
    struct ln_buf p10 = {0};
    LIT(&p10, "\x80\x02}");
    expect_ckpt_error(&p10, 0, NULL, NULL, "truncated");
    ln_buf_free(&p10);

    /* An archive without data.pkl. */
    struct ln_buf zip = {0};
    struct zentry e[1] = {{"archive/version", "3\n", 2, 0}};
    build_zip(&zip, e, 1);
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    assert_model_error(open_copy(zip.data, zip.len, &err, &w), &err, g_ckpt_name);
    assert_non_null(strstr(err.message, "data.pkl"));
    ln_buf_free(&zip);
    ln_buf_free(&good);
}

/* ---- safetensors -------------------------------------------------------- */

static int open_st(const char *header, size_t data_len, struct ln_error *err)
{
    struct ln_buf b = {0};
    uint64_t n = strlen(header);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)(n >> (8 * i));
    ln_buf_append(&b, len8, 8);
    ln_buf_append(&b, header, n);
    for (size_t i = 0; i < data_len; i++)
        ln_buf_append(&b, "\0", 1);
    struct ln_weights *w = NULL;
    int rc = open_copy(b.data, b.len, err, &w);
    ln_buf_free(&b);
    return rc;
}

static void test_safetensors_headers(void **state)
{
    (void)state;
    struct ln_error err = {0};
    assert_int_equal(
        open_st("{\"__metadata__\":{\"a\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
                "\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"BF16\",\"shape\":[2,2],"
                "\"data_offsets\":[8,16]}}   ",
                16, &err),
        0);
    /* A header of 0x480 bytes: its length starts with 0x80 like a pickle. */
    char padded[0x481];
    const char *one = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    memset(padded, ' ', 0x480);
    memcpy(padded, one, strlen(one));
    padded[0x480] = 0;
    assert_int_equal(open_st(padded, 8, &err), 0);

    const struct {
        const char *header;
        size_t data;
        const char *what;
    } bad[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         16, "overlap"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "need"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16, "malformed"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 16, "malformed"},
        {"{\"x\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, "dtype"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 16, "lacks"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}",
         16, "too large"},
        {"{\"x\":1,\"x\":2}", 0, "JSON"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,", 16, "JSON"},
        {"[1,2]", 0, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = open_st(bad[i].header, bad[i].data, &err);
        assert_model_error(rc, &err, g_ckpt_name);
        if (!strstr(err.message, bad[i].what))
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err.message, bad[i].what);
    }
    /* Header length beyond the file. */
    const uint8_t big[12] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    struct ln_weights *w = NULL;
    assert_model_error(open_copy(big, sizeof big, &err, &w), &err, g_ckpt_name);
}

/* ---- damaged copies of the golden checkpoint ---------------------------- */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offsets of the central directory and of data.pkl's data in the golden
 * archive (found by scanning, like any zip tool would). */
static void golden_layout(const uint8_t *d, size_t n, size_t *cd, size_t *pkl)
{
    *cd = 0;
    for (size_t p = n - 22; p > 0; p--) {
        if (rd32(d + p) == 0x06054b50) {
            /* Classic EOCD saturated: read the zip64 record instead. */
            const size_t z64 = rd32(d + p - 20 + 8);
            *cd = rd32(d + z64 + 48);
            break;
        }
    }
    assert_true(*cd > 0 && rd32(d + *cd) == 0x02014b50);
    /* The first local header is data.pkl in torch's layout. */
    assert_int_equal(rd32(d), 0x04034b50);
    *pkl = 30 + (size_t)(d[26] | d[27] << 8) + (size_t)(d[28] | d[29] << 8);
    assert_memory_equal(d + 30, "model/data.pkl", 14);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = ln_test_read(ln_test_data("triposr-tiny/model.ckpt"), &n);
    size_t cd, pkl;
    golden_layout(d, n, &cd, &pkl);
    size_t cuts[400];
    size_t n_cuts = 0;
    for (size_t k = 0; k < 120; k++)
        cuts[n_cuts++] = n * k / 120;
    for (size_t k = 0; k < 100; k++)
        cuts[n_cuts++] = cd + (n - cd) * k / 100; /* central directory and end records */
    for (size_t k = 0; k < 100; k++)
        cuts[n_cuts++] = pkl + 19265 * k / 100; /* inside data.pkl */
    for (size_t k = 1; k <= 60; k++)
        cuts[n_cuts++] = n - k;
    struct ln_error err = {0};
    struct ln_weights *w = NULL;
    for (size_t i = 0; i < n_cuts; i++) {
        int rc = open_copy(d, cuts[i], &err, &w);
        if (rc != LN_EMODEL)
            fail_msg("cut at %zu: rc %d (%s)", cuts[i], rc, err.message);
        assert_model_error(rc, &err, g_ckpt_name);
    }
    /* Through the mapping too. */
    const char *dir = ln_test_tmpdir("weights_truncated");
    char *path = ln_test_path(dir, "cut.ckpt");
    assert_int_equal(ln_file_write_atomic(path, d, cd + 100, &err), 0);
    assert_model_error(ln_weights_open(path, &w, &err), &err, path);
    free(path);
    free(d);
}

/* Flips each byte of a range in turn; the result must be a clean error or
 * a successful load, never a crash or an out-of-bounds read. Returns how
 * many flips failed. */
static size_t flip_range(const uint8_t *d, size_t n, size_t from, size_t to, size_t step)
{
    uint8_t *copy = malloc(n);
    memcpy(copy, d, n);
    size_t n_err = 0;
    for (size_t i = from; i < to && i < n; i += step) {
        for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
            copy[i] ^= (uint8_t)mask;
            struct ln_error err = {0};
            struct ln_weights *w = NULL;
            int rc = open_exact(copy, n, &err, &w);
            if (rc != 0) {
                assert_model_error(rc, &err, g_ckpt_name);
                n_err++;
            }
            copy[i] ^= (uint8_t)mask;
        }
    }
    free(copy);
    return n_err;
}

static void test_flipped(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = ln_test_read(ln_test_data("triposr-tiny/model.ckpt"), &n);
    size_t cd, pkl;
    golden_layout(d, n, &cd, &pkl);
    /* Central directory: the first entries and the end records. */
    assert_true(flip_range(d, n, cd, cd + 300, 1) > 0);
    assert_true(flip_range(d, n, n - 120, n, 1) > 0);
    /* Local header of data.pkl and of the first storage. */
    assert_true(flip_range(d, n, 0, 40, 1) > 0);
    assert_true(flip_range(d, n, pkl + 19265, pkl + 19265 + 90, 1) > 0);
    /* The pickle: its whole first part, then samples. */
    assert_true(flip_range(d, n, pkl, pkl + 700, 1) > 0);
    flip_range(d, n, pkl + 700, pkl + 19265, 11);
    free(d);

    uint8_t *s = ln_test_read(ln_test_data("triposr-tiny/model.safetensors"), &n);
    g_ckpt_name = "golden.safetensors";
    assert_true(flip_range(s, n, 0, 700, 1) > 0);
    flip_range(s, n, 700, 8 + 11016, 5);
    g_ckpt_name = "golden.ckpt";
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_both_formats),
        cmocka_unit_test(test_f32_errors),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_built_checkpoint),
        cmocka_unit_test(test_tolerant_opcodes),
        cmocka_unit_test(test_bad_checkpoints),
        cmocka_unit_test(test_safetensors_headers),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
