/*
 * Model files on disk: a folder or file given by the user, or a Hugging
 * Face repo found in the local cache exactly as hf_hub_download leaves it
 * (docs/TRIPOSR.md section 14.3). The cache roots are tried in the
 * library's order of precedence; inside a root, refs/main names the
 * snapshot (or the only snapshot is used), and a snapshot file, usually a
 * symlink into blobs/, is resolved with realpath. Partial downloads
 * (*.incomplete) are never returned; downloading is ln_hub.c's work.
 */
#include "ln_hf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"

#define LN__HF_MAX_ROOTS LN_HF_ROOTS_MAX
#define LN__HF_COMMIT_MAX 128

/* Joins up to three parts with '/'; -1 if the result does not fit. */
static int ln__join(char *out, size_t n, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        const size_t m = strlen(parts[i]);
        if (len + (len ? 1 : 0) + m + 1 > n)
            return -1;
        if (len)
            out[len++] = '/';
        memcpy(out + len, parts[i], m);
        len += m;
    }
    out[len] = 0;
    return 0;
}

static int ln__is_dir(const char *path)
{
    struct ln_path_info info;
    return ln_path_stat(path, 0, &info, NULL) == LN_OK && info.kind == LN_PATH_DIR;
}

static int ln__is_file(const char *path)
{
    struct ln_path_info info;
    return ln_path_stat(path, 0, &info, NULL) == LN_OK && info.kind == LN_PATH_FILE;
}

/* Resolves path (a snapshot file: a link into blobs/, or on Windows
 * without link rights a plain copy) into real; 1 when it leads to a
 * regular file whose resolved path fits. */
static int ln__real_file(const char *path, char *real, size_t n)
{
    char *r = NULL;
    int ok = ln_path_real(path, &r, NULL) == LN_OK && strlen(r) < n && ln__is_file(r);
    if (ok)
        memcpy(real, r, strlen(r) + 1);
    free(r);
    return ok;
}

static int ln__ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Appends a candidate root unless it is already listed. */
static void ln__hf_add_root(char roots[][LN_HF_PATH_MAX], int *n, const char *a, const char *b,
                            const char *c)
{
    if (!a || !*a || *n >= LN__HF_MAX_ROOTS || ln__join(roots[*n], LN_HF_PATH_MAX, a, b, c) < 0)
        return;
    for (int k = 0; k < *n; k++)
        if (strcmp(roots[k], roots[*n]) == 0)
            return;
    (*n)++;
}

/* The cache roots in precedence order, without duplicates. */
static int ln__hf_roots(char roots[][LN_HF_PATH_MAX])
{
    int n = 0;
    ln__hf_add_root(roots, &n, getenv("HF_HUB_CACHE"), NULL, NULL);
    ln__hf_add_root(roots, &n, getenv("HUGGINGFACE_HUB_CACHE"), NULL, NULL);
    ln__hf_add_root(roots, &n, getenv("HF_HOME"), "hub", NULL);
    ln__hf_add_root(roots, &n, getenv("XDG_CACHE_HOME"), "huggingface", "hub");
    /* huggingface_hub's ~: HOME on POSIX, USERPROFILE on Windows. */
    char *home = ln_path_home();
    ln__hf_add_root(roots, &n, home, ".cache/huggingface", "hub");
    free(home);
    /* transformers' own variable: the operations manual points it at the
     * same cache, so look there last. */
    ln__hf_add_root(roots, &n, getenv("TRANSFORMERS_CACHE"), NULL, NULL);
    return n;
}

static int ln__valid_repo(const char *repo)
{
    const char *slash = strchr(repo, '/');
    if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') || strstr(repo, "..") ||
        repo[0] == '.' || slash[1] == '.' || strlen(repo) > 200)
        return 0;
    for (const char *p = repo; *p; p++) {
        if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    }
    return 1;
}

