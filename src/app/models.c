/*
 * `lunar-nova models list | pull NAME | verify NAME`: the models this
 * program can use, downloaded into the caches the Python tools use (the
 * Hugging Face cache for TripoSR and its ViT configuration, rembg's folder
 * for the background-removal models) and checked there. The work is in
 * src/nn/ln_hub.c; this file is flags, the progress bar and the report.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "ln_file.h"
#include "ln_hf.h"
#include "ln_hub.h"
#include "ln_log.h"
#include "ln_rembg.h"
#include "ln_triposr_config.h"

static void ln__models_usage(FILE *f)
{
    fputs("Usage: lunar-nova models list [--verify] [PATH...]\n"
          "       lunar-nova models pull NAME [--revision REV] [--quiet]\n"
          "       lunar-nova models verify NAME [--revision REV] [--repair]\n"
          "\n"
          "NAME is a Hugging Face repo id (stabilityai/TripoSR, the default model, or any\n"
          "owner/name) or a rembg model (u2net, u2netp, isnet-general-use,\n"
          "birefnet-general, ...).\n"
          "\n"
          "  list     every model found: the Hugging Face cache's repos, rembg's models,\n"
          "           and the files or folders given as PATH; --verify re-hashes them\n"
          "  pull     downloads what is missing, resuming an interrupted download, into\n"
          "           the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub or\n"
          "           ~/.cache/huggingface/hub) or rembg's folder (U2NET_HOME or ~/.u2net);\n"
          "           a TripoSR repo brings its ViT's config.json too\n"
          "  verify   re-hashes what is there and says what is wrong (exit 0 when all is\n"
          "           well, 2 when something is damaged or missing); --repair removes\n"
          "           the damaged files and downloads them again from the same commit\n"
          "\n"
          "Environment: HF_ENDPOINT (a mirror of the hub), HF_TOKEN or the token file of\n"
          "`huggingface-cli login` (gated repos), HF_HUB_OFFLINE=1 (no network: the cache\n"
          "only), LUNAR_NOVA_REMBG_BASE_URL (a mirror of rembg's files).\n",
          f);
}

static void ln__size(uint64_t bytes, char *out, size_t n)
{
    if (bytes >= 1000000000ull)
        snprintf(out, n, "%.2f GB", (double)bytes / 1e9);
    else if (bytes >= 1000000)
        snprintf(out, n, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(out, n, "%.1f kB", (double)bytes / 1e3);
}

/* pull ----------------------------------------------------------------- */

struct ln__pull_ui {
    struct ln_app_bar *bar;
    struct ln_progress progress;
};

static void ln__pull_progress(void *user, const char *file, uint64_t done, uint64_t total)
{
    struct ln__pull_ui *ui = user;
    char stage[400], a[32], b[32];
    const char *base = strrchr(file, '/');
    ln__size(done, a, sizeof a);
    if (total) {
        ln__size(total, b, sizeof b);
        snprintf(stage, sizeof stage, "%s %s of %s", base ? base + 1 : file, a, b);
    } else {
        snprintf(stage, sizeof stage, "%s %s", base ? base + 1 : file, a);
    }
    ln_progress_report(&ui->progress, stage, total ? (double)done / (double)total : 0.0);
}

static void ln__pull_note(void *user, const char *line)
{
    ln_log_info("%s", line);
}

