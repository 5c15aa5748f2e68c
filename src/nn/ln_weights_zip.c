/*
 * PyTorch zip checkpoints as torch.save writes them (docs/TRIPOSR.md
 * section 14.1): a zip archive of stored entries whose local headers carry
 * no sizes, so everything comes from the central directory (zip64 records
 * when the classic fields are saturated) and each entry's data starts
 * after the local header's own extra field. The archive prefix varies, so
 * the entry ending in "/data.pkl" names it; that pickle is run by
 * ln_weights_pickle.c, which asks back here for the bytes of each storage
 * "<prefix>/data/<key>".
 */
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_weights_int.h"

struct ln__zip_entry {
    const char *name; /* into the mapping, not NUL-terminated */
    size_t name_len;
    uint16_t method;
    uint16_t flags;
    uint64_t csize, usize, local_offset;
};

struct ln__zip {
    struct ln_weights *w;
    struct ln__zip_entry *entries;
    size_t n_entries;
    struct ln__zip_entry **sorted; /* by name */
    const char *prefix;            /* "<prefix>/", into the mapping */
    size_t prefix_len;
};

static uint16_t ln__u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ln__u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ln__u64(const uint8_t *p)
{
    return (uint64_t)ln__u32(p) | (uint64_t)ln__u32(p + 4) << 32;
}

static int ln__name_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c;
    return na < nb ? -1 : na > nb;
}

static int ln__entry_cmp(const void *a, const void *b)
{
    const struct ln__zip_entry *ea = *(struct ln__zip_entry *const *)a;
    const struct ln__zip_entry *eb = *(struct ln__zip_entry *const *)b;
    return ln__name_cmp(ea->name, ea->name_len, eb->name, eb->name_len);
}

