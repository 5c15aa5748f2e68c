/*
 * MD5, SHA-1 and SHA-256 through Nettle (GnuTLS's low-level cryptographic
 * library): streaming contexts held by value, so a hash needs no
 * allocation and nothing to release when a download is abandoned.
 */
#include "ln_hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_fs.h"

void ln_hash_init(struct ln_hash *h, enum ln_hash_kind kind)
{
    h->kind = kind;
    switch (kind) {
    case LN_HASH_MD5:
        md5_init(&h->ctx.md5);
        break;
    case LN_HASH_SHA1:
        sha1_init(&h->ctx.sha1);
        break;
    case LN_HASH_SHA256:
        sha256_init(&h->ctx.sha256);
        break;
    }
}

void ln_hash_update(struct ln_hash *h, const void *data, size_t n)
{
    switch (h->kind) {
    case LN_HASH_MD5:
        md5_update(&h->ctx.md5, n, data);
        break;
    case LN_HASH_SHA1:
        sha1_update(&h->ctx.sha1, n, data);
        break;
    case LN_HASH_SHA256:
        sha256_update(&h->ctx.sha256, n, data);
        break;
    }
}

void ln_hash_final_hex(struct ln_hash *h, char hex[LN_HASH_HEX_MAX])
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    size_t n = 0;
    switch (h->kind) {
    case LN_HASH_MD5:
        n = MD5_DIGEST_SIZE;
        md5_digest(&h->ctx.md5, n, digest);
        break;
    case LN_HASH_SHA1:
        n = SHA1_DIGEST_SIZE;
        sha1_digest(&h->ctx.sha1, n, digest);
        break;
    case LN_HASH_SHA256:
        n = SHA256_DIGEST_SIZE;
        sha256_digest(&h->ctx.sha256, n, digest);
        break;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * n] = 0;
}

int ln_hash_file(const char *path, enum ln_hash_kind kind, const void *prefix, size_t n_prefix,
                 char hex[LN_HASH_HEX_MAX], struct ln_error *err)
{
    struct ln_file f;
    int rc = ln_file_open(&f, path, LN_FILE_READ, err);
    if (rc < 0)
        return rc;
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        ln_file_close(&f, NULL);
        return ln_error_set(err, LN_ENOMEM, "out of memory hashing %s", path);
    }
    struct ln_hash h;
    ln_hash_init(&h, kind);
    if (prefix)
        ln_hash_update(&h, prefix, n_prefix);
    for (;;) {
        size_t got = 0;
        struct ln_error rerr = {0};
        if (ln_file_read_some(&f, buf, CHUNK, &got, &rerr) < 0) {
            rc = ln_error_set(err, LN_EIO, "reading %s: %s", path, rerr.message);
            break;
        }
        if (got == 0)
            break;
        ln_hash_update(&h, buf, got);
    }
    free(buf);
    ln_file_close(&f, NULL);
    if (rc == LN_OK)
        ln_hash_final_hex(&h, hex);
    return rc;
}

int ln_hash_git_blob(const char *path, char hex[LN_HASH_HEX_MAX], struct ln_error *err)
{
    struct ln_path_info info;
    int rc = ln_path_stat(path, 0, &info, err);
    if (rc < 0)
        return rc;
    char header[48];
    const int n = snprintf(header, sizeof header, "blob %llu", (unsigned long long)info.size);
    /* The NUL that ends git's header is part of what is hashed. */
    return ln_hash_file(path, LN_HASH_SHA1, header, (size_t)n + 1, hex, err);
}
