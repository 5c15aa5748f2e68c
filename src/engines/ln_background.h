/*
 * Background removal for both engines: which pixels of a photo are the
 * object, by the method the user chose (--remove-bg, the API's remove_bg):
 *
 *   auto     a meaningful alpha channel is used as it is (TripoSR's rule);
 *            otherwise one of rembg's matting networks when one is found
 *            (ln_background_set_model, else rembg's folder), otherwise the
 *            classical separation (ln_foreground.h);
 *   model    the matting network, even when the image has an alpha channel
 *            (as `rembg i` does); an error when none is found;
 *   classic  the alpha channel when meaningful, else the classical
 *            separation: no network;
 *   off      the image as it is (an opaque image is all object).
 *
 *     struct ln_image cut = {0};
 *     struct ln_background_info info;
 *     if (ln_background_cutout(&img, LN_REMOVE_BG_AUTO, &cut, &info, &err) < 0) ...
 *     // cut: RGBA, alpha = the object's mask; info.method: "u2net", "alpha", ...
 *
 * The network is loaded once, at its first use, and kept for the process;
 * calls are serialised on it (one mask at a time), and its result does not
 * depend on the thread count. Reentrant otherwise.
 */
#ifndef LN_BACKGROUND_H
#define LN_BACKGROUND_H

#include <stddef.h>

#include "ln_error.h"
#include "ln_image.h"

enum ln_remove_bg {
    LN_REMOVE_BG_OFF = 0,
    LN_REMOVE_BG_AUTO = 1,
    LN_REMOVE_BG_MODEL = 2,
    LN_REMOVE_BG_CLASSIC = 3,
};

/* "auto", "model", "classic", "off"; the booleans of ln_bool_parse too
 * (true: auto, false: off). Returns 0 or -1. */
int ln_remove_bg_parse(const char *text, int *mode);
/* The name of a mode ("auto" for an unknown value). */
const char *ln_remove_bg_name(int mode);

/* Chooses the matting network of `model` and `auto`: a rembg model name or
 * a path to an .onnx file (NULL or "": the first of rembg's general models
 * found in rembg's folder, u2net first, as rembg's default). It is checked
 * here (the file exists; a name is known) but loaded at its first use.
 * Errors: those of ln_rembg_resolve, with its message. */
int ln_background_set_model(const char *name_or_path, struct ln_error *err);
/* The network `model` and `auto` would use now (its rembg name, or the
 * file name), or NULL when none is found. */
const char *ln_background_model(char *buf, size_t n);
/* The names of rembg's models present in rembg's folder, comma-separated
 * ("" when none), for /health and `models list`. */
void ln_background_models_found(char *buf, size_t n);

/* Whether ln_background_cutout would run the network on img in this mode
 * (model; auto without a meaningful alpha and with a network found). The
 * upload check uses it to leave a network's verdict to the job. */
int ln_background_uses_model(const struct ln_image *img, int mode);

struct ln_background_info {
    /* What separated the object: a network's name ("u2net"), "alpha",
     * "classic" or "off". */
    char method[48];
    double coverage; /* fraction of the frame that is object */
};

/* The cut-out of img (decoded, any channel count) by `mode`: an RGBA image
 * of the same size, alpha = the object's mask (soft where the input alpha
 * or the network's mask was). Errors: LN_EUNUSABLE when no object is found
 * or it fills the frame (the message says which), LN_ENOTFOUND for
 * `model` without a network, the network's load errors (LN_EFORMAT for a
 * damaged file), LN_ENOMEM. */
int ln_background_cutout(const struct ln_image *img, int mode, struct ln_image *cut,
                         struct ln_background_info *info, struct ln_error *err);

/* Frees the loaded network (at exit; tests). */
void ln_background_release(void);

#endif