static int ln__valid_filename(const char *f)
{
    if (!*f || f[0] == '/' || strlen(f) > 512)
        return 0;
    /* A name from the hub becomes a path: nothing Windows reads as a
     * separator (\\), a drive or a stream (:), and no control character. */
    for (const char *p = f; *p; p++)
        if (*p == '\\' || *p == ':' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    /* No "..", "." or empty component: the downloader counts the folders
     * of a name to build its relative link. */
    for (const char *p = f; p;) {
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
            return 0;
        if (p[0] == '/' || p[0] == 0 || (p[0] == '.' && (p[1] == '/' || p[1] == 0)))
            return 0;
        p = strchr(p, '/');
        if (p)
            p++;
    }
    return 1;
}

/* "owner/name" -> "models--owner--name" (repo already validated: at most
 * 200 characters, so 300 bytes hold it). */
static void ln__repo_folder(const char *repo, char folder[300])
{
    size_t o = 0;
    memcpy(folder, "models--", 8);
    o = 8;
    for (const char *p = repo; *p && o + 3 < 300; p++) {
        if (*p == '/') {
            folder[o++] = '-';
            folder[o++] = '-';
        } else {
            folder[o++] = *p;
        }
    }
    folder[o] = 0;
}

/* Picks the snapshot of a repo folder: refs/main, else the only snapshot.
 * Returns 0 with commit filled, or -1 with why filled. */
static int ln__hf_snapshot(const char *repo_dir, char *commit, size_t n, const char **why)
{
    char path[LN_HF_PATH_MAX];
    if (ln__join(path, sizeof path, repo_dir, "refs", "main") < 0) {
        *why = "path too long";
        return -1;
    }
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    int ref_rc = ln_file_read(path, 4096, &ref, &ref_len, NULL);
    if (ref_rc == LN_OK || ref_rc == LN_ETOOBIG) {
        char buf[LN__HF_COMMIT_MAX];
        size_t got = ref_len < sizeof buf - 1 ? ref_len : sizeof buf - 1;
        if (got)
            memcpy(buf, ref, got);
        free(ref);
        if (ref_rc == LN_ETOOBIG)
            got = 0; /* malformed, below */
        buf[got] = 0;
        while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ' ||
                           buf[got - 1] == '\t'))
            buf[--got] = 0;
        if (got == 0 || strchr(buf, '/') || strchr(buf, '\\') || strcmp(buf, ".") == 0 ||
            strcmp(buf, "..") == 0 || strlen(buf) != got || got >= n) {
            *why = "refs/main is malformed";
            return -1;
        }
        memcpy(commit, buf, got + 1);
        return 0;
    }
    if (ln__join(path, sizeof path, repo_dir, "snapshots", NULL) < 0) {
        *why = "path too long";
        return -1;
    }
    struct ln_dir *d;
    if (ln_dir_open(&d, path, NULL) < 0) {
        *why = "no refs/main and no snapshots";
        return -1;
    }
    int count = 0;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        if (e.name[0] == '.' || strlen(e.name) >= n)
            continue;
        char sub[LN_HF_PATH_MAX];
        if (ln__join(sub, sizeof sub, path, e.name, NULL) < 0 || !ln__is_dir(sub))
            continue;
        if (count++ == 0)
            memcpy(commit, e.name, strlen(e.name) + 1);
    }
    ln_dir_close(d);
    if (count == 1)
        return 0;
    *why = count == 0 ? "no refs/main and no snapshots" : "no refs/main and several snapshots";
    return -1;
}

/* Looks for one file of a repo in every root. On success fills out (the
 * real path), and root and commit if not NULL. */
