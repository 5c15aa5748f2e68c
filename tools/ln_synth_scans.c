/*
 * A hostile JPEG for the decoder's work limits: a valid progressive
 * greyscale JPEG of a flat image whose last scan is repeated thousands of
 * times. That scan (an AC refinement of a flat image) holds only
 * end-of-band runs, a few bytes, yet a decoder without a scan limit walks
 * every block of the image for each copy: a file of about a hundred
 * kilobytes costs seconds of CPU. libjpeg's encoder refuses such a scan
 * script, so the scans are spliced into the encoded file; decoders accept
 * the repeats with a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "ln_synth.h"

/* The offset just past the entropy-coded data that starts at i: the next
 * marker other than a stuffed zero or a restart marker. */
static size_t ln__skip_entropy(const uint8_t *p, size_t n, size_t i)
{
    while (i + 1 < n) {
        if (p[i] == 0xff && p[i + 1] != 0 && (p[i + 1] < 0xd0 || p[i + 1] > 0xd7))
            return i;
        i++;
    }
    return n;
}

int ln_synth_jpeg_scans(int side, int n_scans, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (side < 8 || n_scans < 1)
        return 1;
    uint8_t *row = malloc((size_t)side);
    if (!row)
        return 1;
    memset(row, 128, (size_t)side);

    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *enc = NULL;
    unsigned long enc_len = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &enc, &enc_len);
    c.image_width = (JDIMENSION)side;
    c.image_height = (JDIMENSION)side;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);

    /* Find the last scan (its SOS marker to the end of its data) and EOI. */
    size_t i = 2, last_sos = 0, last_end = 0, eoi = 0;
    int n_base = 0;
    while (i + 2 <= enc_len && enc[i] == 0xff) {
        uint8_t m = enc[i + 1];
        if (m == 0xd9) {
            eoi = i;
            break;
        }
        if (i + 4 > enc_len)
            break;
        size_t seg = ((size_t)enc[i + 2] << 8) | enc[i + 3];
        if (m == 0xda) {
            n_base++;
            last_sos = i;
            i = last_end = ln__skip_entropy(enc, enc_len, i + 2 + seg);
        } else {
            i += 2 + seg;
        }
    }
    if (!eoi || !n_base) {
        free(enc);
        return 1;
    }
    size_t scan_len = last_end - last_sos;
    size_t copies = n_scans > n_base ? (size_t)(n_scans - n_base) : 0;
    size_t len = eoi + copies * scan_len + 2;
    uint8_t *p = malloc(len);
    if (!p) {
        free(enc);
        return 1;
    }
    memcpy(p, enc, eoi);
    for (size_t k = 0; k < copies; k++)
        memcpy(p + eoi + k * scan_len, enc + last_sos, scan_len);
    p[len - 2] = 0xff;
    p[len - 1] = 0xd9;
    free(enc);
    *out = p;
    *out_len = len;
    return 0;
}

int ln_synth_jpeg_encode(const struct ln_image *img, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!img->data || img->width < 1 || img->height < 1 || img->channels < 1 ||
        img->channels > 4 || img->channels == 2)
        return 1;
    int comps = img->channels == 1 ? 1 : 3;
    uint8_t *row = malloc((size_t)img->width * 3);
    if (!row)
        return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *enc = NULL;
    unsigned long enc_len = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &enc, &enc_len);
    c.image_width = (JDIMENSION)img->width;
    c.image_height = (JDIMENSION)img->height;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        const uint8_t *src =
            img->data + (size_t)c.next_scanline * (size_t)img->width * (size_t)img->channels;
        for (int x = 0; x < img->width; x++)
            for (int k = 0; k < comps; k++)
                row[x * comps + k] = src[x * img->channels + k];
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *out = malloc(enc_len);
    if (!*out) {
        free(enc);
        return 1;
    }
    memcpy(*out, enc, enc_len);
    *out_len = enc_len;
    free(enc);
    return 0;
}
