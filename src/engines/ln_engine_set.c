/*
 * The engine set: how a server that has loaded several engines chooses one
 * per job. The choice depends only on the name asked for and the image
 * count, so the HTTP layer can answer a bad choice with 400 before a job
 * exists, and the worker finds the same engine again by name.
 */
#include <stdio.h>
#include <string.h>

#include "ln_engine.h"

int ln_engine_accepts(const struct ln_engine *eng, size_t n_images)
{
    int max = eng->ops->max_images;
    return n_images >= 1 && n_images <= (size_t)(max > 0 ? max : LN_MAX_VIEWS);
}

const struct ln_engine *ln_engine_set_find(const struct ln_engine_set *set, const char *name)
{
    if (!set || !name)
        return NULL;
    for (int i = 0; i < set->n; i++)
        if (set->engines[i] && strcmp(ln_engine_name(set->engines[i]), name) == 0)
            return set->engines[i];
    return NULL;
}

void ln_engine_set_names(const struct ln_engine_set *set, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0)
        return;
    buf[0] = 0;
    for (int i = 0; set && i < set->n && len < n; i++) {
        if (!set->engines[i])
            continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                         ln_engine_name(set->engines[i]));
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

const struct ln_engine *ln_engine_set_pick(const struct ln_engine_set *set,
                                           const char *name_or_null, size_t n_images,
                                           struct ln_error *err)
{
    char names[128];
    ln_engine_set_names(set, names, sizeof names);
    if (name_or_null && *name_or_null) {
        const struct ln_engine *eng = ln_engine_set_find(set, name_or_null);
        if (!eng) {
            ln_error_set(err, LN_EINVAL, "engine '%.64s' is not available (available: %s)",
                         name_or_null, names);
            return NULL;
        }
        if (!ln_engine_accepts(eng, n_images)) {
            int max = eng->ops->max_images;
            if (max == 1)
                ln_error_set(err, LN_EINVAL, "the %s engine takes one image", name_or_null);
            else
                ln_error_set(err, LN_EINVAL, "the %s engine takes 1 to %d images (got %zu)",
                             name_or_null, max > 0 ? max : LN_MAX_VIEWS, n_images);
            return NULL;
        }
        return eng;
    }
    for (int i = 0; set && i < set->n; i++)
        if (set->engines[i] && ln_engine_accepts(set->engines[i], n_images))
            return set->engines[i];
    ln_error_set(err, LN_EINVAL, "no engine takes %zu image%s (available: %s)", n_images,
                 n_images == 1 ? "" : "s", names);
    return NULL;
}
