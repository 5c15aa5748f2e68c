/*
 * JPEG decoding with libjpeg-turbo, plus the EXIF orientation that phone
 * photos depend on. libjpeg's default error handler calls exit(), so a
 * custom manager turns every error into a longjmp back to us, and the
 * "premature end of data" warning (after which libjpeg would pad the image
 * with grey) into an error too: a cut upload must fail, not half-decode.
 *
 * Orientation is read with libexif from the APP1 marker kept by
 * jpeg_save_markers and applied after decoding, so the result is upright.
 * As in the PNG decoder, setjmp sits in a helper whose caller owns all
 * resources (C11 7.13.2.1). The encoder (baked textures) writes baseline
 * JPEG into libjpeg's memory destination, then copies it out.
 */
#include "ln_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <libexif/exif-data.h>

#include "ln_alloc.h"

struct ln__jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
};

/* The work limits, checked by libjpeg's progress monitor, which it calls
 * before each step of input (a row of blocks or a marker) and each output
 * row: a scan starts with its SOS marker, so counting input_scan_number
 * there stops a file with thousands of scans at the first one too many. */
struct ln__jpeg_progress {
    struct jpeg_progress_mgr pub;
    int max_scans;
    uint64_t max_blocks; /* set at the first scan, from the frame's size */
    int last_scan;       /* the scan whose blocks are counted */
    uint64_t blocks;     /* blocks in the scans so far */
    char msg[128];       /* set when a limit stopped decoding */
};

struct ln__jpeg_read {
    const uint8_t *data;
    size_t len;
    const struct ln_image_limits *lim;
    struct ln_image *out;
    struct ln_error *err;
    struct jpeg_decompress_struct cinfo;
    struct ln__jpeg_error jerr;
    struct ln__jpeg_progress progress;
    int orientation;
};

static void ln__jpeg_progress_monitor(j_common_ptr common)
{
    struct ln__jpeg_progress *p = (struct ln__jpeg_progress *)common->progress;
    j_decompress_ptr cinfo = (j_decompress_ptr)common;
    if (!common->is_decompressor || p->msg[0])
        return;
    int scan = cinfo->input_scan_number;
    if (scan > p->max_scans) {
        snprintf(p->msg, sizeof p->msg, "JPEG has more than %d scans: too much work to decode",
                 p->max_scans);
        longjmp(((struct ln__jpeg_error *)common->err)->jump, 1);
    }
    if (scan > p->last_scan) { /* the SOS marker has been read */
        p->last_scan = scan;
        if (!p->max_blocks) {
            uint64_t frame = 0;
            for (int i = 0; i < cinfo->num_components; i++)
                frame += (uint64_t)cinfo->comp_info[i].width_in_blocks *
                         cinfo->comp_info[i].height_in_blocks;
            p->max_blocks = frame * LN_IMAGE_JPEG_WORK_FACTOR;
            if (p->max_blocks < LN_IMAGE_JPEG_WORK_MIN_BLOCKS)
                p->max_blocks = LN_IMAGE_JPEG_WORK_MIN_BLOCKS;
        }
        for (int i = 0; i < cinfo->comps_in_scan && i < MAX_COMPS_IN_SCAN; i++) {
            const jpeg_component_info *c = cinfo->cur_comp_info[i];
            if (c)
                p->blocks += (uint64_t)c->width_in_blocks * c->height_in_blocks;
        }
        if (p->blocks > p->max_blocks) {
            snprintf(p->msg, sizeof p->msg,
                     "JPEG scans visit %llu blocks, above the limit of %llu: too much work to "
                     "decode",
                     (unsigned long long)p->blocks, (unsigned long long)p->max_blocks);
            longjmp(((struct ln__jpeg_error *)common->err)->jump, 1);
        }
    }
}