static int ln__hf_find(const char *repo_id, const char *filename, char *out, size_t n,
                       char *root_out, char *commit_out, struct ln_error *err)
{
    if (!repo_id || !ln__valid_repo(repo_id))
        return ln_error_set(err, LN_EINVAL, "\"%.100s\" is not a Hugging Face repo id (owner/name)",
                            repo_id ? repo_id : "");
    if (!filename || !ln__valid_filename(filename))
        return ln_error_set(err, LN_EINVAL, "\"%.100s\" is not a file name inside a repo",
                            filename ? filename : "");
    char folder[300];
    ln__repo_folder(repo_id, folder);

    /* Paths are large; keep them off the stack of worker threads. */
    char(*roots)[LN_HF_PATH_MAX] = ln_xmalloc(LN__HF_MAX_ROOTS * sizeof *roots);
    const int n_roots = ln__hf_roots(roots);
    int rc = 0;
    char looked[LN_ERROR_MESSAGE_MAX] = "";
    size_t looked_len = 0;
    for (int i = 0; i < n_roots; i++) {
        char repo_dir[LN_HF_PATH_MAX], commit[LN__HF_COMMIT_MAX], snap[LN_HF_PATH_MAX];
        char file[LN_HF_PATH_MAX], real[LN_HF_PATH_MAX];
        const char *why = ln__is_dir(roots[i]) ? "the repository is not in it" : "no such folder";
        if (ln__join(repo_dir, sizeof repo_dir, roots[i], folder, NULL) == 0 &&
            ln__is_dir(repo_dir)) {
            why = NULL;
            if (ln__hf_snapshot(repo_dir, commit, sizeof commit, &why) == 0) {
                why = "file not in the snapshot";
                if (ln__join(snap, sizeof snap, repo_dir, "snapshots", commit) == 0 &&
                    ln__join(file, sizeof file, snap, filename, NULL) == 0 &&
                    ln__real_file(file, real, sizeof real)) {
                    why = "download incomplete";
                    if (!ln__ends_with(real, ".incomplete") &&
                        !ln__ends_with(file, ".incomplete")) {
                        if (strlen(real) >= n) {
                            rc = ln_error_set(err, LN_EINVAL, "path of %s too long", filename);
                            goto cleanup;
                        }
                        memcpy(out, real, strlen(real) + 1);
                        if (root_out)
                            memcpy(root_out, roots[i], strlen(roots[i]) + 1);
                        if (commit_out)
                            memcpy(commit_out, commit, strlen(commit) + 1);
                        goto cleanup;
                    }
                }
            }
        }
        if (looked_len < sizeof looked)
            looked_len += (size_t)snprintf(looked + looked_len, sizeof looked - looked_len,
                                           "%s%s (%s)", looked_len ? ", " : "", roots[i], why);
    }
    if (n_roots == 0)
        snprintf(looked, sizeof looked, "no cache folder: HF_HUB_CACHE, HF_HOME and HOME unset");
    rc = ln_error_set(err, LN_ENOTFOUND,
                      "%s of %s not found in the Hugging Face cache (`lunar-nova models pull "
                      "%s` downloads it); looked in %s",
                      filename, repo_id, repo_id, looked);

cleanup:
    free(roots);
    return rc;
}

int ln_hf_cache_roots(char (*roots)[LN_HF_PATH_MAX], int max)
{
    char(*all)[LN_HF_PATH_MAX] = ln_xmalloc(LN__HF_MAX_ROOTS * sizeof *all);
    const int n = ln__hf_roots(all);
    const int k = n < max ? n : max;
    for (int i = 0; i < k; i++)
        memcpy(roots[i], all[i], strlen(all[i]) + 1);
    free(all);
    return k;
}

int ln_hf_cache_dir(char *out, size_t n, struct ln_error *err)
{
    char roots[LN__HF_MAX_ROOTS][LN_HF_PATH_MAX];
    if (ln__hf_roots(roots) == 0)
        return ln_error_set(err, LN_EINVAL,
                            "no Hugging Face cache folder: HF_HUB_CACHE, HF_HOME and HOME are "
                            "unset");
    if (strlen(roots[0]) >= n)
        return ln_error_set(err, LN_EINVAL, "the Hugging Face cache path is too long");
    memcpy(out, roots[0], strlen(roots[0]) + 1);
    return LN_OK;
}

int ln_hf_home(char *out, size_t n, struct ln_error *err)
{
    const char *home = getenv("HF_HOME"), *xdg = getenv("XDG_CACHE_HOME");
    char *user = ln_path_home(); /* HOME, or USERPROFILE on Windows */
    int rc = -1;
    if (home && *home)
        rc = ln__join(out, n, home, NULL, NULL);
    else if (xdg && *xdg)
        rc = ln__join(out, n, xdg, "huggingface", NULL);
    else if (user)
        rc = ln__join(out, n, user, ".cache", "huggingface");
    else
        return ln_error_set(err, LN_EINVAL, "HF_HOME, XDG_CACHE_HOME and HOME are unset");
    free(user);
    if (rc < 0)
        return ln_error_set(err, LN_EINVAL, "the HF_HOME path is too long");
    return LN_OK;
}

int ln_hf_repo_folder(const char *repo_id, char *out, size_t n)
{
    char folder[300];
    if (!repo_id || !ln__valid_repo(repo_id))
        return -1;
    ln__repo_folder(repo_id, folder);
    if (strlen(folder) >= n)
        return -1;
    memcpy(out, folder, strlen(folder) + 1);
    return 0;
}

int ln_hf_valid_repo(const char *repo_id)
{
    return repo_id && ln__valid_repo(repo_id);
}

