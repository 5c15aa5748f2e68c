/* Unit tests of the checksums: the test vectors of RFC 1321 (MD5) and FIPS
 * 180-4's examples (SHA-1, SHA-256), the same digests fed in pieces of
 * every awkward length, and whole files checked against Python's hashlib
 * and `git hash-object` on the golden checkpoint and configuration. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ln_hash.h"

static void expect(enum ln_hash_kind kind, const char *msg, const char *hex)
{
    struct ln_hash h;
    char got[LN_HASH_HEX_MAX];
    ln_hash_init(&h, kind);
    ln_hash_update(&h, msg, strlen(msg));
    ln_hash_final_hex(&h, got);
    assert_string_equal(got, hex);
}

static void test_md5_vectors(void **state)
{
    (void)state;
    expect(LN_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
    expect(LN_HASH_MD5, "a", "0cc175b9c0f1b6a831c399e269772661");
    expect(LN_HASH_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72");
    expect(LN_HASH_MD5, "message digest", "f96b697d7cb7938d525a2f31aaf161d0");
    expect(LN_HASH_MD5, "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b");
    expect(LN_HASH_MD5,
           "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
           "57edf4a22be3c955ac49da2e2107b67a");
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    expect(LN_HASH_SHA1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(LN_HASH_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(LN_HASH_SHA1, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    expect(LN_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(LN_HASH_SHA256, "abc",
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(LN_HASH_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a', fed 1000 at a time. */
    struct ln_hash h;
    char got[LN_HASH_HEX_MAX], block[1000];
    memset(block, 'a', sizeof block);
    ln_hash_init(&h, LN_HASH_SHA256);
    for (int i = 0; i < 1000; i++)
        ln_hash_update(&h, block, sizeof block);
    ln_hash_final_hex(&h, got);
    assert_string_equal(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The digest does not depend on how the bytes are split: every split of a
 * 200-byte message (lengths around the 55/56/64-byte padding edges)
 * matches the one-piece digest, for each kind. */
static void test_split_updates(void **state)
{
    (void)state;
    uint8_t msg[200];
    for (int i = 0; i < 200; i++)
        msg[i] = (uint8_t)(i * 37 + 11);
    for (int kind = LN_HASH_MD5; kind <= LN_HASH_SHA256; kind++) {
        for (size_t len = 0; len <= sizeof msg; len += 1) {
            struct ln_hash whole, parts;
            char a[LN_HASH_HEX_MAX], b[LN_HASH_HEX_MAX];
            ln_hash_init(&whole, (enum ln_hash_kind)kind);
            ln_hash_update(&whole, msg, len);
            ln_hash_final_hex(&whole, a);
            ln_hash_init(&parts, (enum ln_hash_kind)kind);
            for (size_t at = 0, step = 1; at < len; step = step % 70 + 3) {
                const size_t n = len - at < step ? len - at : step;
                ln_hash_update(&parts, msg + at, n);
                at += n;
            }
            ln_hash_final_hex(&parts, b);
            assert_string_equal(a, b);
        }
    }
}

/* Whole files against Python's hashlib and `git hash-object`. */
static void test_files(void **state)
{
    (void)state;
    char hex[LN_HASH_HEX_MAX];
    struct ln_error err = {0};
    const char *ckpt = ln_test_data("triposr-tiny/model.ckpt");
    assert_int_equal(ln_hash_file(ckpt, LN_HASH_SHA256, NULL, 0, hex, &err), 0);
    assert_string_equal(hex, "cb02a95633e0b84b902bbb3a667366472ff2b93995ca120c28003289db617d3c");
    assert_int_equal(ln_hash_file(ckpt, LN_HASH_MD5, NULL, 0, hex, &err), 0);
    assert_string_equal(hex, "63221d0dede5468327f7b08b45b5d2c3");
    assert_int_equal(ln_hash_git_blob(ckpt, hex, &err), 0);
    assert_string_equal(hex, "6e886f4285f5c722547768f05d3e3a81b5dd01ca");
    assert_int_equal(ln_hash_git_blob(ln_test_data("triposr-tiny/config.yaml"), hex, &err), 0);
    assert_string_equal(hex, "b0668dfc0f0ea9d296b38c7ce9e3ad5e9b1541fe");
    assert_int_equal(
        ln_hash_file(ln_test_data("triposr-tiny/no-such-file"), LN_HASH_SHA256, NULL, 0, hex, &err),
        LN_ENOTFOUND);
    assert_non_null(strstr(err.message, "no-such-file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_vectors),    cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_split_updates),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
