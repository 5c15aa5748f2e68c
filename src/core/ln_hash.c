/*
 * MD5 (RFC 1321), SHA-1 and SHA-256 (FIPS 180-4), written from the
 * standards. The three share one 64-byte block buffer and padding; they
 * differ in the compression function and in byte order (MD5 little-endian,
 * the SHAs big-endian). Speed matters little next to the network, but a
 * verify of the 1.7 GB TripoSR checkpoint should take seconds, so the
 * rounds are plain unrolled-by-the-compiler loops over uint32_t.
 */
#include "ln_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t ln__rol(uint32_t x, int s)
{
    return (x << s) | (x >> (32 - s));
}
static uint32_t ln__ror(uint32_t x, int s)
{
    return (x >> s) | (x << (32 - s));
}

static uint32_t ln__be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t ln__le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* RFC 1321 section 3.4: the per-round shifts and the table
 * T[i] = floor(abs(sin(i + 1)) * 2^32). */
static const int ln__md5_s[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static const uint32_t ln__md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static void ln__md5_block(uint32_t st[4], const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = ln__le32(p + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        const uint32_t t = d;
        d = c;
        c = b;
        b = b + ln__rol(a + f + ln__md5_t[i] + m[g], ln__md5_s[i]);
        a = t;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

static void ln__sha1_block(uint32_t st[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = ln__be32(p + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = ln__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        const uint32_t t = ln__rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = ln__rol(b, 30);
        b = a;
        a = t;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
}

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of
 * the cube roots of the first 64 primes. */
static const uint32_t ln__sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static void ln__sha256_block(uint32_t st[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = ln__be32(p + 4 * i);
    for (int i = 16; i < 64; i++) {
        const uint32_t s0 = ln__ror(w[i - 15], 7) ^ ln__ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = ln__ror(w[i - 2], 17) ^ ln__ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        const uint32_t t1 = h + (ln__ror(e, 6) ^ ln__ror(e, 11) ^ ln__ror(e, 25)) +
                            ((e & f) ^ (~e & g)) + ln__sha256_k[i] + w[i];
        const uint32_t t2 =
            (ln__ror(a, 2) ^ ln__ror(a, 13) ^ ln__ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

static void ln__block(struct ln_hash *h, const uint8_t *p)
{
    switch (h->kind) {
    case LN_HASH_MD5:
        ln__md5_block(h->state, p);
        break;
    case LN_HASH_SHA1:
        ln__sha1_block(h->state, p);
        break;
    case LN_HASH_SHA256:
        ln__sha256_block(h->state, p);
        break;
    }
}

void ln_hash_init(struct ln_hash *h, enum ln_hash_kind kind)
{
    static const uint32_t md5[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    static const uint32_t sha1[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    static const uint32_t sha256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(h, 0, sizeof *h);
    h->kind = kind;
    if (kind == LN_HASH_MD5)
        memcpy(h->state, md5, sizeof md5);
    else if (kind == LN_HASH_SHA1)
        memcpy(h->state, sha1, sizeof sha1);
    else
        memcpy(h->state, sha256, sizeof sha256);
}

void ln_hash_update(struct ln_hash *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->n_bytes += n;
    if (h->n_block) {
        const size_t take = n < 64 - h->n_block ? n : 64 - h->n_block;
        memcpy(h->block + h->n_block, p, take);
        h->n_block += take;
        p += take;
        n -= take;
        if (h->n_block < 64)
            return;
        ln__block(h, h->block);
        h->n_block = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        ln__block(h, p);
    memcpy(h->block, p, n);
    h->n_block = n;
}

void ln_hash_final_hex(struct ln_hash *h, char hex[LN_HASH_HEX_MAX])
{
    /* Padding: 0x80, zeros to 56 mod 64, the length in bits (64 bits,
     * little-endian for MD5, big-endian for the SHAs). */
    const uint64_t bits = h->n_bytes * 8;
    uint8_t pad[72] = {0x80};
    const size_t n_pad = (h->n_block < 56 ? 56 : 120) - h->n_block;
    for (int i = 0; i < 8; i++)
        pad[n_pad + (size_t)i] =
            h->kind == LN_HASH_MD5 ? (uint8_t)(bits >> (8 * i)) : (uint8_t)(bits >> (56 - 8 * i));
    ln_hash_update(h, pad, n_pad + 8);
    const int n_words = h->kind == LN_HASH_MD5 ? 4 : h->kind == LN_HASH_SHA1 ? 5 : 8;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n_words; i++) {
        for (int j = 0; j < 4; j++) {
            const int shift = h->kind == LN_HASH_MD5 ? 8 * j : 24 - 8 * j;
            const uint8_t byte = (uint8_t)(h->state[i] >> shift);
            hex[8 * i + 2 * j] = digits[byte >> 4];
            hex[8 * i + 2 * j + 1] = digits[byte & 15];
        }
    }
    hex[8 * n_words] = 0;
}

int ln_hash_file(const char *path, enum ln_hash_kind kind, const void *prefix, size_t n_prefix,
                 char hex[LN_HASH_HEX_MAX], struct ln_error *err)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ln_error_set(err, errno == ENOENT ? LN_ENOTFOUND : LN_EIO, "%s: %s", path,
                            strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return ln_error_set(err, LN_ENOMEM, "out of memory hashing %s", path);
    }
    struct ln_hash h;
    ln_hash_init(&h, kind);
    if (prefix)
        ln_hash_update(&h, prefix, n_prefix);
    int rc = LN_OK;
    for (;;) {
        const ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = ln_error_set(err, LN_EIO, "reading %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        ln_hash_update(&h, buf, (size_t)got);
    }
    free(buf);
    close(fd);
    if (rc == LN_OK)
        ln_hash_final_hex(&h, hex);
    return rc;
}

int ln_hash_git_blob(const char *path, char hex[LN_HASH_HEX_MAX], struct ln_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return ln_error_set(err, errno == ENOENT ? LN_ENOTFOUND : LN_EIO, "%s: %s", path,
                            strerror(errno));
    char header[48];
    const int n = snprintf(header, sizeof header, "blob %lld", (long long)st.st_size);
    /* The NUL that ends git's header is part of what is hashed. */
    return ln_hash_file(path, LN_HASH_SHA1, header, (size_t)n + 1, hex, err);
}