static void ln__jpeg_error_exit(j_common_ptr cinfo)
{
    struct ln__jpeg_error *e = (struct ln__jpeg_error *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Level -1 is a warning. Two warnings mean lost pixels: the data ends
 * early (JWRN_JPEG_EOF, a cut file) or a scan stops short at a marker
 * (JWRN_HIT_MARKER, "premature end of data segment", a cut file with an
 * end marker stuck on); libjpeg would fill the rest with grey. The others
 * (extraneous bytes, odd markers) concern data libjpeg has recovered from,
 * so they are dropped like trace output. */
static void ln__jpeg_emit_message(j_common_ptr cinfo, int level)
{
    struct ln__jpeg_error *e = (struct ln__jpeg_error *)cinfo->err;
    if (level == -1 && (e->pub.msg_code == JWRN_JPEG_EOF || e->pub.msg_code == JWRN_HIT_MARKER)) {
        e->pub.format_message(cinfo, e->msg);
        longjmp(e->jump, 1);
    }
}

static void ln__jpeg_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* The EXIF orientation tag (1..8) from the first APP1 Exif marker, or 1
 * when there is none or it cannot be read. */
static int ln__jpeg_orientation(j_decompress_ptr cinfo)
{
    static const uint8_t exif_id[6] = {'E', 'x', 'i', 'f', 0, 0};
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < sizeof exif_id ||
            memcmp(m->data, exif_id, sizeof exif_id) != 0)
            continue;
        ExifData *ed = exif_data_new();
        if (!ed)
            return 1;
        /* Loading must not invent tags: "following the specification"
         * would add a default orientation to files that have none. */
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(ed, m->data, m->data_length);
        int orientation = 1;
        ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (e && e->data && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->size >= 2) {
            int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
            if (v >= 1 && v <= 8)
                orientation = v;
        }
        exif_data_unref(ed);
        return orientation;
    }
    return 1;
}

/* Swaps two RGBA pixels. Pixels move as 4-byte groups with memcpy (which
 * compilers turn into one load and store) rather than through a uint32_t
 * pointer, which would read bytes libjpeg wrote as JSAMPLEs. */
static void ln__px_swap(uint8_t *a, uint8_t *b)
{
    uint8_t t[4];
    memcpy(t, a, 4);
    memcpy(a, b, 4);
    memcpy(b, t, 4);
}

/* Applies EXIF orientation o (1..8) to img: in place for 2..4, into a new
 * buffer for 5..8, which swap width and height. The mapping is that of the
 * EXIF 2.3 specification (tag 0x0112): each source pixel (x, y) of a w x h
 * image lands at the output position given below. */
static int ln__jpeg_orient(struct ln_image *img, int o, struct ln_error *err)
{
    size_t w = (size_t)img->width;
    size_t h = (size_t)img->height;
    uint8_t *p = img->data;
    if (o == 1)
        return LN_OK;
    if (o >= 2 && o <= 4) {
        /* 2: mirror left-right; 4: mirror top-bottom; 3: both (180). */
        int flip_x = o != 4;
        int flip_y = o != 2;
        size_t n_rows = flip_y ? (h + 1) / 2 : h;
        for (size_t y = 0; y < n_rows; y++) {
            size_t yb = flip_y ? h - 1 - y : y;
            uint8_t *a = p + y * w * 4;
            uint8_t *b = p + yb * w * 4;
            if (yb == y && !flip_x)
                continue;
            /* A row mirrored onto itself swaps only its first half. */
            size_t n_x = yb == y ? w / 2 : w;
            for (size_t x = 0; x < n_x; x++)
                ln__px_swap(a + x * 4, b + (flip_x ? w - 1 - x : x) * 4);
        }
        return LN_OK;
    }

    struct ln_image rot = {0};
    int rc = ln_image_alloc(&rot, img->height, img->width, 4, err);
    if (rc < 0)
        return rc;
    uint8_t *q = rot.data;
    size_t ow = h;
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++) {
            size_t ox, oy;
            switch (o) {
            case 5: /* transpose */
                ox = y;
                oy = x;
                break;
            case 6: /* rotate 90 degrees clockwise */
                ox = h - 1 - y;
                oy = x;
                break;
            case 7: /* transverse */
                ox = h - 1 - y;
                oy = w - 1 - x;
                break;
            default: /* 8: rotate 90 degrees counter-clockwise */
                ox = y;
                oy = w - 1 - x;
                break;
            }
            memcpy(q + (oy * ow + ox) * 4, p + (y * w + x) * 4, 4);
        }
    }
    ln_image_free(img);
    *img = rot;
    return LN_OK;
}

