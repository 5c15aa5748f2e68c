/*
 * ln-synth: writes the synthetic inputs of ln_synth.h as PNG files, for the
 * end-to-end tests and the bundled example.
 *
 *   ln-synth photo OUT.png [SIZE]                a mug on a plain background
 *                                                (OUT.jpg: as a JPEG)
 *   ln-synth views PREFIX N [SIZE] [perspective] N views of a box: PREFIX-<i>.png
 *   ln-synth blank OUT.png [SIZE]                a background with no object
 *   ln-synth text OUT                            a text file, for bad-input tests
 *   ln-synth scans OUT.jpg N [SIZE]              a progressive JPEG with N scans
 *                                                (ln_synth_jpeg_scans, default 1024)
 *   ln-synth diff A B                            prints the largest difference of
 *                                                two decoded images' samples and how
 *                                                many samples differ (exit 1: sizes
 *                                                or channels differ, or unreadable)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_error.h"
#include "ln_image.h"
#include "ln_synth.h"

/* Writes the bytes to path; 0 on success. */
static int ln__write(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(data, 1, len, f) != len;
    if (f)
        bad |= fclose(f) != 0;
    return bad;
}

static int ln__save(struct ln_image *img, const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".jpg") == 0) {
        uint8_t *data = NULL;
        size_t len = 0;
        int bad = ln_synth_jpeg_encode(img, &data, &len) || ln__write(path, data, len);
        if (bad)
            fprintf(stderr, "ln-synth: cannot write %s\n", path);
        free(data);
        ln_image_free(img);
        return bad;
    }
    struct ln_error err = {0};
    int rc = ln_image_save_png(img, path, &err);
    if (rc < 0)
        fprintf(stderr, "ln-synth: %s\n", err.message);
    ln_image_free(img);
    return rc < 0;
}

/* ln-synth diff A B: "max D, N of M samples differ". */
static int ln__diff(const char *a_path, const char *b_path)
{
    struct ln_image a = {0}, b = {0};
    struct ln_error err = {0};
    int rc = 1;
    if (ln_image_load(a_path, NULL, &a, &err) < 0 || ln_image_load(b_path, NULL, &b, &err) < 0)
        fprintf(stderr, "ln-synth: %s\n", err.message);
    else if (a.width != b.width || a.height != b.height || a.channels != b.channels)
        fprintf(stderr, "ln-synth: %dx%dx%d against %dx%dx%d\n", a.width, a.height, a.channels,
                b.width, b.height, b.channels);
    else {
        size_t n = (size_t)a.width * (size_t)a.height * (size_t)a.channels, differ = 0;
        int worst = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)a.data[i] - (int)b.data[i]);
            differ += d != 0;
            worst = d > worst ? d : worst;
        }
        printf("max %d, %zu of %zu samples differ\n", worst, differ, n);
        rc = 0;
    }
    ln_image_free(&a);
    ln_image_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    struct ln_image img = {0};
    int size = argc > 3 ? atoi(argv[3]) : 512;
    if (argc >= 3 && strcmp(argv[1], "photo") == 0) {
        if (size < 16 || ln_synth_photo(&img, size))
            return 1;
        return ln__save(&img, argv[2]);
    }
    if (argc >= 3 && strcmp(argv[1], "blank") == 0) {
        ln_synth_blank(&img, argc > 3 ? size : 256);
        return img.data ? ln__save(&img, argv[2]) : 1;
    }
    if (argc >= 4 && strcmp(argv[1], "views") == 0) {
        int n = atoi(argv[3]);
        size = argc > 4 ? atoi(argv[4]) : 512;
        struct ln_image views[8] = {{0}};
        if (n < 1 || n > 8 || size < 16 ||
            ln_synth_box_views(views, n, size, argc > 5 && strcmp(argv[5], "perspective") == 0))
            return 1;
        int rc = 0;
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s-%d.png", argv[2], i);
            rc |= ln__save(&views[i], path);
        }
        return rc;
    }
    if (argc >= 3 && strcmp(argv[1], "text") == 0) {
        FILE *f = fopen(argv[2], "wb"); /* the same bytes on every system */
        if (!f)
            return 1;
        fputs("this is not an image\n", f);
        return fclose(f) != 0;
    }
    if (argc >= 4 && strcmp(argv[1], "scans") == 0) {
        uint8_t *data = NULL;
        size_t len = 0;
        if (ln_synth_jpeg_scans(argc > 4 ? atoi(argv[4]) : 1024, atoi(argv[3]), &data, &len))
            return 1;
        int bad = ln__write(argv[2], data, len);
        free(data);
        return bad;
    }
    if (argc == 4 && strcmp(argv[1], "diff") == 0)
        return ln__diff(argv[2], argv[3]);
    fputs("usage: ln-synth photo OUT.png|OUT.jpg [SIZE] | views PREFIX N [SIZE] [perspective] |\n"
          "       blank OUT.png [SIZE] | text OUT | scans OUT.jpg N [SIZE] | diff A B\n",
          stderr);
    return 2;
}
