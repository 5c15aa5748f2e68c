/*
 * Private interface between the mesh-file dispatcher (ln_export.c) and the
 * per-format writers and readers (ln_export_glb.c, _obj.c, _ply.c, _stl.c).
 * Not part of the mesh floor's public headers.
 *
 * Writers receive a mesh that ln_mesh_encode has checked: at least one
 * face, every index in range, finite positions, and normals present (except
 * for STL). Readers receive untrusted bytes and a zeroed mesh; on failure
 * they may leave partial arrays in it, which the dispatcher frees.
 */
#ifndef LN_EXPORT_INT_H
#define LN_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_file.h"
#include "ln_mesh.h"

/* Refuses a mesh no writer may write: empty, an index out of range, a
 * non-finite position or texture coordinate. */
int ln__mesh_check(const struct ln_mesh *m, struct ln_error *err);
int ln__glb_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err);
/* mtl: the material library to name (a textured mesh saved to a file), or
 * NULL. */
int ln__obj_encode(const struct ln_mesh *m, const char *mtl, struct ln_buf *out,
                   struct ln_error *err);
/* A textured mesh's OBJ files named after the first stem_len bytes of
 * stem: the text of stem.mtl (naming stem.png or stem.jpg, by the texture's
 * kind, as map_Kd) into mtl and the OBJ that uses it into obj; the two
 * names into mtl_name and img_name. */
int ln__obj_textured_parts(const struct ln_mesh *m, const char *stem, size_t stem_len,
                           char mtl_name[512], char img_name[512], struct ln_buf *mtl,
                           struct ln_buf *obj, struct ln_error *err);
int ln__ply_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err);
int ln__stl_encode(const struct ln_mesh *m, struct ln_buf *out, struct ln_error *err);

int ln__glb_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err);
int ln__obj_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err);
int ln__ply_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err);
int ln__stl_decode(const uint8_t *data, size_t len, struct ln_mesh *out, struct ln_error *err);

/* c clamped to [0, 1]; NaN becomes 0. */
float ln__clamp01(float c);
/* out = in / |in|, or (0, 1, 0) when in has no direction. out may be in. */
void ln__unit3(const float *in, float *out);
uint32_t ln__u32le(const uint8_t *p);
float ln__f32le(const uint8_t *p);

/* Text readers work on a NUL-terminated copy so that strtod and friends
 * can never run past the input. A NUL inside the data is LN_EFORMAT. */
int ln__text_copy(const uint8_t *data, size_t len, const char *format, char **out,
                  struct ln_error *err);
int ln__is_space(char c);
char *ln__skip_space(char *s);
/* Parses one number that must end at white space or the end of the text;
 * advances *s past it. Returns 0 or -1. */
int ln__parse_double(char **s, double *v);

#endif