static int ln__models_pull(int argc, char **argv)
{
    const char *revision = NULL;
    int quiet = 0;
    enum { OPT_REVISION = 1, OPT_QUIET, OPT_HELP };
    static const struct option opts[] = {{"revision", required_argument, NULL, OPT_REVISION},
                                         {"quiet", no_argument, NULL, OPT_QUIET},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
        if (c == OPT_REVISION)
            revision = optarg;
        else if (c == OPT_QUIET || c == 'q')
            quiet = 1;
        else if (c == OPT_HELP)
            return ln__models_usage(stdout), LN_EXIT_OK;
        else
            return ln__models_usage(stderr), LN_EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        fputs("lunar-nova models pull: name one model (try --help)\n", stderr);
        return LN_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (revision && ln_rembg_model(name)) {
        fputs("lunar-nova models pull: --revision is for Hugging Face repos, not rembg models\n",
              stderr);
        return LN_EXIT_USAGE;
    }
    struct ln_error err = {0};
    if (ln_hub_global_init(&err) < 0) {
        fprintf(stderr, "lunar-nova: %s\n", err.message);
        return LN_EXIT_FAILURE;
    }
    if (quiet)
        ln_log_set_level(LN_LOG_LEVEL_ERROR);
    struct ln__pull_ui ui;
    ui.bar = ln_app_bar_new(quiet);
    ui.progress = ln_app_bar_progress(ui.bar);
    struct ln_hub_pull *p = calloc(1, sizeof *p);
    if (!p) {
        ln_app_bar_free(ui.bar);
        fputs("lunar-nova: out of memory\n", stderr);
        return LN_EXIT_FAILURE;
    }
    p->revision = revision;
    p->progress = ln__pull_progress;
    p->note = ln__pull_note;
    p->user = &ui;
    const int rc = ln_hub_pull_model(name, p, &err);
    ln_app_bar_free(ui.bar);
    if (rc < 0) {
        fprintf(stderr, "lunar-nova: %s\n", err.message);
        free(p);
        return ln_app_exit_for(rc);
    }
    if (!quiet) {
        char mb[32];
        ln__size(p->bytes_downloaded, mb, sizeof mb);
        if (ln_rembg_model(name))
            printf("%s: %s (%s)\n", name, p->snapshot,
                   p->n_downloaded ? "downloaded, checksum ok" : "already there, checksum ok");
        else
            printf("%s@%s: %d file%s downloaded (%s), %d already in the cache\n  %s\n", name,
                   p->commit, p->n_downloaded, p->n_downloaded == 1 ? "" : "s", mb, p->n_cached,
                   p->snapshot);
    }
    free(p);
    return LN_EXIT_OK;
}

/* verify and list --------------------------------------------------------- */

#define LN__REPAIR_MAX 64

struct ln__tally {
    int n_files, n_bad, print_files, repair;
    int relink; /* a blob no snapshot links to: pull links it again */
    uint64_t bytes;
    /* verify --repair: the damaged files, to fetch again. */
    char commit[LN_HUB_COMMIT_MAX];
    char *bad[LN__REPAIR_MAX];
    int n_repair;
};

static void ln__on_file(void *user, const struct ln_hub_file_report *r)
{
    struct ln__tally *t = user;
    char sz[32];
    t->n_files++;
    t->bytes += r->size;
    t->n_bad += !r->ok;
    if (!r->ok && r->unlinked) {
        /* The blob is good or not, but nothing names it: a pull of the
         * same commit links it again (and --repair does so). */
        t->relink = 1;
        if (r->commit)
            snprintf(t->commit, sizeof t->commit, "%s", r->commit);
    } else if (!r->ok && t->repair && t->n_repair < LN__REPAIR_MAX) {
        t->bad[t->n_repair++] = strdup(r->file);
        /* The damaged blob goes (only when the link leads into this repo's
         * blobs/ folder), then the link or plain file, so that a pull
         * fetches the file again. */
        struct ln_path_info lst;
        char *real = NULL, *blobs_real = NULL, blobs[LN_HF_PATH_MAX];
        const char *snap = NULL;
        for (const char *q = strstr(r->path, "/snapshots/"); q; q = strstr(q + 1, "/snapshots/"))
            snap = q;
        if (ln_path_stat(r->path, LN_PATH_NOFOLLOW, &lst, NULL) == LN_OK &&
            lst.kind == LN_PATH_LINK && snap && ln_path_real(r->path, &real, NULL) == LN_OK &&
            (size_t)snprintf(blobs, sizeof blobs, "%.*s/blobs", (int)(snap - r->path), r->path) <
                sizeof blobs &&
            ln_path_real(blobs, &blobs_real, NULL) == LN_OK &&
            strncmp(real, blobs_real, strlen(blobs_real)) == 0 &&
            LN_PATH_IS_SEP(real[strlen(blobs_real)]))
            ln_path_remove(real, NULL);
        free(real);
        free(blobs_real);
        ln_path_remove(r->path, NULL);
        if (r->commit)
            snprintf(t->commit, sizeof t->commit, "%s", r->commit);
    }
    ln__size(r->size, sz, sizeof sz);
    if (t->print_files || !r->ok)
        printf("    %-32s %10s  %s%s\n", r->file, r->ok ? sz : "",
               r->ok ? "ok" : "BAD: ", r->ok ? "" : r->problem);
}

static int ln__verify_report(const char *name, const char *revision, struct ln__tally *tp);

static int ln__models_verify(int argc, char **argv)
{
    const char *revision = NULL;
    int repair = 0;
    enum { OPT_REVISION = 1, OPT_REPAIR, OPT_HELP };
    static const struct option opts[] = {{"revision", required_argument, NULL, OPT_REVISION},
                                         {"repair", no_argument, NULL, OPT_REPAIR},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_REVISION)
            revision = optarg;
        else if (c == OPT_REPAIR)
            repair = 1;
        else if (c == OPT_HELP)
            return ln__models_usage(stdout), LN_EXIT_OK;
        else
            return ln__models_usage(stderr), LN_EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        fputs("lunar-nova models verify: name one model (try --help)\n", stderr);
        return LN_EXIT_USAGE;
    }
    const char *name = argv[optind];
    struct ln__tally t = {.print_files = 1, .repair = repair};
    return ln__verify_report(name, revision, &t);
}

