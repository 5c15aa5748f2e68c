/*
 * GET /options: the option table (ln_options.h) and this server's limits as
 * JSON, so that a client (the web UI first) builds its controls and its
 * checks from what this server accepts instead of from constants of its
 * own. Everything here is read from the table, the server's configuration
 * and the job manager's engine set; nothing is written twice.
 */
#include <stdlib.h>
#include <string.h>

#include "ln_export.h"
#include "ln_options.h"
#include "ln_server_int.h"

/* One row of the table as the API describes it. */
static json_t *ln__option_json(const struct ln_option *o, const struct ln_generate_options *def)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(o->name));
    json_object_set_new(j, "label", json_string(o->label));
    json_object_set_new(j, "type", json_string(ln_option_type_name(o->type)));
    if (o->type == LN_OPTION_INT || o->type == LN_OPTION_REAL || o->type == LN_OPTION_VIEW) {
        /* A view's range is its elevation's; its azimuth is any angle. */
        json_object_set_new(j, "min",
                            o->type == LN_OPTION_INT ? json_integer((json_int_t)o->min)
                                                     : json_real(o->min));
        json_object_set_new(j, "max",
                            o->type == LN_OPTION_INT ? json_integer((json_int_t)o->max)
                                                     : json_real(o->max));
    }
    if (o->flags & LN_OPTION_ZERO_OFF)
        json_object_set_new(j, "zero_off", json_true());
    if (o->choices) {
        json_t *c = json_array();
        for (const char *const *p = o->choices; *p; p++)
            json_array_append_new(c, json_string(*p));
        json_object_set_new(j, "choices", c);
    }
    if (o->get) {
        struct ln_option_value v = {0.0, ""};
        o->get(def, &v);
        json_t *d;
        switch (o->type) {
        case LN_OPTION_INT:
            d = json_integer((json_int_t)v.number);
            break;
        case LN_OPTION_REAL: {
            char buf[32];
            d = json_real(strtod(ln_option_format(o, def, buf, sizeof buf), NULL));
            break;
        }
        case LN_OPTION_BOOL:
            d = json_boolean(v.number != 0);
            break;
        default:
            d = json_string(v.word ? v.word : "");
            break;
        }
        json_object_set_new(j, "default", d);
    } else {
        json_object_set_new(j, "default", json_null());
    }
    json_object_set_new(j, "accepts", json_string(o->want));
    json_object_set_new(j, "help", json_string(o->help));
    json_t *cli = json_array();
    if (o->cli) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->cli);
        json_array_append_new(cli, json_string(flag));
    }
    if (o->cli_off) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->cli_off);
        json_array_append_new(cli, json_string(flag));
    }
    json_object_set_new(j, "cli", cli);
    json_object_set_new(j, "api", json_boolean(!(o->flags & LN_OPTION_NO_API)));
    json_object_set_new(j, "per_view", json_boolean((o->flags & LN_OPTION_PER_VIEW) != 0));
    json_t *engines = json_array();
    for (const char *const *p = o->engines; p && *p; p++)
        json_array_append_new(engines, json_string(*p));
    json_object_set_new(j, "engines", engines);
    return j;
}

enum MHD_Result ln__h_options(struct ln__req *req)
{
    struct ln_server *srv = req->srv;
    struct ln_generate_options def;
    ln_generate_options_default(&def);
    json_t *options = json_array();
    for (size_t i = 0; i < ln_option_count; i++)
        json_array_append_new(options, ln__option_json(&ln_option_table[i], &def));

    /* The engines loaded now; none while the job manager starts. */
    json_t *engines = json_array();
    struct ln_jobs *jobs = ln__server_jobs(srv);
    if (jobs) {
        struct ln_engine_set set;
        ln_jobs_engines(jobs, &set);
        for (int i = 0; i < set.n; i++)
            json_array_append_new(engines, json_string(ln_engine_name(set.engines[i])));
    }
    json_t *formats = json_array();
    for (int f = 0; f < LN_MESH_FORMAT_COUNT; f++)
        json_array_append_new(formats, json_string(ln_mesh_format_ext((enum ln_mesh_format)f)));

    json_t *body = json_pack(
        "{s:o, s:{s:I, s:I, s:i, s:i, s:I, s:i, s:[s,s,s]}, s:o, s:o}", "options", options,
        "limits", "max_file_bytes", (json_int_t)srv->cfg.max_file_bytes, "max_request_bytes",
        (json_int_t)srv->cfg.max_request_bytes, "min_images", 2, "max_images", srv->cfg.max_images,
        "max_pixels", (json_int_t)srv->cfg.image_limits.max_pixels, "max_side",
        srv->cfg.image_limits.max_side, "image_types", "image/png", "image/jpeg", "image/webp",
        "engines", engines, "formats", formats);
    return ln__send_json(req, MHD_HTTP_OK, body);
}
