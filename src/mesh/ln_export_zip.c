/*
 * An OBJ with everything it refers to, as one zip archive: the form a
 * browser or an HTTP client downloads in one request. A textured mesh
 * gives STEM.obj, STEM.mtl and STEM.png (or .jpg), the names the OBJ and
 * the material use; a mesh without a texture gives STEM.obj alone. The
 * text files are deflated, the image (already compressed) is stored.
 *
 * libzip (Debian's libzip-dev) writes the archive into a memory source
 * kept open across zip_close, whose bytes are then read out, so callers
 * write the result atomically like any other encoded mesh.
 */
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "ln_export.h"
#include "ln_export_int.h"

/* Adds one entry from memory the caller keeps alive until zip_close. */
static int ln__zip_add(zip_t *za, const char *name, const void *data, size_t len, int store,
                       struct ln_error *err)
{
    zip_source_t *s = zip_source_buffer(za, data, len, 0);
    zip_int64_t idx = s ? zip_file_add(za, name, s, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        zip_source_free(s);
        return ln_error_set(err, LN_ENOMEM, "zip: cannot add %s: %s", name,
                            zip_error_strerror(zip_get_error(za)));
    }
    if (zip_set_file_compression(za, (zip_uint64_t)idx, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE,
                                 0) < 0)
        return ln_error_set(err, LN_EIO, "zip: %s: %s", name,
                            zip_error_strerror(zip_get_error(za)));
    return LN_OK;
}

/* The bytes a closed archive left in its memory source, appended to out. */
static int ln__zip_read_out(zip_source_t *src, struct ln_buf *out, struct ln_error *err)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_open(src) < 0)
        return ln_error_set(err, LN_EIO, "zip: %s", zip_error_strerror(zip_source_error(src)));
    int rc = LN_OK;
    if (zip_source_stat(src, &st) < 0 || !(st.valid & ZIP_STAT_SIZE)) {
        rc = ln_error_set(err, LN_EIO, "zip: the archive's size is unknown");
    } else {
        size_t start = out->len;
        if (ln_buf_reserve(out, (size_t)st.size) < 0) {
            rc = ln_error_set(err, LN_ENOMEM, "out of memory for a zip of %llu bytes",
                              (unsigned long long)st.size);
        } else {
            zip_int64_t got = zip_source_read(src, out->data + start, st.size);
            if (got < 0 || (zip_uint64_t)got != st.size)
                rc = ln_error_set(err, LN_EIO, "zip: reading the archive back failed");
            else
                out->len = start + (size_t)got;
        }
    }
    zip_source_close(src);
    return rc;
}

int ln_mesh_encode_obj_zip(const struct ln_mesh *m, const char *stem, struct ln_buf *out,
                           struct ln_error *err)
{
    size_t stem_len = stem ? strlen(stem) : 0;
    if (stem_len == 0 || stem_len > 200 || strpbrk(stem, "/\\:") || stem[0] == '.')
        return ln_error_set(err, LN_EINVAL, "zip: \"%.40s\" is not a plain file name",
                            stem ? stem : "");
    char obj_name[512], mtl_name[512], img_name[512];
    snprintf(obj_name, sizeof obj_name, "%s.obj", stem);
    struct ln_buf mtl = {0}, obj = {0};
    int textured = m && m->uvs && m->texture.data && m->texture.size > 0;
    int rc;
    if (textured) {
        rc = ln__mesh_check(m, err);
        if (rc == LN_OK)
            rc = ln__obj_textured_parts(m, stem, stem_len, mtl_name, img_name, &mtl, &obj, err);
    } else {
        rc = ln_mesh_encode(m, LN_MESH_FORMAT_OBJ, &obj, err);
    }
    if (rc < 0)
        goto out;

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za) {
        rc = ln_error_set(err, LN_ENOMEM, "zip: %s", zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        goto out;
    }
    zip_error_fini(&ze);
    zip_source_keep(src); /* its bytes are read after zip_close */
    rc = ln__zip_add(za, obj_name, obj.data, obj.len, 0, err);
    if (rc == LN_OK && textured)
        rc = ln__zip_add(za, mtl_name, mtl.data, mtl.len, 0, err);
    if (rc == LN_OK && textured)
        rc = ln__zip_add(za, img_name, m->texture.data, m->texture.size, 1, err);
    if (rc < 0) {
        zip_discard(za);
    } else if (zip_close(za) < 0) {
        rc = ln_error_set(err, LN_EIO, "zip: %s", zip_error_strerror(zip_get_error(za)));
        zip_discard(za);
    } else {
        rc = ln__zip_read_out(src, out, err);
    }
    zip_source_free(src);
out:
    ln_buf_free(&mtl);
    ln_buf_free(&obj);
    return rc;
}
