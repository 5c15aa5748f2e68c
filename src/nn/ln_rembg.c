/*
 * The table of rembg's models (rembg's session classes: names, files, download
 * addresses, checksums, input sizes, normalisation) and rembg's folder.
 */
#include "ln_rembg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_fs.h"

#define LN__REL "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
#define LN__IMAGENET {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}

static const struct ln_rembg_model ln__models[] = {
    {"u2net", "u2net.onnx", LN__REL "u2net.onnx", "md5:60024c5c889badc19c04ad937298a77b", 320,
     LN__IMAGENET, 0},
    {"u2netp", "u2netp.onnx", LN__REL "u2netp.onnx", "md5:8e83ca70e441ab06c318d82300c84806",
     320, LN__IMAGENET, 0},
    {"u2net_human_seg", "u2net_human_seg.onnx", LN__REL "u2net_human_seg.onnx",
     "md5:c09ddc2e0104f800e3e1bb4652583d1f", 320, LN__IMAGENET, 0},
    {"silueta", "silueta.onnx", LN__REL "silueta.onnx", "md5:55e59e0d8062d2f5d013f4725ee84782",
     320, LN__IMAGENET, 0},
    {"isnet-general-use", "isnet-general-use.onnx", LN__REL "isnet-general-use.onnx",
     "md5:fc16ebd8b0c10d971d3513d564d01e29", 1024, {0.5f, 0.5f, 0.5f}, {1.0f, 1.0f, 1.0f}, 0},
    {"isnet-anime", "isnet-anime.onnx", LN__REL "isnet-anime.onnx",
     "md5:6f184e756bb3bd901c8849220a83e38e", 1024, {0.485f, 0.456f, 0.406f},
     {1.0f, 1.0f, 1.0f}, 0},
    {"birefnet-general", "birefnet-general.onnx", LN__REL "BiRefNet-general-epoch_244.onnx",
     "md5:7a35a0141cbbc80de11d9c9a28f52697", 1024, LN__IMAGENET, 1},
    {"birefnet-general-lite", "birefnet-general-lite.onnx",
     LN__REL "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
     "md5:4fab47adc4ff364be1713e97b7e66334", 1024, LN__IMAGENET, 1},
    {"birefnet-portrait", "birefnet-portrait.onnx", LN__REL "BiRefNet-portrait-epoch_150.onnx",
     "md5:c3a64a6abf20250d090cd055f12a3b67", 1024, LN__IMAGENET, 1},
    {"birefnet-dis", "birefnet-dis.onnx", LN__REL "BiRefNet-DIS-epoch_590.onnx",
     "md5:2d4d44102b446f33a4ebb2e56c051f2b", 1024, LN__IMAGENET, 1},
    {"birefnet-hrsod", "birefnet-hrsod.onnx", LN__REL "BiRefNet-HRSOD_DHU-epoch_115.onnx",
     "md5:c017ade5de8a50ff0fd74d790d268dda", 1024, LN__IMAGENET, 1},
    {"birefnet-cod", "birefnet-cod.onnx", LN__REL "BiRefNet-COD-epoch_125.onnx",
     "md5:f6d0d21ca89d287f17e7afe9f5fd3b45", 1024, LN__IMAGENET, 1},
    {"birefnet-massive", "birefnet-massive.onnx",
     LN__REL "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
     "md5:33e726a2136a3d59eb0fdf613e31e3e9", 1024, LN__IMAGENET, 1},
    {"bria-rmbg", "bria-rmbg.onnx", LN__REL "bria-rmbg-2.0.onnx",
     "sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958", 1024,
     LN__IMAGENET, 0},
};

const struct ln_rembg_model *ln_rembg_models(size_t *n)
{
    *n = sizeof ln__models / sizeof ln__models[0];
    return ln__models;
}

const struct ln_rembg_model *ln_rembg_model(const char *name)
{
    for (size_t i = 0; name && i < sizeof ln__models / sizeof ln__models[0]; i++)
        if (strcmp(ln__models[i].name, name) == 0)
            return &ln__models[i];
    return NULL;
}

