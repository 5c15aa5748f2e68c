/*
 * Downloading models, so that what lands on disk is exactly what the
 * Python tools would have written and each side uses the other's files:
 *
 * - Hugging Face repos go into the hub cache as huggingface_hub lays it out
 *   (the cache root of ln_hf_cache_dir(); models--owner--name/ with
 *   blobs/<etag>, snapshots/<commit>/<file> as a relative symlink into
 *   blobs/, refs/<revision> holding the commit, and .locks/ beside the
 *   repos). A file arrives in blobs/<etag>.incomplete, is resumed with a
 *   Range request after an interruption, is checked (SHA-256 for large
 *   files, whose etag is their SHA-256; git's blob name for small ones) and
 *   only then renamed to its blob. refs/ moves only once every file is in.
 *   HF_ENDPOINT (mirrors), HF_TOKEN / HF_TOKEN_PATH / $HF_HOME/token (gated
 *   and private repos) and HF_HUB_OFFLINE=1 (no network at all) are read as
 *   huggingface_hub reads them.
 * - rembg's models go into rembg's folder (ln_rembg_home) under rembg's
 *   file names, checked against rembg's checksums, from ln_rembg_url.
 *
 * Two pulls of one file, in one process or several, meet at a lock on
 * the file's lock file; the second waits and then finds the file there.
 *
 *     struct ln_hub_pull p = {.revision = NULL};
 *     if (ln_hub_pull_model("stabilityai/TripoSR", &p, &err) < 0)
 *         fprintf(stderr, "%s\n", err.message);
 *     else
 *         printf("in %s\n", p.snapshot);
 *
 * Thread-safe: call ln_hub_global_init() once before threads start (it
 * initialises libcurl); every other function is reentrant.
 */
#ifndef LN_HUB_H
#define LN_HUB_H

#include <stdatomic.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_hf.h"
#include "ln_rembg.h"

#define LN_HUB_COMMIT_MAX 128

/* One pull: the caller sets the inputs (all optional), the pull fills the
 * outputs. progress is called from the pulling thread as bytes arrive
 * (total 0 while unknown); done counts a resumed file's earlier bytes. */
struct ln_hub_pull {
    const char *revision; /* a branch, tag or commit; NULL: "main" */
    void (*progress)(void *user, const char *file, uint64_t done, uint64_t total);
    void (*note)(void *user, const char *line); /* waiting for a lock, skipping... */
    void *user;
    const atomic_int *cancel; /* non-zero stops the download (LN_ECANCELED) */

    char commit[LN_HUB_COMMIT_MAX]; /* the commit the revision named */
    char snapshot[LN_HF_PATH_MAX];  /* its snapshot folder (rembg: the file) */
    int n_downloaded, n_cached;     /* files fetched now / already there */
    uint64_t bytes_downloaded;
};

/* libcurl's global set-up; call once before any thread pulls. */
int ln_hub_global_init(struct ln_error *err);

/* True when HF_HUB_OFFLINE is 1/ON/YES/TRUE: nothing touches the network. */
int ln_hub_offline(void);

/* Pulls a model by name: a rembg model name ("u2net", ...) goes to rembg's
 * folder; anything else is a Hugging Face repo id. A repo holding
 * config.yaml and model.ckpt / model.safetensors is a TripoSR repo: its
 * config.yaml, one weights file and the config.json of the ViT repo that
 * config.yaml names come down; any other repo comes down whole (like
 * `huggingface-cli download`). */
int ln_hub_pull_model(const char *name, struct ln_hub_pull *p, struct ln_error *err);

/* Pulls the named files of a Hugging Face repo (n_files 0: every file). */
int ln_hub_pull_files(const char *repo_id, const char *const *files, int n_files,
                      struct ln_hub_pull *p, struct ln_error *err);

/* Pulls one rembg model into rembg's folder (a file already there that
 * matches the checksum is kept; one that does not is replaced). */
int ln_hub_pull_rembg(const struct ln_rembg_model *m, struct ln_hub_pull *p, struct ln_error *err);

/* What verify and list report about one file. */
struct ln_hub_file_report {
    const char *file;   /* name inside the snapshot, rembg's file name, or
                           blobs/<etag> for a blob no snapshot links to */
    const char *path;   /* where it is (or should be) */
    const char *commit; /* the snapshot's commit (Hugging Face) */
    uint64_t size;
    int ok;            /* 1 verified, 0 wrong (see problem) */
    int unlinked;      /* a blob no snapshot links to: a link is missing */
    char problem[200]; /* one line when !ok */
};

/* Re-hashes every file of a model (repo: the snapshot refs/<revision>
 * names, or the commit revision names; rembg: its file) and calls report
 * for each. A repo is looked for in the cache roots in ln_hf_resolve's
 * order (the one `--model REPO_ID` reads); ln_hub_verify_at names the
 * root. Besides the snapshot's own files it reports what must be there
 * but is not: a TripoSR snapshot's config.yaml or weights file, and blobs
 * that no snapshot links to (a snapshot link was lost). hash 0 checks the
 * layout and sizes only (fast, for list). Returns LN_OK when everything
 * checks out, LN_EFORMAT when something is wrong, LN_ENOTFOUND when the
 * model is not there. */
int ln_hub_verify(const char *name, const char *revision, int hash,
                  void (*report)(void *user, const struct ln_hub_file_report *r), void *user,
                  struct ln_error *err);
int ln_hub_verify_at(const char *cache, const char *name, const char *revision, int hash,
                     void (*report)(void *user, const struct ln_hub_file_report *r), void *user,
                     struct ln_error *err);

/* The repos in one cache root (NULL: the one downloads go to): calls fn
 * with each repo id (owner/name) and its folder. */
int ln_hub_list_repos(const char *cache,
                      void (*fn)(void *user, const char *repo_id, const char *repo_dir), void *user,
                      struct ln_error *err);

/* huggingface_hub's etag normalisation: drops a W/ prefix and quotes. */
void ln_hub_normalize_etag(const char *in, char *out, size_t n);
/* The relative symlink target from snapshots/<commit>/<file> to
 * blobs/<etag>: "../../blobs/<etag>" plus one "../" per folder in file. */
int ln_hub_blob_link(const char *file, const char *etag, char *out, size_t n);

#endif
