/*
 * Camera frames. The right vector is (cos az, 0, -sin az) for every
 * elevation, which is the limit the look-at construction tends to and stays
 * defined when the camera looks straight down or up.
 */
#include "ln_camera.h"

#include <math.h>

static const double ln__deg = 3.14159265358979323846 / 180.0;

void ln_camera_options_default(struct ln_camera_options *opt)
{
    opt->projection = LN_PROJECTION_ORTHO;
    opt->ortho_size = LN_CAMERA_DEFAULT_ORTHO_SIZE;
    opt->fov_deg = LN_CAMERA_DEFAULT_FOV;
    opt->distance = LN_CAMERA_DEFAULT_DISTANCE;
}

void ln_camera_init(struct ln_camera *cam, const struct ln_view *view,
                    const struct ln_camera_options *opt)
{
    double az = view->azimuth * ln__deg, el = view->elevation * ln__deg;
    double dir[3] = {sin(az) * cos(el), sin(el), cos(az) * cos(el)};
    double d = opt->projection == LN_PROJECTION_PERSPECTIVE ? opt->distance : 10.0;
    double f[3] = {-dir[0], -dir[1], -dir[2]};
    double r[3] = {cos(az), 0.0, -sin(az)};
    /* up = right x forward */
    double u[3] = {r[1] * f[2] - r[2] * f[1], r[2] * f[0] - r[0] * f[2],
                   r[0] * f[1] - r[1] * f[0]};
    for (int i = 0; i < 3; i++) {
        cam->center[i] = (float)(d * dir[i]);
        cam->forward[i] = (float)f[i];
        cam->right[i] = (float)r[i];
        cam->up[i] = (float)u[i];
    }
    cam->projection = opt->projection;
    if (opt->projection == LN_PROJECTION_PERSPECTIVE)
        cam->scale = (float)(1.0 / (2.0 * tan(0.5 * opt->fov_deg * ln__deg)));
    else
        cam->scale = 1.0f / opt->ortho_size;
}

int ln_camera_project(const struct ln_camera *cam, const float p[3], float *u, float *v,
                      float *depth)
{
    float q[3] = {p[0] - cam->center[0], p[1] - cam->center[1], p[2] - cam->center[2]};
    float x = q[0] * cam->right[0] + q[1] * cam->right[1] + q[2] * cam->right[2];
    float y = q[0] * cam->up[0] + q[1] * cam->up[1] + q[2] * cam->up[2];
    float z = q[0] * cam->forward[0] + q[1] * cam->forward[1] + q[2] * cam->forward[2];
    *depth = z;
    if (cam->projection == LN_PROJECTION_PERSPECTIVE) {
        if (z <= 1e-6f)
            return -1;
        x /= z;
        y /= z;
    }
    *u = 0.5f + x * cam->scale;
    *v = 0.5f - y * cam->scale;
    return 0;
}

void ln_camera_ray(const struct ln_camera *cam, float u, float v, float origin[3], float dir[3])
{
    float x = (u - 0.5f) / cam->scale;
    float y = (0.5f - v) / cam->scale;
    if (cam->projection == LN_PROJECTION_PERSPECTIVE) {
        float n = 0.0f;
        for (int i = 0; i < 3; i++) {
            origin[i] = cam->center[i];
            dir[i] = cam->forward[i] + x * cam->right[i] + y * cam->up[i];
            n += dir[i] * dir[i];
        }
        n = sqrtf(n);
        for (int i = 0; i < 3; i++)
            dir[i] /= n;
    } else {
        for (int i = 0; i < 3; i++) {
            origin[i] = cam->center[i] + x * cam->right[i] + y * cam->up[i];
            dir[i] = cam->forward[i];
        }
    }
}

void ln_views_default(struct ln_view *views, int n)
{
    for (int i = 0; i < n; i++) {
        views[i].azimuth = 360.0f * (float)i / (float)n;
        views[i].elevation = 0.0f;
    }
}
