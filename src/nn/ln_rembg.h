/*
 * rembg's background-removal models, as rembg users have them: the model
 * names, the file each is saved as, where rembg downloads it from and the
 * checksum it checks, and how rembg prepares the network's input and reads
 * its output. The folder is rembg's: $U2NET_HOME, else
 * $XDG_DATA_HOME/.u2net, else ~/.u2net.
 *
 *     const struct ln_rembg_model *m = ln_rembg_model("u2net");
 *     char path[4096];
 *     if (ln_rembg_resolve("u2net", path, sizeof path, &m, &err) == LN_OK) ...
 *
 * Reentrant (reads the environment).
 */
#ifndef LN_REMBG_H
#define LN_REMBG_H

#include <stddef.h>

#include "ln_error.h"

struct ln_rembg_model {
    const char *name;  /* rembg's name: "u2net", "isnet-general-use", ... */
    const char *file;  /* the file in rembg's folder: "u2net.onnx" */
    const char *url;   /* where rembg downloads it (base overridable: see below) */
    const char *hash;  /* what rembg checks: "md5:<32 hex>" or "sha256:<64 hex>" */
    int size;          /* the square input side: 320 or 1024 (768 for cloth) */
    float mean[3], std[3]; /* per channel, after dividing by the image's maximum */
    int sigmoid;       /* 1: sigmoid on output channel 0 before min-max (BiRefNet) */
};

/* Every model rembg lists that takes an image alone (no prompts), in
 * rembg's order; *n gets the count. */
const struct ln_rembg_model *ln_rembg_models(size_t *n);
/* The model of that name, or NULL. */
const struct ln_rembg_model *ln_rembg_model(const char *name);
/* rembg's folder, without a trailing slash. LN_EINVAL when neither
 * U2NET_HOME, XDG_DATA_HOME nor HOME is set, LN_EINTERNAL when too long. */
int ln_rembg_home(char *buf, size_t n, struct ln_error *err);
/* A model's download address: its url, with the part before the file name
 * replaced by $LUNAR_NOVA_REMBG_BASE_URL when that is set (mirrors). */
int ln_rembg_url(const struct ln_rembg_model *m, char *buf, size_t n, struct ln_error *err);
/* name_or_path: a path (contains '/' or ends in ".onnx") is taken as it is;
 * a name is looked up in the table and then in rembg's folder. *model gets
 * the table entry (NULL for a path whose file name is not one of rembg's;
 * such a file is treated like u2net). LN_ENOTFOUND when the file is not
 * there (the message names the folder and `lunar-nova models pull NAME`),
 * LN_EINVAL for an unknown name (the message lists the known ones). */
int ln_rembg_resolve(const char *name_or_path, char *path, size_t n,
                     const struct ln_rembg_model **model, struct ln_error *err);

#endif