static const struct ln__zip_entry *ln__zip_find(const struct ln__zip *z, const char *name,
                                                size_t name_len)
{
    size_t lo = 0, hi = z->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ln__zip_entry *e = z->sorted[mid];
        int c = ln__name_cmp(e->name, e->name_len, name, name_len);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The entry's data inside the file, from its local header. Only stored
 * entries are readable: torch.save never compresses. */
static int ln__zip_data(const struct ln__zip *z, const struct ln__zip_entry *e,
                        const uint8_t **data, size_t *size, struct ln_error *err)
{
    struct ln_weights *w = z->w;
    const int shown = e->name_len > 120 ? 120 : (int)e->name_len;
    if (e->flags & 1)
        return ln__weights_fail(w, err, "zip entry %.*s is encrypted", shown, e->name);
    if (e->method != 0)
        return ln__weights_fail(w, err,
                                "zip entry %.*s is compressed (method %u); only stored entries "
                                "are supported",
                                shown, e->name, e->method);
    if (e->csize != e->usize)
        return ln__weights_fail(w, err, "zip entry %.*s has differing stored sizes", shown,
                                e->name);
    const uint64_t len = w->len;
    if (e->local_offset > len || len - e->local_offset < 30)
        return ln__weights_fail(w, err, "zip entry %.*s: local header outside the file", shown,
                                e->name);
    const uint8_t *lh = w->data + e->local_offset;
    if (ln__u32(lh) != 0x04034b50)
        return ln__weights_fail(w, err, "zip entry %.*s: bad local header signature", shown,
                                e->name);
    const uint64_t lname = ln__u16(lh + 26), lextra = ln__u16(lh + 28);
    const uint64_t start = e->local_offset + 30 + lname + lextra;
    if (lname != e->name_len || start > len || memcmp(lh + 30, e->name, e->name_len) != 0)
        return ln__weights_fail(w, err,
                                "zip entry %.*s: local header does not match the central "
                                "directory",
                                shown, e->name);
    if (e->csize > len - start)
        return ln__weights_fail(w, err,
                                "zip entry %.*s: data runs past the end of the file "
                                "(truncated?)",
                                shown, e->name);
    *data = w->data + start;
    *size = (size_t)e->csize;
    return 0;
}

static int ln__zip_storage(void *user, const char *key, size_t key_len, enum ln_dtype dt,
                           int64_t numel, const void **data, size_t *bytes, struct ln_error *err)
{
    struct ln__zip *z = user;
    struct ln_weights *w = z->w;
    const int shown = key_len > 60 ? 60 : (int)key_len;
    char name[512];
    if (z->prefix_len + 5 + key_len >= sizeof name || memchr(key, '/', key_len))
        return ln__weights_fail(w, err, "data.pkl: malformed storage key %.*s", shown, key);
    memcpy(name, z->prefix, z->prefix_len);
    memcpy(name + z->prefix_len, "data/", 5);
    memcpy(name + z->prefix_len + 5, key, key_len);
    const size_t name_len = z->prefix_len + 5 + key_len;
    const struct ln__zip_entry *e = ln__zip_find(z, name, name_len);
    if (!e)
        return ln__weights_fail(w, err, "storage entry %.*s is missing from the archive",
                                (int)name_len, name);
    const uint8_t *p;
    size_t size;
    int rc = ln__zip_data(z, e, &p, &size, err);
    if (rc < 0)
        return rc;
    const uint64_t esize = ln_dtype_size(dt);
    if (numel < 0 || (uint64_t)numel > (uint64_t)LN__WEIGHTS_MAX_TENSOR_BYTES / esize ||
        (uint64_t)numel * esize > size)
        return ln__weights_fail(w, err,
                                "storage entry %.*s holds %zu bytes, fewer than its %lld %s "
                                "elements need",
                                (int)name_len, name, size, (long long)numel, ln_dtype_name(dt));
    *data = p;
    *bytes = size;
    return 0;
}

/* Locates the end of central directory (classic, and zip64 if present)
 * and returns the directory's offset, size and entry count. */
static int ln__zip_eocd(struct ln_weights *w, uint64_t *cd_off, uint64_t *cd_size,
                        uint64_t *n_entries, struct ln_error *err)
{
    const uint8_t *d = w->data;
    const size_t n = w->len;
    if (n < 22)
        return ln__weights_fail(w, err, "zip archive too short (truncated?)");
    size_t eocd = SIZE_MAX;
    const size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;) {
        /* The comment must end exactly at the end of the file, which tells
         * a real record from the same four bytes inside data. */
        if (ln__u32(d + p) == 0x06054b50 && p + 22 + ln__u16(d + p + 20) <= n) {
            eocd = p;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        return ln__weights_fail(w, err,
                                "zip end-of-central-directory record not found (truncated "
                                "file?)");
    uint64_t disk = ln__u16(d + eocd + 4), cd_disk = ln__u16(d + eocd + 6);
    uint64_t count = ln__u16(d + eocd + 10);
    uint64_t size = ln__u32(d + eocd + 12), off = ln__u32(d + eocd + 16);
    uint64_t end = eocd; /* the directory must end before this */

    if (eocd >= 20 && ln__u32(d + eocd - 20) == 0x07064b50) {
        const uint64_t rec = ln__u64(d + eocd - 20 + 8);
        if (rec > eocd - 20 || eocd - 20 - rec < 56 || ln__u32(d + rec) != 0x06064b50)
            return ln__weights_fail(w, err, "zip64 end-of-central-directory record is damaged");
        const uint8_t *z = d + rec;
        if (disk == 0xFFFF)
            disk = ln__u32(z + 16);
        if (cd_disk == 0xFFFF)
            cd_disk = ln__u32(z + 20);
        if (count == 0xFFFF)
            count = ln__u64(z + 32);
        if (size == 0xFFFFFFFF)
            size = ln__u64(z + 40);
        if (off == 0xFFFFFFFF)
            off = ln__u64(z + 48);
        end = rec;
    } else if (count == 0xFFFF || size == 0xFFFFFFFF || off == 0xFFFFFFFF) {
        return ln__weights_fail(w, err,
                                "zip64 archive without its zip64 end-of-central-directory "
                                "locator (truncated?)");
    }
    if (disk != 0 || cd_disk != 0)
        return ln__weights_fail(w, err, "multi-part zip archives are not supported");
    if (off > end || size > end - off)
        return ln__weights_fail(w, err,
                                "zip central directory lies outside the file "
                                "(truncated?)");
    if (count > size / 46)
        return ln__weights_fail(w, err, "zip central directory is too small for %llu entries",
                                (unsigned long long)count);
    *cd_off = off;
    *cd_size = size;
    *n_entries = count;
    return 0;
}

/* Applies the zip64 extended-information extra field to the saturated
 * fields of one central-directory entry. */
static int ln__zip64_extra(const uint8_t *x, size_t n, struct ln__zip_entry *e, uint32_t csize32,
                           uint32_t usize32, uint32_t off32)
{
    while (n >= 4) {
        const uint16_t id = ln__u16(x), len = ln__u16(x + 2);
        if ((size_t)len > n - 4)
            return -1;
        if (id == 0x0001) {
            const uint8_t *p = x + 4, *pend = x + 4 + len;
            if (usize32 == 0xFFFFFFFF) {
                if (pend - p < 8)
                    return -1;
                e->usize = ln__u64(p);
                p += 8;
            }
            if (csize32 == 0xFFFFFFFF) {
                if (pend - p < 8)
                    return -1;
                e->csize = ln__u64(p);
                p += 8;
            }
            if (off32 == 0xFFFFFFFF) {
                if (pend - p < 8)
                    return -1;
                e->local_offset = ln__u64(p);
            }
            return 0;
        }
        x += 4 + len;
        n -= 4 + (size_t)len;
    }
    return (csize32 == 0xFFFFFFFF || usize32 == 0xFFFFFFFF || off32 == 0xFFFFFFFF) ? -1 : 0;
}

static int ln__zip_read_directory(struct ln__zip *z, struct ln_error *err)
{
    struct ln_weights *w = z->w;
    uint64_t off = 0, size = 0, count = 0;
    int rc = ln__zip_eocd(w, &off, &size, &count, err);
    if (rc < 0)
        return rc;
    z->entries = ln_xcalloc(count ? count : 1, sizeof *z->entries);
    const uint8_t *p = w->data + off, *end = p + size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || ln__u32(p) != 0x02014b50)
            return ln__weights_fail(w, err, "zip central directory entry %llu is damaged",
                                    (unsigned long long)i);
        struct ln__zip_entry *e = &z->entries[z->n_entries];
        const size_t name_len = ln__u16(p + 28), extra_len = ln__u16(p + 30),
                     comment_len = ln__u16(p + 32);
        if ((size_t)(end - p) - 46 < name_len + extra_len + comment_len)
            return ln__weights_fail(w, err, "zip central directory entry %llu is damaged",
                                    (unsigned long long)i);
        e->flags = ln__u16(p + 8);
        e->method = ln__u16(p + 10);
        const uint32_t csize32 = ln__u32(p + 20), usize32 = ln__u32(p + 24),
                       off32 = ln__u32(p + 42);
        e->csize = csize32;
        e->usize = usize32;
        e->local_offset = off32;
        e->name = (const char *)p + 46;
        e->name_len = name_len;
        if (ln__zip64_extra(p + 46 + name_len, extra_len, e, csize32, usize32, off32) < 0)
            return ln__weights_fail(w, err, "zip64 extra field of entry %.*s is damaged",
                                    (int)(name_len > 120 ? 120 : name_len), e->name);
        z->n_entries++;
        p += 46 + name_len + extra_len + comment_len;
    }
    z->sorted = ln_xmalloc((z->n_entries ? z->n_entries : 1) * sizeof *z->sorted);
    for (size_t i = 0; i < z->n_entries; i++)
        z->sorted[i] = &z->entries[i];
    qsort(z->sorted, z->n_entries, sizeof *z->sorted, ln__entry_cmp);
    return 0;
}