/* CMYK as Adobe writes it (the only producer that matters) is stored
 * inverted: 255 means no ink, so R = C'K'/255 on the stored values. Other
 * CMYK JPEGs are taken as plain ink amounts. */
static void ln__jpeg_cmyk_row(const JSAMPLE *in, uint8_t *out, size_t w, int inverted)
{
    for (size_t x = 0; x < w; x++, in += 4, out += 4) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        out[0] = (uint8_t)((c * k + 127) / 255);
        out[1] = (uint8_t)((m * k + 127) / 255);
        out[2] = (uint8_t)((y * k + 127) / 255);
        out[3] = 255;
    }
}

static int ln__jpeg_read_run(struct ln__jpeg_read *ctx)
{
    j_decompress_ptr cinfo = &ctx->cinfo;
    if (setjmp(ctx->jerr.jump)) {
        if (ctx->progress.msg[0])
            return ln_error_set(ctx->err, LN_EUNUSABLE, "%s", ctx->progress.msg);
        return ln_error_set(ctx->err, LN_EFORMAT, "truncated or corrupt JPEG: %s", ctx->jerr.msg);
    }

    jpeg_create_decompress(cinfo);
    cinfo->progress = &ctx->progress.pub;
    jpeg_mem_src(cinfo, ctx->data, (unsigned long)ctx->len);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    /* Saved markers live in the image pool, which finishing frees. */
    ctx->orientation = ln__jpeg_orientation(cinfo);

    int rc =
        ln__image_check_size("JPEG", cinfo->image_width, cinfo->image_height, ctx->lim, ctx->err);
    if (rc < 0)
        return rc;

    int cmyk = 0;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo->out_color_space = JCS_EXT_RGBA;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        return ln_error_set(ctx->err, LN_EFORMAT, "unsupported JPEG colour space (%d components)",
                            cinfo->num_components);
    }
    jpeg_start_decompress(cinfo);
    if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height ||
        cinfo->output_components != 4)
        return ln_error_set(ctx->err, LN_EFORMAT, "unexpected JPEG output layout");

    size_t w = cinfo->output_width;
    rc = ln_image_alloc(ctx->out, (int)cinfo->output_width, (int)cinfo->output_height, 4, ctx->err);
    if (rc < 0)
        return rc;
    /* The CMYK scanline lives in libjpeg's pool, freed with the decoder. */
    JSAMPARRAY cmyk_row = NULL;
    if (cmyk)
        cmyk_row =
            cinfo->mem->alloc_sarray((j_common_ptr)cinfo, JPOOL_IMAGE, (JDIMENSION)(w * 4), 1);
    int inverted = cinfo->saw_Adobe_marker;
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *row = ctx->out->data + (size_t)cinfo->output_scanline * w * 4;
        if (cmyk) {
            if (jpeg_read_scanlines(cinfo, cmyk_row, 1) != 1)
                return ln_error_set(ctx->err, LN_EFORMAT, "truncated or corrupt JPEG");
            ln__jpeg_cmyk_row(cmyk_row[0], row, w, inverted);
        } else {
            JSAMPROW rows[1] = {row};
            if (jpeg_read_scanlines(cinfo, rows, 1) != 1)
                return ln_error_set(ctx->err, LN_EFORMAT, "truncated or corrupt JPEG");
        }
    }
    /* Reading to EOI turns a missing tail into the end-of-data warning. */
    jpeg_finish_decompress(cinfo);
    return ln__jpeg_orient(ctx->out, ctx->orientation, ctx->err);
}

int ln__image_decode_jpeg(const uint8_t *data, size_t len, const struct ln_image_limits *lim,
                          struct ln_image *out, struct ln_error *err)
{
    struct ln__jpeg_read ctx = {
        .data = data, .len = len, .lim = lim, .out = out, .err = err, .orientation = 1};
    ctx.cinfo.err = jpeg_std_error(&ctx.jerr.pub);
    ctx.jerr.pub.error_exit = ln__jpeg_error_exit;
    ctx.jerr.pub.emit_message = ln__jpeg_emit_message;
    ctx.jerr.pub.output_message = ln__jpeg_output_message;
    ctx.progress.pub.progress_monitor = ln__jpeg_progress_monitor;
    ctx.progress.max_scans =
        lim->max_jpeg_scans > 0 ? lim->max_jpeg_scans : LN_IMAGE_DEFAULT_MAX_JPEG_SCANS;

