/*
 * Mesh files: glTF 2.0 binary (.glb, the primary format), OBJ with vertex
 * colours, binary little-endian PLY with colours, binary STL; writers and
 * readers for each (readers serve format conversion and round-trip tests).
 *
 * GLB: one mesh, one primitive with POSITION, NORMAL, COLOR_0 (float RGB,
 * linear: converted from the mesh's sRGB colours) and uint32 indices, an
 * explicit PBR material (baseColorFactor white, metallicFactor 0,
 * roughnessFactor 1, doubleSided false), accessor min/max on POSITION;
 * valid for the Khronos glTF-Validator with no errors and no warnings.
 * A mesh with UVs and a texture gets TEXCOORD_0 instead of COLOR_0 and the
 * image embedded as the material's baseColorTexture (linear filtering with
 * mipmaps, clamped at the edges); the reader gives both back. The other
 * formats ignore UVs and textures for now.
 * OBJ: "v x y z r g b" (sRGB), "vn", faces "f a//a b//b c//c".
 * PLY: binary_little_endian 1.0, float x y z nx ny nz, uchar red green blue,
 * faces as uchar count + uint vertex_indices.
 * STL: binary, 80-byte header, per-face normal, no colour.
 *
 *     if (ln_mesh_save(&mesh, "chair.glb", LN_MESH_FORMAT_GLB, &err) < 0) ...
 *
 * Saving writes a temporary file and renames it, so a failed save leaves no
 * partial file at the destination. Reentrant.
 */
#ifndef LN_EXPORT_H
#define LN_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_file.h"
#include "ln_mesh.h"

enum ln_mesh_format {
    LN_MESH_FORMAT_GLB,
    LN_MESH_FORMAT_OBJ,
    LN_MESH_FORMAT_PLY,
    LN_MESH_FORMAT_STL,
    LN_MESH_FORMAT_COUNT,
};

/* From a name such as "glb" or "GLB"; -1 if unknown. */
int ln_mesh_format_parse(const char *name);
/* From a path's extension (".glb", ".obj", ".ply", ".stl"); -1 if unknown. */
int ln_mesh_format_from_path(const char *path);
/* "glb", "obj", "ply", "stl". */
const char *ln_mesh_format_ext(enum ln_mesh_format fmt);
/* MIME type for HTTP: model/gltf-binary, model/obj, application/x-ply (PLY),
 * model/stl. */
const char *ln_mesh_format_mime(enum ln_mesh_format fmt);

/* Encodes into out (appended). Normals are computed on a copy if the mesh
 * has none. */
int ln_mesh_encode(const struct ln_mesh *m, enum ln_mesh_format fmt, struct ln_buf *out,
                   struct ln_error *err);

/* Decodes what ln_mesh_encode writes (and reasonable files of the same
 * format from other tools: OBJ with or without colours and normals,
 * polygon faces fanned; PLY binary or ASCII with float/double positions;
 * GLB with one or more triangle primitives). Colours become sRGB.
 * LN_EFORMAT for anything malformed. */
int ln_mesh_decode(const uint8_t *data, size_t len, enum ln_mesh_format fmt, struct ln_mesh *out,
                   struct ln_error *err);

/* Encodes and writes atomically. */
int ln_mesh_save(const struct ln_mesh *m, const char *path, enum ln_mesh_format fmt,
                 struct ln_error *err);
/* The OBJ with what it refers to, as one zip archive appended to out:
 * STEM.obj, and for a textured mesh STEM.mtl and the texture as STEM.png
 * or STEM.jpg, the names the OBJ and its material use. stem is a plain file
 * name (no folder). */
int ln_mesh_encode_obj_zip(const struct ln_mesh *m, const char *stem, struct ln_buf *out,
                           struct ln_error *err);
/* Reads and decodes a file, format from its extension. */
int ln_mesh_load(const char *path, struct ln_mesh *out, struct ln_error *err);

/* sRGB <-> linear transfer functions (IEC 61966-2-1). */
float ln_srgb_to_linear(float c);
float ln_linear_to_srgb(float c);

#endif