/* The cache root that holds repo_id, as `--model` finds it ("" if none). */
static void ln__repo_root(const char *repo_id, char *out, size_t n)
{
    char folder[300], dir[LN_HF_PATH_MAX + 300];
    char(*roots)[LN_HF_PATH_MAX] = calloc(LN_HF_ROOTS_MAX, sizeof *roots);
    struct ln_path_info st;
    out[0] = 0;
    if (!roots || ln_hf_repo_folder(repo_id, folder, sizeof folder) < 0) {
        free(roots);
        return;
    }
    const int k = ln_hf_cache_roots(roots, LN_HF_ROOTS_MAX);
    for (int i = 0; i < k && !out[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", roots[i], folder);
        if (ln_path_stat(dir, 0, &st, NULL) == LN_OK)
            snprintf(out, n, "%s", roots[i]);
    }
    free(roots);
}

/* verify NAME with the tally's settings: the report, the repair, the ViT
 * configuration of a TripoSR repo; returns the exit status. */
static int ln__verify_report(const char *name, const char *revision, struct ln__tally *tp)
{
    struct ln__tally t = *tp;
    struct ln_error err = {0};
    if (t.repair && !ln_rembg_model(name)) {
        /* A repair downloads into the cache downloads go to: a copy read
         * from another root (TRANSFORMERS_CACHE, ...) is not repaired. */
        char root[LN_HF_PATH_MAX], cache[LN_HF_PATH_MAX];
        ln__repo_root(name, root, sizeof root);
        if (root[0] && ln_hf_cache_dir(cache, sizeof cache, NULL) == 0 &&
            strcmp(root, cache) != 0) {
            fprintf(stderr,
                    "lunar-nova: %s is read from %s, not from the cache downloads go to (%s): "
                    "--repair repairs only that one; `lunar-nova models pull %s` puts a copy "
                    "there\n",
                    name, root, cache, name);
            return LN_EXIT_USAGE;
        }
    }
    printf("%s:\n", name);
    int rc = ln_hub_verify(name, revision, 1, ln__on_file, &t, &err);
    if (rc == LN_EFORMAT && t.relink && !t.repair)
        printf("a snapshot link is missing: `lunar-nova models pull %s%s%s` links it again "
               "(or verify --repair)\n",
               name, t.commit[0] ? " --revision " : "", t.commit);
    if (rc == LN_EFORMAT && (t.n_repair > 0 || (t.repair && t.relink))) {
        /* --repair: the damaged files were removed; fetch them again from
         * the same commit (rembg: the same file), then check once more. */
        if (t.n_repair > 0)
            printf("repairing: %d file%s to download again\n", t.n_repair,
                   t.n_repair == 1 ? "" : "s");
        if (t.relink)
            printf("repairing: linking the snapshot's files again\n");
        struct ln_hub_pull *p = calloc(1, sizeof *p);
        struct ln_error e2 = {0};
        int prc = p ? ln_hub_global_init(&e2) : ln_error_set(&e2, LN_ENOMEM, "out of memory");
        if (prc == LN_OK) {
            p->note = ln__pull_note;
            p->revision = t.commit[0] ? t.commit : NULL;
            if (ln_rembg_model(name))
                prc = ln_hub_pull_rembg(ln_rembg_model(name), p, &e2);
            else if (t.n_repair > 0)
                prc = ln_hub_pull_files(name, (const char *const *)t.bad, t.n_repair, p, &e2);
            /* A lost link: the model's files at the same commit, which
             * finds the blobs there and only links them. */
            if (prc == LN_OK && t.relink && !ln_rembg_model(name))
                prc = ln_hub_pull_model(name, p, &e2);
        }
        free(p);
        for (int i = 0; i < t.n_repair; i++)
            free(t.bad[i]);
        if (prc < 0) {
            fprintf(stderr, "lunar-nova: repair failed: %s\n", e2.message);
            return ln_app_exit_for(prc);
        }
        memset(&t, 0, sizeof t);
        t.print_files = 1;
        printf("%s after the repair:\n", name);
        rc = ln_hub_verify(name, revision, 1, ln__on_file, &t, &err);
    }
    if (rc == LN_OK && !ln_rembg_model(name)) {
        /* A TripoSR repo also needs the ViT configuration its config.yaml
         * names. */
        struct ln_model_files files;
        struct ln_error e2 = {0};
        if (!revision && ln_model_locate(name, &files, &e2) == 0) {
            struct ln_triposr_config *cfg = calloc(1, sizeof *cfg);
            char vit[256] = "";
            if (cfg && ln_triposr_config_load(files.config, cfg, &e2) == 0)
                snprintf(vit, sizeof vit, "%s", cfg->vit_repo);
            free(cfg);
            if (vit[0] && ln_hf_valid_repo(vit)) {
                char path[LN_HF_PATH_MAX];
                if (ln_hf_resolve(vit, "config.json", path, sizeof path, &e2) < 0) {
                    printf("    %-32s %10s  BAD: %s is missing: `lunar-nova models pull %s` "
                           "fetches it\n",
                           "(ViT config.json)", "", vit, name);
                    rc = ln_error_set(&err, LN_EFORMAT, "%s: the ViT configuration %s is missing",
                                      name, vit);
                } else {
                    printf("    %-32s %10s  ok (%s)\n", "(ViT config.json)", "", vit);
                }
            }
        }
    }
    if (rc < 0) {
        fprintf(stderr, "lunar-nova: %s\n", err.message);
        return rc == LN_EFORMAT ? LN_EXIT_USAGE : ln_app_exit_for(rc);
    }
    char sz[32];
    ln__size(t.bytes, sz, sizeof sz);
    printf("%s: %d file%s, %s, all verified\n", name, t.n_files, t.n_files == 1 ? "" : "s", sz);
    return LN_EXIT_OK;
}

struct ln__list {
    int hash, n_models, n_bad;
    const char *cache; /* the root being listed */
    int first;         /* it is the one downloads go to */
};

/* One line per snapshot of a repo: which refs name it, size, state. */
static void ln__list_repo(void *user, const char *repo_id, const char *repo_dir)
{
    struct ln__list *l = user;
    char snaps[LN_HF_PATH_MAX + 16];
    snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir);
    struct ln_dir *d = NULL;
    struct ln_dir_entry e;
    int any = 0;
    if (ln_dir_open(&d, snaps, NULL) < 0)
        d = NULL;
    while (d && ln_dir_next(d, &e, NULL) > 0) {
        if (e.name[0] == '.')
            continue;
        any = 1;
        /* The refs that name this commit (top-level ones: main, tags). */
        char refs[200] = "", refdir[LN_HF_PATH_MAX + 16];
        snprintf(refdir, sizeof refdir, "%s/refs", repo_dir);
        struct ln_dir *rd = NULL;
        struct ln_dir_entry re;
        if (ln_dir_open(&rd, refdir, NULL) < 0)
            rd = NULL;
        while (rd && ln_dir_next(rd, &re, NULL) > 0) {
            char path[LN_HF_PATH_MAX + 300], buf[128] = "";
            snprintf(path, sizeof path, "%s/%s", refdir, re.name);
            uint8_t *data = NULL;
            size_t got = 0;
            if (re.name[0] == '.' || re.kind != LN_PATH_FILE ||
                ln_file_read(path, sizeof buf - 1, &data, &got, NULL) < 0)
                continue;
            memcpy(buf, data, got);
            free(data);
            buf[got] = 0;
            buf[strcspn(buf, "\r\n ")] = 0;
            if (strcmp(buf, e.name) == 0 && strlen(refs) + strlen(re.name) + 3 < sizeof refs)
                snprintf(refs + strlen(refs), sizeof refs - strlen(refs), "%s%s",
                         refs[0] ? "," : "", re.name);
        }
        ln_dir_close(rd);
        struct ln__tally t = {.print_files = 0};
        struct ln_error err = {0};
        const int rc = ln_hub_verify_at(l->cache, repo_id, e.name, l->hash, ln__on_file, &t, &err);
        char sz[32], rev[300];
        ln__size(t.bytes, sz, sizeof sz);
        snprintf(rev, sizeof rev, "%s%s%.12s", refs, refs[0] ? " -> " : "(no ref) ", e.name);
        printf("  %-36s %-22s %10s  %s\n", repo_id, rev, sz,
               rc == LN_OK ? (l->hash ? "verified" : "complete")
                           : "BAD (lunar-nova models verify)");
        printf("    %s/%s\n", snaps, e.name);
        l->n_models++;
        l->n_bad += rc != LN_OK;
    }
    ln_dir_close(d);
    if (!any) {
        printf("  %-36s %-22s %10s  %s\n", repo_id, "-", "", "no snapshot (download unfinished?)");
        l->n_bad++;
    }
    /* Unfinished downloads: not part of any snapshot, resumed by a pull. */
    char blobs[LN_HF_PATH_MAX + 16];
    snprintf(blobs, sizeof blobs, "%s/blobs", repo_dir);
    struct ln_dir *bd = NULL;
    if (ln_dir_open(&bd, blobs, NULL) < 0)
        bd = NULL;
    while (bd && ln_dir_next(bd, &e, NULL) > 0) {
        const size_t n = strlen(e.name);
        char path[LN_HF_PATH_MAX + 300], sz[32];
        struct ln_path_info st;
        if (n <= 11 || strcmp(e.name + n - 11, ".incomplete") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", blobs, e.name);
        ln__size(ln_path_stat(path, 0, &st, NULL) == LN_OK ? st.size : 0, sz, sizeof sz);
        if (l->first)
            printf("    unfinished download: %s in %s (`lunar-nova models pull %s` resumes it)\n",
                   sz, e.name, repo_id);
        else
            printf("    unfinished download: %s in %s (pulls go to the cache above; delete it "
                   "or finish it with the tool that started it)\n",
                   sz, e.name);
    }
    ln_dir_close(bd);
}

static int ln__models_list(int argc, char **argv)
{
    struct ln__list l = {0, 0, 0, NULL, 0};
    enum { OPT_VERIFY = 1, OPT_HELP };
    static const struct option opts[] = {{"verify", no_argument, NULL, OPT_VERIFY},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == OPT_VERIFY)
            l.hash = 1;
        else if (c == OPT_HELP)
            return ln__models_usage(stdout), LN_EXIT_OK;
        else
            return ln__models_usage(stderr), LN_EXIT_USAGE;
    }
    char dir[LN_HF_PATH_MAX];
    struct ln_error err = {0};
    /* Every root `--model REPO_ID` reads, in its order: the first is where
     * downloads go; the others (TRANSFORMERS_CACHE, a cache named by a
     * variable that is not the first) are listed when they exist. */
    char(*roots)[LN_HF_PATH_MAX] = calloc(LN_HF_ROOTS_MAX, sizeof *roots);
    const int n_roots = roots ? ln_hf_cache_roots(roots, LN_HF_ROOTS_MAX) : 0;
    if (n_roots == 0 && ln_hf_cache_dir(dir, sizeof dir, &err) < 0)
        printf("Hugging Face cache: %s\n", err.message);
    for (int i = 0; i < n_roots; i++) {
        struct ln_path_info st;
        if (i > 0 && ln_path_stat(roots[i], 0, &st, NULL) < 0)
            continue;
        printf("Hugging Face cache %s (%s)\n", roots[i],
               i == 0 ? "downloads go here" : "read by --model too, after the ones above");
        l.cache = roots[i];
        l.first = i == 0;
        ln_hub_list_repos(roots[i], ln__list_repo, &l, &err);
    }
    free(roots);
    if (ln_rembg_home(dir, sizeof dir, &err) == 0) {
        printf("rembg's folder %s\n", dir);
        size_t n;
        const struct ln_rembg_model *all = ln_rembg_models(&n);
        for (size_t i = 0; i < n; i++) {
            char path[LN_HF_PATH_MAX + 64];
            struct ln_path_info st;
            snprintf(path, sizeof path, "%s/%s", dir, all[i].file);
            if (ln_path_stat(path, 0, &st, NULL) < 0)
                continue;
            struct ln__tally t = {.print_files = 0};
            const int rc = ln_hub_verify(all[i].name, NULL, l.hash, ln__on_file, &t, &err);
            char sz[32];
            ln__size(t.bytes, sz, sizeof sz);
            printf("  %-36s %-22s %10s  %s\n", all[i].name, all[i].file, sz,
                   rc == LN_OK ? (l.hash ? "verified" : "present") : "BAD (checksum)");
            l.n_models++;
            l.n_bad += rc != LN_OK;
        }
    } else {
        printf("rembg's folder: %s\n", err.message);
    }
    for (int i = optind; i < argc; i++) {
        struct ln_model_files files;
        struct ln_path_info st;
        char sz[32];
        l.n_models++;
        if (ln_model_locate(argv[i], &files, &err) == 0 &&
            ln_path_stat(files.weights, 0, &st, NULL) == LN_OK) {
            ln__size(st.size, sz, sizeof sz);
            printf("  %-36s %-22s %10s  %s\n    %s\n", argv[i], "TripoSR", sz, "present",
                   files.weights);
        } else if (ln_path_stat(argv[i], 0, &st, NULL) == LN_OK && st.kind == LN_PATH_FILE) {
            ln__size(st.size, sz, sizeof sz);
            printf("  %-36s %-22s %10s  %s\n", argv[i], "file", sz, "present (no checksum known)");
        } else {
            printf("  %-36s %-22s %10s  %s\n", argv[i], "-", "", "not usable");
            printf("    %s\n", err.message);
            l.n_bad++;
        }
    }
    if (!l.hash && l.n_models)
        printf("(`lunar-nova models list --verify` or `lunar-nova models verify NAME` re-hash "
               "the files)\n");
    if (l.n_models == 0)
        printf("No models yet: `lunar-nova models pull stabilityai/TripoSR` fetches the TripoSR "
               "weights, `lunar-nova models pull u2net` a background-removal model.\n");
    return l.n_bad ? LN_EXIT_USAGE : LN_EXIT_OK;
}

int ln_app_models(int argc, char **argv)
{
    if (argc < 2) {
        ln__models_usage(stderr);
        return LN_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        ln__models_usage(stdout);
        return LN_EXIT_OK;
    }
    if (strcmp(sub, "list") == 0)
        return ln__models_list(argc - 1, argv + 1);
    if (strcmp(sub, "pull") == 0)
        return ln__models_pull(argc - 1, argv + 1);
    if (strcmp(sub, "verify") == 0)
        return ln__models_verify(argc - 1, argv + 1);
    fprintf(stderr, "lunar-nova models: unknown command '%s' (list, pull or verify)\n", sub);
    return LN_EXIT_USAGE;
}
