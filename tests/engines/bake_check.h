/*
 * Shared by the engine tests of baked textures: the mean difference
 * between a textured run's texture, read at each vertex's UV (nearest
 * texel of the decoded image), and the vertex colour an untextured run of
 * the same engine on the same input gives at the same place. Every
 * textured vertex must have an untextured vertex at exactly its position
 * (the atlas duplicates vertices along seams, it never moves them).
 */
#ifndef LN_TEST_BAKE_CHECK_H
#define LN_TEST_BAKE_CHECK_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ln_image.h"
#include "ln_mesh.h"
#include "testutil.h"

static double ln_test_texture_vs_vertex_colours(const struct ln_mesh *plain,
                                                const struct ln_mesh *tex)
{
    struct ln_image t = {0};
    struct ln_error err = {0};
    assert_int_equal(tex->n_faces, plain->n_faces);
    assert_non_null(tex->uvs);
    assert_int_equal(ln_image_decode(tex->texture.data, tex->texture.size, NULL, &t, &err), 0);
    double sum = 0.0;
    size_t count = 0;
    for (size_t v = 0; v < tex->n_vertices; v++) {
        size_t w = SIZE_MAX;
        for (size_t u = 0; u < plain->n_vertices && w == SIZE_MAX; u++)
            if (!memcmp(plain->positions + 3 * u, tex->positions + 3 * v, 3 * sizeof(float)))
                w = u;
        assert_true(w != SIZE_MAX);
        int x = (int)floorf(tex->uvs[2 * v] * (float)t.width);
        int y = (int)floorf(tex->uvs[2 * v + 1] * (float)t.height);
        const uint8_t *px = t.data + ((size_t)y * (size_t)t.width + (size_t)x) * (size_t)t.channels;
        for (int k = 0; k < 3; k++, count++)
            sum += fabs(px[k] / 255.0 - plain->colors[3 * w + (size_t)k]);
    }
    ln_image_free(&t);
    return count ? sum / (double)count : 0.0;
}

#endif
