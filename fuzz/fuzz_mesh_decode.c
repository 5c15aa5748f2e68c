/*
 * libFuzzer target for the mesh readers (GLB, OBJ, PLY, STL), which the
 * server uses to convert stored results and which may see files from other
 * tools. The first byte picks the format; the rest is the file.
 */
#include <stddef.h>
#include <stdint.h>

#include "ln_export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ln_mesh m = {0};
    struct ln_error err = {0};
    if (ln_mesh_decode(data + 1, size - 1, (enum ln_mesh_format)(data[0] % LN_MESH_FORMAT_COUNT),
                       &m, &err) == 0)
        ln_mesh_free(&m);
    return 0;
}
