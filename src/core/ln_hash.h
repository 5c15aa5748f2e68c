/*
 * Checksums of downloaded files: SHA-256 (the Hugging Face hub's name for
 * a large file, and rembg's newer checksums), SHA-1 (git's name for a small
 * file, "blob <size>\0" + content) and MD5 (rembg's older checksums), by
 * Nettle. Streaming, so a multi-gigabyte weights file is hashed as it
 * arrives.
 *
 *     struct ln_hash h;
 *     ln_hash_init(&h, LN_HASH_SHA256);
 *     ln_hash_update(&h, data, n);          (any number of times)
 *     char hex[LN_HASH_HEX_MAX];
 *     ln_hash_final_hex(&h, hex);
 *
 * Reentrant; a struct ln_hash belongs to one thread at a time.
 */
#ifndef LN_HASH_H
#define LN_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/md5.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "ln_error.h"

enum ln_hash_kind {
    LN_HASH_MD5,
    LN_HASH_SHA1,
    LN_HASH_SHA256,
};

#define LN_HASH_HEX_MAX 65 /* 64 hex digits of SHA-256 and a NUL */

struct ln_hash {
    enum ln_hash_kind kind;
    union {
        struct md5_ctx md5;
        struct sha1_ctx sha1;
        struct sha256_ctx sha256;
    } ctx;
};

void ln_hash_init(struct ln_hash *h, enum ln_hash_kind kind);
void ln_hash_update(struct ln_hash *h, const void *data, size_t n);
/* Lower-case hex digits (32, 40 or 64) and a NUL into hex. */
void ln_hash_final_hex(struct ln_hash *h, char hex[LN_HASH_HEX_MAX]);

/* Hashes a whole file (read in large blocks). prefix, when not NULL, is
 * hashed first (git's "blob <size>" header). LN_ENOTFOUND / LN_EIO. */
int ln_hash_file(const char *path, enum ln_hash_kind kind, const void *prefix, size_t n_prefix,
                 char hex[LN_HASH_HEX_MAX], struct ln_error *err);

/* git's object name of a file: SHA-1 of "blob <size>\0" and the content. */
int ln_hash_git_blob(const char *path, char hex[LN_HASH_HEX_MAX], struct ln_error *err);

#endif