    int rc = ln__jpeg_read_run(&ctx);

    /* Safe even if creation failed: ctx starts zeroed, and libjpeg frees
     * only what its memory manager holds. */
    jpeg_destroy_decompress(&ctx.cinfo);
    if (rc < 0)
        ln_image_free(out);
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

struct ln__jpeg_write {
    const struct ln_image *img;
    int quality;
    struct jpeg_compress_struct cinfo;
    struct ln__jpeg_error jerr;
    unsigned char *mem; /* libjpeg's output buffer (malloc'd by jpeg_mem_dest) */
    unsigned long mem_len;
    uint8_t *row;       /* an RGB row of a 4-channel image */
};

static int ln__jpeg_write_run(struct ln__jpeg_write *ctx, struct ln_error *err)
{
    j_compress_ptr cinfo = &ctx->cinfo;
    if (setjmp(ctx->jerr.jump))
        return ln_error_set(err, LN_EIO, "JPEG encoder: %s", ctx->jerr.msg);
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &ctx->mem, &ctx->mem_len);
    const struct ln_image *img = ctx->img;
    cinfo->image_width = (JDIMENSION)img->width;
    cinfo->image_height = (JDIMENSION)img->height;
    cinfo->input_components = img->channels == 1 ? 1 : 3;
    cinfo->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, ctx->quality, TRUE);
    /* Full-resolution chroma (4:4:4): a texture atlas packs unrelated
     * colours side by side, which halved chroma would smear together. */
    for (int c = 0; c < cinfo->num_components; c++)
        cinfo->comp_info[c].h_samp_factor = cinfo->comp_info[c].v_samp_factor = 1;
    jpeg_start_compress(cinfo, TRUE);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    while (cinfo->next_scanline < cinfo->image_height) {
        const uint8_t *src = img->data + (size_t)cinfo->next_scanline * stride;
        JSAMPROW row = (JSAMPROW)src;
        if (img->channels == 4) { /* alpha dropped: JPEG has none */
            for (size_t x = 0; x < (size_t)img->width; x++)
                memcpy(ctx->row + 3 * x, src + 4 * x, 3);
            row = ctx->row;
        }
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return LN_OK;
}

int ln_image_encode_jpeg(const struct ln_image *img, int quality, struct ln_buf *out,
                         struct ln_error *err)
{
    if (!img || !out || !img->data || img->width <= 0 || img->height <= 0)
        return ln_error_set(err, LN_EINVAL, "cannot encode an empty image as JPEG");
    if (img->channels != 1 && img->channels != 3 && img->channels != 4)
        return ln_error_set(err, LN_EINVAL, "cannot encode a %d-channel image as JPEG",
                            img->channels);
    if (img->width > 65500 || img->height > 65500)
        return ln_error_set(err, LN_EINVAL, "a JPEG is at most 65500 pixels wide and high");
    if (quality < 1 || quality > 100)
        return ln_error_set(err, LN_EINVAL, "JPEG quality must be 1 to 100 (got %d)", quality);
    if (out->failed)
        return ln_error_set(err, LN_ENOMEM, "out of memory encoding a JPEG");
    struct ln__jpeg_write ctx = {.img = img, .quality = quality};
    if (img->channels == 4) {
        ctx.row = ln_alloc_array((size_t)img->width, 3, 0, "JPEG row", err);
        if (!ctx.row)
            return err ? err->code : LN_ENOMEM;
    }
    ctx.cinfo.err = jpeg_std_error(&ctx.jerr.pub);
    ctx.jerr.pub.error_exit = ln__jpeg_error_exit;
    ctx.jerr.pub.output_message = ln__jpeg_output_message;
    int rc = ln__jpeg_write_run(&ctx, err);
    jpeg_destroy_compress(&ctx.cinfo);
    if (rc == LN_OK) {
        ln_buf_append(out, ctx.mem, ctx.mem_len);
        if (out->failed)
            rc = ln_error_set(err, LN_ENOMEM, "out of memory encoding a JPEG");
    }
    free(ctx.mem);
    free(ctx.row);
    return rc;
}