int ln_hf_valid_filename(const char *filename)
{
    return filename && ln__valid_filename(filename);
}

int ln_hf_resolve(const char *repo_id, const char *filename, char *out, size_t n,
                  struct ln_error *err)
{
    return ln__hf_find(repo_id, filename, out, n, NULL, NULL, err);
}

/* Fills out from a folder holding config.yaml and the weights. */
static int ln__locate_folder(const char *dir, struct ln_model_files *out, struct ln_error *err)
{
    static const char *const weights[] = {"model.ckpt", "model.safetensors"};
    if (ln__join(out->config, sizeof out->config, dir, "config.yaml", NULL) < 0)
        return ln_error_set(err, LN_EINVAL, "model path too long");
    if (!ln__is_file(out->config))
        return ln_error_set(err, LN_ENOTFOUND, "folder %.200s has no config.yaml", dir);
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        if (ln__join(out->weights, sizeof out->weights, dir, weights[i], NULL) == 0 &&
            ln__is_file(out->weights)) {
            snprintf(out->where, sizeof out->where, "folder %s", dir);
            return 0;
        }
    }
    out->weights[0] = 0;
    return ln_error_set(err, LN_ENOTFOUND,
                        "folder %.200s has neither model.ckpt nor "
                        "model.safetensors",
                        dir);
}

int ln_model_locate(const char *spec, struct ln_model_files *out, struct ln_error *err)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        spec = LN_TRIPOSR_DEFAULT_REPO;
    if (strlen(spec) >= LN_HF_PATH_MAX - 32)
        return ln_error_set(err, LN_EINVAL, "model path too long");

    struct ln_path_info info;
    if (ln_path_stat(spec, 0, &info, NULL) == LN_OK) {
        if (info.kind == LN_PATH_DIR)
            return ln__locate_folder(spec, out, err);
        /* A weights file: config.yaml beside it. */
        char dir[LN_HF_PATH_MAX];
        memcpy(dir, spec, strlen(spec) + 1);
        char *slash = NULL;
        for (char *p = dir; *p; p++)
            if (LN_PATH_IS_SEP(*p))
                slash = p;
        if (!slash)
            memcpy(dir, ".", 2);
        else if (slash == dir)
            dir[1] = 0;
        else
            *slash = 0;
        if (ln__join(out->config, sizeof out->config, dir, "config.yaml", NULL) < 0)
            return ln_error_set(err, LN_EINVAL, "model path too long");
        if (!ln__is_file(out->config))
            return ln_error_set(err, LN_ENOTFOUND, "no config.yaml beside %.200s", spec);
        memcpy(out->weights, spec, strlen(spec) + 1);
        snprintf(out->where, sizeof out->where, "file %s", spec);
        return 0;
    }
    if (!ln__valid_repo(spec))
        return ln_error_set(err, LN_ENOTFOUND,
                            "%.200s: no such file or folder, and not a Hugging Face repo id", spec);

    char root[LN_HF_PATH_MAX], commit[LN__HF_COMMIT_MAX];
    int rc = ln__hf_find(spec, "config.yaml", out->config, sizeof out->config, root, commit, err);
    if (rc < 0)
        return rc;
    /* The weights come from the same snapshot as the configuration. */
    char snap[LN_HF_PATH_MAX], file[LN_HF_PATH_MAX], real[LN_HF_PATH_MAX];
    char folder[300];
    ln__repo_folder(spec, folder);
    static const char *const weights[] = {"model.ckpt", "model.safetensors"};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        if (ln__join(snap, sizeof snap, root, folder, "snapshots") < 0 ||
            ln__join(file, sizeof file, snap, commit, weights[i]) < 0)
            break;
        if (ln__real_file(file, real, sizeof real) && !ln__ends_with(real, ".incomplete") &&
            strlen(real) < sizeof out->weights) {
            memcpy(out->weights, real, strlen(real) + 1);
            snprintf(out->where, sizeof out->where, "Hugging Face cache %.*s (%s @ %s)",
                     (int)(sizeof out->where - 300), root, spec, commit);
            return 0;
        }
    }
    return ln_error_set(err, LN_ENOTFOUND,
                        "%s in the Hugging Face cache %.120s (snapshot %.40s) has config.yaml but "
                        "neither model.ckpt nor model.safetensors",
                        spec, root, commit);
}
