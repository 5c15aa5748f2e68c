/*
 * Finding model files: a path to a file or folder, or a Hugging Face repo
 * id resolved through the local Hugging Face cache exactly as
 * hf_hub_download lays it out (docs/TRIPOSR.md section 14.3): cache root
 * from HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub,
 * XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub (and
 * TRANSFORMERS_CACHE as an extra place to look); models--owner--name,
 * refs/main -> snapshots/<commit>/<file> (symlinks into blobs/ or real
 * files); *.incomplete never used.
 *
 * Reentrant (reads the environment). Downloading into the cache is
 * ln_hub.h's work; this file only says where things are.
 */
#ifndef LN_HF_H
#define LN_HF_H

#include <stddef.h>

#include "ln_error.h"

#define LN_HF_PATH_MAX 4096

/* Resolves repo_id ("owner/name") + filename to an existing file path.
 * LN_ENOTFOUND with a message listing where it looked. */
int ln_hf_resolve(const char *repo_id, const char *filename, char *out, size_t n,
                  struct ln_error *err);

/* The cache root huggingface_hub writes to: HF_HUB_CACHE, else
 * HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else
 * XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * LN_EINVAL when none can be formed. */
int ln_hf_cache_dir(char *out, size_t n, struct ln_error *err);
/* Every root ln_hf_resolve looks in, in its order (the first is
 * ln_hf_cache_dir's; TRANSFORMERS_CACHE comes last), without duplicates;
 * at most max of them. Returns how many. */
#define LN_HF_ROOTS_MAX 8
int ln_hf_cache_roots(char (*roots)[LN_HF_PATH_MAX], int max);
/* HF_HOME as huggingface_hub computes it (for the token file). */
int ln_hf_home(char *out, size_t n, struct ln_error *err);
/* "owner/name" -> "models--owner--name"; 0, or -1 for an invalid id. */
int ln_hf_repo_folder(const char *repo_id, char *out, size_t n);
/* Validation of outside names: a repo id, and a file name inside a repo
 * (relative, no ".." component). */
int ln_hf_valid_repo(const char *repo_id);
int ln_hf_valid_filename(const char *filename);

struct ln_model_files {
    char config[LN_HF_PATH_MAX];     /* config.yaml */
    char weights[LN_HF_PATH_MAX];    /* model.ckpt (or model.safetensors) */
    char where[LN_HF_PATH_MAX + 64]; /* human description for the log */
};

#define LN_TRIPOSR_DEFAULT_REPO "stabilityai/TripoSR"

/* spec: NULL (the default repo), a folder holding config.yaml and
 * model.ckpt or model.safetensors, a path to a weights file (config.yaml
 * beside it), or a repo id in the cache. */
int ln_model_locate(const char *spec, struct ln_model_files *out, struct ln_error *err);

#endif