static int ln__ends_with(const char *s, size_t n, const char *suffix)
{
    const size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Finds the data.pkl entry and the archive prefix; refuses TorchScript. */
static int ln__zip_prefix(struct ln__zip *z, const struct ln__zip_entry **pkl, struct ln_error *err)
{
    struct ln_weights *w = z->w;
    *pkl = NULL;
    for (size_t i = 0; i < z->n_entries; i++) {
        const struct ln__zip_entry *e = &z->entries[i];
        if (!ln__ends_with(e->name, e->name_len, "/data.pkl"))
            continue;
        const size_t plen = e->name_len - strlen("data.pkl");
        /* The prefix is one folder; a deeper data.pkl is some other file. */
        if (memchr(e->name, '/', plen - 1))
            continue;
        *pkl = e;
        z->prefix = e->name;
        z->prefix_len = plen;
        break;
    }
    for (size_t i = 0; i < z->n_entries; i++) {
        const struct ln__zip_entry *e = &z->entries[i];
        const char *slash = memchr(e->name, '/', e->name_len);
        if (!slash)
            continue;
        const size_t rest = e->name_len - (size_t)(slash + 1 - e->name);
        if ((rest == strlen("constants.pkl") && memcmp(slash + 1, "constants.pkl", rest) == 0) ||
            (rest > 5 && memcmp(slash + 1, "code/", 5) == 0))
            return ln__weights_fail(w, err,
                                    "a TorchScript archive (torch.jit.save), not a state dict "
                                    "saved with torch.save; export model.state_dict() instead");
    }
    if (!*pkl)
        return ln__weights_fail(w, err,
                                "zip archive without a <prefix>/data.pkl entry: not a PyTorch "
                                "checkpoint");
    return 0;
}

static int ln__zip_byteorder(struct ln__zip *z, struct ln_error *err)
{
    char name[512];
    if (z->prefix_len + strlen("byteorder") >= sizeof name)
        return 0;
    memcpy(name, z->prefix, z->prefix_len);
    memcpy(name + z->prefix_len, "byteorder", strlen("byteorder"));
    const struct ln__zip_entry *e = ln__zip_find(z, name, z->prefix_len + strlen("byteorder"));
    if (!e)
        return 0; /* written before torch 2.1: always little-endian */
    const uint8_t *p;
    size_t n;
    int rc = ln__zip_data(z, e, &p, &n, err);
    if (rc < 0)
        return rc;
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    if (n == 6 && memcmp(p, "little", 6) == 0)
        return 0;
    if (n == 3 && memcmp(p, "big", 3) == 0)
        return ln__weights_fail(z->w, err, "big-endian tensor data is not supported");
    return ln__weights_fail(z->w, err, "unrecognised byteorder entry (expected \"little\")");
}

int ln__weights_load_torch_zip(struct ln_weights *w, struct ln_error *err)
{
    struct ln__zip z = {.w = w};
    const struct ln__zip_entry *pkl;
    const uint8_t *pkl_data;
    size_t pkl_len;
    int rc;
    if ((rc = ln__zip_read_directory(&z, err)) < 0)
        goto cleanup;
    if ((rc = ln__zip_prefix(&z, &pkl, err)) < 0)
        goto cleanup;
    if ((rc = ln__zip_byteorder(&z, err)) < 0)
        goto cleanup;
    if ((rc = ln__zip_data(&z, pkl, &pkl_data, &pkl_len, err)) < 0)
        goto cleanup;
    rc = ln__pickle_load_state_dict(w, pkl_data, pkl_len, ln__zip_storage, &z, err);

cleanup:
    free(z.sorted);
    free(z.entries);
    return rc;
}
