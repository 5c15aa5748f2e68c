/*
 * The camera convention (docs/ARCHITECTURE.md §5), shared by every engine, the
 * preview renderer and the tests. A view (azimuth, elevation) in degrees
 * puts the camera at d * (sin az cos el, sin el, cos az cos el), looking at
 * the origin with +Y up; az 0 is the front, az 90 puts the camera on +X.
 * Images are square (multi-view inputs are padded to a square, never
 * cropped): orthographic views span a world window of side ortho_size
 * centred on the origin; perspective views have a field of view fov_deg
 * across the square's side and sit at `distance`.
 *
 *     struct ln_camera cam;
 *     ln_camera_init(&cam, &view, &opts);
 *     float u, v, depth;
 *     ln_camera_project(&cam, p, &u, &v, &depth); // u right, v down, 0..1
 *
 * Plain values; reentrant.
 */
#ifndef LN_CAMERA_H
#define LN_CAMERA_H

struct ln_view {
    float azimuth;   /* degrees */
    float elevation; /* degrees */
};

enum ln_projection {
    LN_PROJECTION_ORTHO,
    LN_PROJECTION_PERSPECTIVE,
};

struct ln_camera_options {
    enum ln_projection projection;
    float ortho_size; /* world side of the orthographic window, default 1.25 */
    float fov_deg;    /* perspective field of view across the image, default 40 */
    float distance;   /* perspective camera distance, default 2.5 */
};

#define LN_CAMERA_DEFAULT_ORTHO_SIZE 1.25f
#define LN_CAMERA_DEFAULT_FOV 40.0f
#define LN_CAMERA_DEFAULT_DISTANCE 2.5f

struct ln_camera {
    enum ln_projection projection;
    float center[3];  /* camera position */
    float right[3];   /* image +u direction */
    float up[3];      /* image -v direction */
    float forward[3]; /* viewing direction (toward the origin) */
    float scale;      /* ortho: 1 / window side; perspective: 1 / (2 tan(fov/2)) */
};

void ln_camera_options_default(struct ln_camera_options *opt);
void ln_camera_init(struct ln_camera *cam, const struct ln_view *view,
                    const struct ln_camera_options *opt);

/* Projects world point p: (u, v) in [0, 1] across the square image (u to
 * the right, v downward) and depth = distance along the viewing direction
 * from the camera (larger is farther). Returns 0, or -1 if p is behind a
 * perspective camera. */
int ln_camera_project(const struct ln_camera *cam, const float p[3], float *u, float *v,
                      float *depth);

/* The ray through image point (u, v): origin and unit direction. For an
 * orthographic camera the origin lies on the plane through the camera
 * centre. */
void ln_camera_ray(const struct ln_camera *cam, float u, float v, float origin[3], float dir[3]);

/* Default views for n images: azimuth i * 360 / n, elevation 0. */
void ln_views_default(struct ln_view *views, int n);

#endif
