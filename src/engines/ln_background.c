/*
 * Background removal by mode (ln_background.h): the alpha channel, rembg's
 * matting networks (src/nn/ln_matting.h) or the classical separation
 * (src/image/ln_foreground.h), with the network kept loaded for the
 * process.
 */
#include "ln_background.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_foreground.h"
#include "ln_log.h"
#include "ln_matting.h"
#include "ln_options.h"
#include "ln_rembg.h"

/* rembg's general-purpose models, in the order `auto` looks for them:
 * rembg's default first, then the larger and the smaller ones (the
 * specialised ones, human_seg, anime, portrait, cod, are only used when
 * named). */
static const char *const ln__general[] = {
    "u2net", "isnet-general-use", "birefnet-general", "birefnet-general-lite",
    "bria-rmbg", "u2netp", "silueta",
};

/* DESIGN: one network for the process. The chosen name (`chosen`) and the
 * loaded network (`net`, loaded from `net_path`) live under `mu`, which a
 * mask holds for its whole run: ln_matting keeps its work buffers in the
 * model, so two masks at once would share them. Masks are seconds apart
 * (one per job), so the serialisation costs nothing in practice. */
static pthread_mutex_t ln__mu = PTHREAD_MUTEX_INITIALIZER;
static char ln__chosen[4096];   /* as given to ln_background_set_model; "" = search */
static struct ln_matting *ln__net;
static char ln__net_path[4096];

/* The modes' names, indexed by enum ln_remove_bg. */
static const char *const ln__mode_names[] = {"off", "auto", "model", "classic"};
#define LN__N_MODES (sizeof ln__mode_names / sizeof ln__mode_names[0])

int ln_remove_bg_parse(const char *text, int *mode)
{
    if (!text)
        return -1;
    for (size_t i = 0; i < LN__N_MODES; i++)
        if (strcmp(text, ln__mode_names[i]) == 0) {
            *mode = (int)i;
            return 0;
        }
    int b;
    if (ln_bool_parse(text, &b) < 0)
        return -1;
    *mode = b ? LN_REMOVE_BG_AUTO : LN_REMOVE_BG_OFF;
    return 0;
}

const char *ln_remove_bg_name(int mode)
{
    return mode >= 0 && (size_t)mode < LN__N_MODES ? ln__mode_names[mode] : "auto";
}

int ln_background_uses_model(const struct ln_image *img, int mode)
{
    if (mode == LN_REMOVE_BG_MODEL)
        return 1;
    if (mode != LN_REMOVE_BG_AUTO || (img->channels == 4 && ln_image_alpha_is_meaningful(img)))
        return 0;
    char name[64];
    return ln_background_model(name, sizeof name) != NULL;
}

/* The path of the network for `chosen` ("" = the first general model in
 * rembg's folder): 0 with path filled, or an error (LN_ENOTFOUND when the
 * search finds none). */
static int ln__resolve(const char *chosen, char *path, size_t n, struct ln_error *err)
{
    const struct ln_rembg_model *m;
    if (chosen[0])
        return ln_rembg_resolve(chosen, path, n, &m, err);
    for (size_t i = 0; i < sizeof ln__general / sizeof ln__general[0]; i++) {
        struct ln_error e = {0};
        if (ln_rembg_resolve(ln__general[i], path, n, &m, &e) == LN_OK)
            return LN_OK;
    }
    char home[4096] = "rembg's folder";
    ln_rembg_home(home, sizeof home, NULL);
    return ln_error_set(err, LN_ENOTFOUND,
                        "no background model in %s: `lunar-nova models pull u2net` downloads "
                        "rembg's default, or give --bg-model PATH",
                        home);
}

int ln_background_set_model(const char *name_or_path, struct ln_error *err)
{
    char path[4096];
    const char *want = name_or_path ? name_or_path : "";
    if (want[0]) {
        const struct ln_rembg_model *m;
        int rc = ln_rembg_resolve(want, path, sizeof path, &m, err);
        if (rc < 0)
            return rc;
    }
    if (strlen(want) >= sizeof ln__chosen)
        return ln_error_set(err, LN_EINVAL, "the background model's path is too long");
    pthread_mutex_lock(&ln__mu);
    snprintf(ln__chosen, sizeof ln__chosen, "%s", want);
    pthread_mutex_unlock(&ln__mu);
    return LN_OK;
}

const char *ln_background_model(char *buf, size_t n)
{
    char chosen[sizeof ln__chosen], path[4096];
    pthread_mutex_lock(&ln__mu);
    memcpy(chosen, ln__chosen, sizeof chosen);
    pthread_mutex_unlock(&ln__mu);
    if (ln__resolve(chosen, path, sizeof path, NULL) < 0)
        return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t count;
    const struct ln_rembg_model *all = ln_rembg_models(&count);
    for (size_t i = 0; i < count; i++)
        if (strcmp(all[i].file, base) == 0)
            base = all[i].name;
    snprintf(buf, n, "%s", base);
    return buf;
}