int ln_rembg_home(char *buf, size_t n, struct ln_error *err)
{
    const char *u2 = getenv("U2NET_HOME"), *xdg = getenv("XDG_DATA_HOME");
    char *home = ln_path_home(); /* HOME, or USERPROFILE on Windows */
    int len;
    /* rembg: expanduser(U2NET_HOME or join(XDG_DATA_HOME or "~", ".u2net")) */
    if (u2 && u2[0] == '~' && (LN_PATH_IS_SEP(u2[1]) || !u2[1]) && home)
        len = snprintf(buf, n, "%s%s", home, u2 + 1);
    else if (u2 && u2[0])
        len = snprintf(buf, n, "%s", u2);
    else if (xdg && xdg[0])
        len = snprintf(buf, n, "%s/.u2net", xdg);
    else if (home && home[0])
        len = snprintf(buf, n, "%s/.u2net", home);
    else
        return ln_error_set(err, LN_EINVAL,
                            "no folder for rembg's models: U2NET_HOME, XDG_DATA_HOME and HOME "
                            "are unset");
    free(home);
    if (len < 0 || (size_t)len >= n)
        return ln_error_set(err, LN_EINTERNAL, "the path of rembg's folder is too long");
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = 0;
    return LN_OK;
}

int ln_rembg_url(const struct ln_rembg_model *m, char *buf, size_t n, struct ln_error *err)
{
    const char *base = getenv("LUNAR_NOVA_REMBG_BASE_URL");
    int len;
    if (base && base[0]) {
        const char *file = strrchr(m->url, '/') + 1;
        size_t bl = strlen(base);
        len = snprintf(buf, n, "%s%s%s", base, base[bl - 1] == '/' ? "" : "/", file);
    } else {
        len = snprintf(buf, n, "%s", m->url);
    }
    if (len < 0 || (size_t)len >= n)
        return ln_error_set(err, LN_EINVAL, "the download address of %s is too long", m->name);
    return LN_OK;
}

int ln_rembg_resolve(const char *name_or_path, char *path, size_t n,
                     const struct ln_rembg_model **model, struct ln_error *err)
{
    struct ln_path_info st;
    size_t len = name_or_path ? strlen(name_or_path) : 0;
    *model = NULL;
    if (len == 0)
        return ln_error_set(err, LN_EINVAL, "no background model named");
    if (strchr(name_or_path, '/') || strchr(name_or_path, '\\') ||
        (len > 5 && strcmp(name_or_path + len - 5, ".onnx") == 0)) {
        if ((size_t)snprintf(path, n, "%s", name_or_path) >= n)
            return ln_error_set(err, LN_EINVAL, "the model path is too long");
        const char *base = name_or_path;
        for (const char *c = name_or_path; *c; c++)
            if (LN_PATH_IS_SEP(*c))
                base = c + 1;
        size_t count;
        const struct ln_rembg_model *all = ln_rembg_models(&count);
        for (size_t i = 0; i < count; i++)
            if (strcmp(all[i].file, base) == 0)
                *model = &all[i];
        if (ln_path_stat(path, 0, &st, NULL) < 0 || st.kind != LN_PATH_FILE)
            return ln_error_set(err, LN_ENOTFOUND, "no model file at %s", path);
        return LN_OK;
    }
    const struct ln_rembg_model *m = ln_rembg_model(name_or_path);
    if (!m) {
        char known[512] = "";
        size_t count, at = 0;
        const struct ln_rembg_model *all = ln_rembg_models(&count);
        for (size_t i = 0; i < count && at < sizeof known; i++) {
            int w = snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", all[i].name);
            at += w > 0 ? (size_t)w : 0;
        }
        return ln_error_set(err, LN_EINVAL, "unknown background model \"%.60s\" (known: %s)",
                            name_or_path, known);
    }
    char home[4096];
    int rc = ln_rembg_home(home, sizeof home, err);
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(path, n, "%s/%s", home, m->file) >= n)
        return ln_error_set(err, LN_EINVAL, "the model path is too long");
    *model = m;
    if (ln_path_stat(path, 0, &st, NULL) < 0 || st.kind != LN_PATH_FILE)
        return ln_error_set(err, LN_ENOTFOUND,
                            "%s is not in %s: `lunar-nova models pull %s` downloads it", m->file,
                            home, m->name);
    return LN_OK;
}
