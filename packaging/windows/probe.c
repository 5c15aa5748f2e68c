/* Links one Windows program against every library deps.sh cross-built,
 * the way lunar-nova.exe will (static, pkg-config --static), and calls one
 * function of each: a library that is missing, built for the wrong
 * target or lacking a private dependency fails here, at link time, not
 * in the project's build. Not run: the build machines have no Windows. */
#include <stdio.h>
#include <stdint.h>
#include <png.h>
#include <jpeglib.h>
#include <webp/decode.h>
#include <libexif/exif-data.h>
#include <jansson.h>
#include <meshoptimizer.h>
#include <microhttpd.h>
#include <yaml.h>
#include <cblas.h>
#include <protobuf-c/protobuf-c.h>
#include <curl/curl.h>
#include <nettle/sha2.h>
#include <zip.h>

int main(void)
{
    struct jpeg_error_mgr jerr;
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0};
    unsigned int indices[3] = {0, 1, 2}, remap[3];
    float verts[9] = {0};
    json_t *j = json_integer(1);
    ExifData *exif = exif_data_new();

    struct sha256_ctx sha;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&sha);
    sha256_update(&sha, 3, (const uint8_t *)"abc");
    sha256_digest(&sha, sizeof digest, digest);
    jpeg_std_error(&jerr);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    meshopt_generateVertexRemap(remap, indices, 3, verts, 3, sizeof(float) * 3);
    printf("png %s, webp %x, microhttpd %s, yaml %s, protobuf-c %s, %s, openblas %s, "
           "sgemm %g, sha256(abc) %02x%02x..., libzip %s\n", png_get_libpng_ver(NULL), (unsigned)WebPGetDecoderVersion(),
           MHD_get_version(), yaml_get_version_string(), protobuf_c_version(), curl_version(),
           openblas_get_config(), (double)c[3], digest[0], digest[1], zip_libzip_version());
    json_decref(j);
    exif_data_unref(exif);
    return 0;
}