void ln_background_models_found(char *buf, size_t n)
{
    size_t count, used = 0;
    const struct ln_rembg_model *all = ln_rembg_models(&count);
    if (n == 0)
        return;
    buf[0] = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        const struct ln_rembg_model *m;
        if (ln_rembg_resolve(all[i].name, path, sizeof path, &m, NULL) < 0)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", all[i].name);
        if (w < 0 || (size_t)w >= n - used) {
            buf[used] = 0;
            break;
        }
        used += (size_t)w;
    }
}

/* The network's mask of img (mu held): loads or reloads it first when the
 * choice changed. *name gets its name. */
static int ln__mask_locked(const struct ln_image *img, uint8_t *mask, char *name, size_t n,
                           struct ln_error *err)
{
    char path[4096];
    int rc = ln__resolve(ln__chosen, path, sizeof path, err);
    if (rc < 0)
        return rc;
    if (!ln__net || strcmp(path, ln__net_path) != 0) {
        ln_matting_free(ln__net);
        ln__net = NULL;
        ln__net_path[0] = 0;
        if ((rc = ln_matting_open(path, &ln__net, err)) < 0)
            return rc;
        snprintf(ln__net_path, sizeof ln__net_path, "%s", path);
        ln_log_info("background model %s loaded from %s", ln_matting_name(ln__net), path);
    }
    snprintf(name, n, "%s", ln_matting_name(ln__net));
    return ln_matting_mask(ln__net, img->data, img->width, img->height, img->channels, mask,
                           err);
}

/* The cut-out by the network: the image's colours with its mask as alpha,
 * checked like an alpha channel (no object, or the whole frame). */
static int ln__cutout_model(const struct ln_image *img, struct ln_image *cut,
                            struct ln_background_info *info, struct ln_error *err)
{
    if (img->channels != 3 && img->channels != 4)
        return ln_error_set(err, LN_EINVAL, "background removal needs an RGB or RGBA image");
    struct ln_image rgba = {0};
    int rc = ln_image_alloc(&rgba, img->width, img->height, 4, err);
    if (rc < 0)
        return rc;
    const size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *mask = ln_alloc_array(n, 1, 0, "background mask", err);
    if (!mask) {
        ln_image_free(&rgba);
        return LN_ENOMEM;
    }
    pthread_mutex_lock(&ln__mu);
    rc = ln__mask_locked(img, mask, info->method, sizeof info->method, err);
    pthread_mutex_unlock(&ln__mu);
    if (rc == LN_OK) {
        const int c = img->channels;
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < 3; k++)
                rgba.data[4 * i + (size_t)k] = img->data[(size_t)c * i + (size_t)k];
            rgba.data[4 * i + 3] = mask[i];
        }
        struct ln_foreground_options fo = {.tolerance = 0, .use_alpha = 1};
        struct ln_foreground_info fi;
        rc = ln_foreground_extract(&rgba, &fo, cut, &fi, err);
        if (rc == LN_OK)
            info->coverage = fi.coverage;
        else if (rc == LN_EUNUSABLE)
            ln_error_prefix(err, "background model %s", info->method);
    }
    free(mask);
    ln_image_free(&rgba);
    return rc;
}

int ln_background_cutout(const struct ln_image *img, int mode, struct ln_image *cut,
                         struct ln_background_info *info, struct ln_error *err)
{
    struct ln_background_info tmp = {{0}, 0.0};
    int rc;
    if (!img || !img->data)
        return ln_error_set(err, LN_EINVAL, "no image to separate");
    int use_model = ln_background_uses_model(img, mode);
    if (mode == LN_REMOVE_BG_OFF) {
        /* As it is: an opaque image is all object. */
        if (img->channels != 3 && img->channels != 4)
            return ln_error_set(err, LN_EINVAL, "background removal needs an RGB or RGBA image");
        if ((rc = ln_image_alloc(cut, img->width, img->height, 4, err)) < 0)
            return rc;
        const size_t n = (size_t)img->width * (size_t)img->height;
        const int c = img->channels;
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 4; k++)
                cut->data[4 * i + (size_t)k] =
                    k < c ? img->data[(size_t)c * i + (size_t)k] : 255;
        snprintf(tmp.method, sizeof tmp.method, "off");
        tmp.coverage = 1.0;
    } else if (use_model) {
        if ((rc = ln__cutout_model(img, cut, &tmp, err)) < 0)
            return rc;
    } else {
        struct ln_foreground_info fi;
        if ((rc = ln_foreground_extract(img, NULL, cut, &fi, err)) < 0)
            return rc;
        snprintf(tmp.method, sizeof tmp.method, "%s", fi.used_alpha ? "alpha" : "classic");
        tmp.coverage = fi.coverage;
    }
    if (info)
        *info = tmp;
    return LN_OK;
}

void ln_background_release(void)
{
    pthread_mutex_lock(&ln__mu);
    ln_matting_free(ln__net);
    ln__net = NULL;
    ln__net_path[0] = 0;
    pthread_mutex_unlock(&ln__mu);
}
