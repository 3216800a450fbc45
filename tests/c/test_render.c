/*
 * test_render.c: the stateless part of the C API: version, status names,
 * spec canonicalisation, render, probe, limits, hostile inputs, NULL
 * pointers and error buffers. Usage: test_render CORPUS_DIR.
 */
#include "check.h"

#include <dirent.h>
#include <sys/stat.h>

static const char *corpus;

static void test_version(void) {
    CHECK(strcmp(thumbnail_version(), THUMBNAIL_VERSION) == 0);
    CHECK(thumbnail_abi_version() == THUMBNAIL_ABI_VERSION);
}

static void test_status_names(void) {
    static const char *const names[] = {
        "ok",       "invalid-spec", "unsupported", "corrupt",          "too-large",
        "invalid-argument", "internal", "not-found", "buffer-too-small", "load-failed",
    };
    CHECK(THUMBNAIL_STATUS_OK == 0 && THUMBNAIL_STATUS_INVALID_SPEC == 1 &&
          THUMBNAIL_STATUS_UNSUPPORTED == 2 && THUMBNAIL_STATUS_CORRUPT == 3 &&
          THUMBNAIL_STATUS_TOO_LARGE == 4 && THUMBNAIL_STATUS_INVALID_ARGUMENT == 5 &&
          THUMBNAIL_STATUS_INTERNAL == 6 && THUMBNAIL_STATUS_NOT_FOUND == 7 &&
          THUMBNAIL_STATUS_BUFFER_TOO_SMALL == 8 && THUMBNAIL_STATUS_LOAD_FAILED == 9);
    for (int32_t i = 0; i < 10; i++) {
        CHECK(strcmp(thumbnail_status_name(i), names[i]) == 0);
    }
    CHECK(strcmp(thumbnail_status_name(10), "unknown") == 0);
    CHECK(strcmp(thumbnail_status_name(-1), "unknown") == 0);
    CHECK(strcmp(thumbnail_status_name(INT32_MAX), "unknown") == 0);
    CHECK(strcmp(thumbnail_status_name(INT32_MIN), "unknown") == 0);
}

static void test_status_http(void) {
    static const uint16_t http[] = {200, 400, 415, 415, 413, 500, 500, 404, 500, 502};
    for (int32_t i = 0; i < 10; i++) {
        CHECK(thumbnail_status_http(i) == http[i]);
    }
    CHECK(thumbnail_status_http(10) == 500);
    CHECK(thumbnail_status_http(-1) == 500);
}

static void test_limits_default(void) {
    thumbnail_limits l = thumbnail_limits_default();
    CHECK(l.max_source_bytes == 64u << 20);
    CHECK(l.max_source_pixels == 50000000u);
    CHECK(l.max_output_width == 4096 && l.max_output_height == 4096);
    CHECK(l.strict == 0);
    CHECK(l.max_output_bytes == 0);
}

static void test_spec_canonical(void) {
    char out[64], err[256];
    size_t written = 99;

    CHECK_STATUS(thumbnail_spec_canonical(S("200x200"), out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(strcmp(out, "200x200") == 0 && written == 7);
    CHECK_STATUS(thumbnail_spec_canonical(S("x100,q80,inside"), out, sizeof out, &written, err,
                                          sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(strcmp(out, "x100") == 0 && written == 4);
    CHECK_STATUS(thumbnail_spec_canonical(S("200x200,q85,cover"), out, sizeof out, NULL, NULL, 0),
                 THUMBNAIL_STATUS_OK, NULL);
    CHECK(strcmp(out, "200x200,cover,q85") == 0);

    /* Exactly enough room (7 + NUL), then one byte short. */
    CHECK_STATUS(thumbnail_spec_canonical(S("200x200"), out, 8, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    memset(out, 'Z', sizeof out);
    strcpy(err, "untouched");
    CHECK_STATUS(thumbnail_spec_canonical(S("200x200"), out, 7, &written, err, sizeof err),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, err);
    CHECK(written == 7 && out[0] == '\0' && out[7] == 'Z');
    CHECK(strncmp(err, "buffer-too-small: ", 18) == 0);
    /* Length query. */
    written = 0;
    CHECK_STATUS(thumbnail_spec_canonical(S("100x50,fill"), NULL, 0, &written, NULL, 0),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, NULL);
    CHECK(written == 11);
    CHECK_STATUS(thumbnail_spec_canonical(S("100x50"), NULL, 5, &written, NULL, 0),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);

    /* Invalid specs say why. */
    struct {
        const char *spec;
        size_t len;
        const char *reason;
    } bad[] = {
        {S("200x200,bogus"), "unknown option 'bogus'"},
        {S("0x10"), "out of range"},
        {S("200x200,cover,cover"), "more than once"},
        {S("200"), "must be WxH"},
        {S(""), "empty spec"},
        {NULL, 0, "empty spec"},
        {S("\xff\xfe"), "not valid UTF-8"},
        {S("200x200\0,cover"), "is not a number"},
        {S("200x200,q101"), "quality"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        written = 99;
        CHECK_STATUS(thumbnail_spec_canonical(bad[i].spec, bad[i].len, out, sizeof out, &written,
                                              err, sizeof err),
                     THUMBNAIL_STATUS_INVALID_SPEC, err);
        CHECK(strncmp(err, "invalid-spec: ", 14) == 0);
        CHECK_CONTAINS(err, bad[i].reason);
        CHECK(written == 0);
    }
    CHECK_STATUS(thumbnail_spec_canonical(NULL, 3, out, sizeof out, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "spec is NULL");
}

/* Probes an encoded image and checks it is `format`, w x h. */
static void check_probe(const uint8_t *data, size_t len, thumbnail_format format, uint32_t w,
                        uint32_t h) {
    thumbnail_info info;
    char err[256];
    CHECK_STATUS(thumbnail_probe(data, len, &info, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(info.format == format);
    CHECK(info.width == w && info.height == h);
    CHECK(info.orientation == 1);
}

static void test_render_jpeg(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "photos/rocket.jpg", &len);
    thumbnail_info info;
    char err[256];
    CHECK_STATUS(thumbnail_probe(src, len, &info, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(info.format == THUMBNAIL_FORMAT_JPEG && info.width == 640 && info.height == 427);
    CHECK(info.orientation == 1 && !info.has_alpha);

    thumbnail_image *img = (thumbnail_image *)&info; /* garbage: must be overwritten */
    CHECK_STATUS(thumbnail_render(src, len, S("200x200"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(img != NULL);
    CHECK(thumbnail_image_width(img) == 200);
    CHECK(thumbnail_image_height(img) == 133 || thumbnail_image_height(img) == 134);
    CHECK(thumbnail_image_format(img) == THUMBNAIL_FORMAT_JPEG);
    CHECK(strcmp(thumbnail_image_media_type(img), "image/jpeg") == 0);
    const uint8_t *data = thumbnail_image_data(img);
    size_t n = thumbnail_image_len(img);
    CHECK(data != NULL && n > 100);
    CHECK(is_jpeg(data, n));
    CHECK(data[n - 2] == 0xFF && data[n - 1] == 0xD9); /* EOI */
    check_probe(data, n, THUMBNAIL_FORMAT_JPEG, thumbnail_image_width(img),
                thumbnail_image_height(img));
    /* The data pointer is stable for the handle's life. */
    CHECK(thumbnail_image_data(img) == data);
    thumbnail_image_free(img);

    /* cover crops to the exact box; format override. */
    CHECK_STATUS(thumbnail_render(src, len, S("120x120,cover,png"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_image_width(img) == 120 && thumbnail_image_height(img) == 120);
    CHECK(thumbnail_image_format(img) == THUMBNAIL_FORMAT_PNG);
    CHECK(is_png(thumbnail_image_data(img), thumbnail_image_len(img)));
    thumbnail_image_free(img);
    free(src);
}

static void test_render_kodak(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "photos/kodak/kodim23.png", &len);
    thumbnail_image *img = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_render(src, len, S("160x160,cover,jpeg,q70"), NULL, &img, err,
                                  sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_image_width(img) == 160 && thumbnail_image_height(img) == 160);
    CHECK(is_jpeg(thumbnail_image_data(img), thumbnail_image_len(img)));
    check_probe(thumbnail_image_data(img), thumbnail_image_len(img), THUMBNAIL_FORMAT_JPEG, 160,
                160);
    thumbnail_image_free(img);
    free(src);
}

static void test_render_png_alpha(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "edge/png-alpha/hibiscus.primitive.png", &len);
    thumbnail_info info;
    char err[256];
    CHECK_STATUS(thumbnail_probe(src, len, &info, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(info.format == THUMBNAIL_FORMAT_PNG && info.has_alpha);
    CHECK(info.width == 312 && info.height == 442);

    thumbnail_image *img = NULL;
    CHECK_STATUS(thumbnail_render(src, len, S("100x100"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_image_format(img) == THUMBNAIL_FORMAT_PNG);
    CHECK(strcmp(thumbnail_image_media_type(img), "image/png") == 0);
    CHECK(thumbnail_image_height(img) == 100 && thumbnail_image_width(img) <= 100);
    const uint8_t *data = thumbnail_image_data(img);
    size_t n = thumbnail_image_len(img);
    CHECK(is_png(data, n));
    CHECK_STATUS(thumbnail_probe(data, n, &info, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(info.format == THUMBNAIL_FORMAT_PNG && info.has_alpha);
    CHECK(info.width == thumbnail_image_width(img) && info.height == 100);
    thumbnail_image_free(img);
    free(src);
}

static void test_limits(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "photos/rocket.jpg", &len);
    thumbnail_image *img = NULL;
    char err[256];
    thumbnail_limits l = thumbnail_limits_default();
    l.max_source_pixels = 1000;
    CHECK_STATUS(thumbnail_render(src, len, S("100x100"), &l, &img, err, sizeof err),
                 THUMBNAIL_STATUS_TOO_LARGE, err);
    CHECK(img == NULL);
    CHECK(strncmp(err, "too-large: ", 11) == 0);
    CHECK_CONTAINS(err, "limit 1000 pixels");

    l = thumbnail_limits_default();
    l.max_source_bytes = 100;
    CHECK_STATUS(thumbnail_render(src, len, S("100x100"), &l, &img, err, sizeof err),
                 THUMBNAIL_STATUS_TOO_LARGE, err);
    l = thumbnail_limits_default();
    l.max_output_width = 100;
    CHECK_STATUS(thumbnail_render(src, len, S("300x300,fill"), &l, &img, err, sizeof err),
                 THUMBNAIL_STATUS_TOO_LARGE, err);
    CHECK(img == NULL);
    /* the encoded size: a 300x300 PNG is far over 1000 bytes, a 8x8 one not */
    l = thumbnail_limits_default();
    l.max_output_bytes = 1000;
    CHECK_STATUS(thumbnail_render(src, len, S("300x300,png"), &l, &img, err, sizeof err),
                 THUMBNAIL_STATUS_TOO_LARGE, err);
    CHECK(img == NULL);
    CHECK_CONTAINS(err, "limit 1000");
    CHECK_STATUS(thumbnail_render(src, len, S("8x8,png"), &l, &img, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_image_len(img) <= 1000);
    thumbnail_image_free(img);
    img = NULL;
    free(src);
}

/* Renders and probes every file of a corrupt folder: each call must give a
 * clean status, NULL output on error and a well-formed message. */
static int sweep(const char *folder) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", corpus, folder);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    /* Bounded work per file (valgrind runs this too). */
    thumbnail_limits limits = thumbnail_limits_default();
    limits.max_source_pixels = 1000000;
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char rel[4096];
        struct stat st;
        snprintf(rel, sizeof rel, "%s/%s", folder, e->d_name);
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", corpus, rel);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        files++;
        size_t len;
        uint8_t *src = read_file(path, &len);
        char err[512];
        thumbnail_image *img = (thumbnail_image *)src;
        thumbnail_status s =
            thumbnail_render(src, len, S("64x64"), &limits, &img, err, sizeof err);
        if (s == THUMBNAIL_STATUS_OK) {
            CHECK(img != NULL);
            const uint8_t *data = thumbnail_image_data(img);
            size_t n = thumbnail_image_len(img);
            CHECK(is_jpeg(data, n) || is_png(data, n));
            CHECK(thumbnail_image_width(img) <= 64 && thumbnail_image_height(img) <= 64);
            thumbnail_image_free(img);
        } else {
            if (!(s == THUMBNAIL_STATUS_UNSUPPORTED || s == THUMBNAIL_STATUS_CORRUPT ||
                  s == THUMBNAIL_STATUS_TOO_LARGE)) {
                fprintf(stderr, "%s: status %d: %s\n", rel, (int)s, err);
                CHECK(!"clean status");
            }
            CHECK(img == NULL);
            size_t name_len = strlen(thumbnail_status_name(s));
            CHECK(strncmp(err, thumbnail_status_name(s), name_len) == 0);
            CHECK(err[name_len] == ':' && err[name_len + 1] == ' ');
        }
        thumbnail_info info;
        s = thumbnail_probe(src, len, &info, err, sizeof err);
        CHECK(s == THUMBNAIL_STATUS_OK || s == THUMBNAIL_STATUS_UNSUPPORTED ||
              s == THUMBNAIL_STATUS_CORRUPT || s == THUMBNAIL_STATUS_TOO_LARGE);
        if (s != THUMBNAIL_STATUS_OK) {
            CHECK(info.format == THUMBNAIL_FORMAT_UNKNOWN && info.width == 0);
        }
        free(src);
    }
    closedir(d);
    CHECK(files > 0);
    return files;
}

static void expect_failure(const char *rel, thumbnail_status want) {
    size_t len;
    uint8_t *src = read_corpus(corpus, rel, &len);
    thumbnail_image *img = (thumbnail_image *)src;
    char err[256];
    double t0 = now_seconds();
    CHECK_STATUS(thumbnail_render(src, len, S("200x200"), NULL, &img, err, sizeof err), want, err);
    CHECK(img == NULL);
    /* Header-only rejections are instant natively; allow for valgrind. */
    if (now_seconds() - t0 > 5.0) {
        fprintf(stderr, "%s took %.1f s\n", rel, now_seconds() - t0);
        CHECK(!"rejected fast");
    }
    free(src);
}

static void test_hostile(void) {
    int files = sweep("corrupt/jpeg") + sweep("corrupt/png") + sweep("corrupt/truncated") +
                sweep("corrupt/gif");
    CHECK(files >= 40);

    expect_failure("corrupt/bombs/65536-uint32-limit.png", THUMBNAIL_STATUS_TOO_LARGE);
    expect_failure("corrupt/bombs/giant-image.jpg", THUMBNAIL_STATUS_TOO_LARGE);
    expect_failure("corrupt/bombs/max_size.jpg", THUMBNAIL_STATUS_TOO_LARGE);
    expect_failure("corrupt/bombs/decompression_bomb.gif", THUMBNAIL_STATUS_TOO_LARGE);
    expect_failure("corrupt/jpeg/missing-sof.jpg", THUMBNAIL_STATUS_CORRUPT);
    expect_failure("corrupt/jpeg/null_height.jpg", THUMBNAIL_STATUS_CORRUPT);
    expect_failure("corrupt/png/x_ihdr_missing.png", THUMBNAIL_STATUS_CORRUPT);
    expect_failure("corrupt/jpeg/empty.jpg", THUMBNAIL_STATUS_UNSUPPORTED);

    /* A text-chunk zlib bomb: any clean outcome, quickly. */
    size_t len;
    uint8_t *src = read_corpus(corpus, "corrupt/bombs/png_decompression_dos.png", &len);
    thumbnail_image *img = NULL;
    char err[256];
    double t0 = now_seconds();
    thumbnail_status s = thumbnail_render(src, len, S("200x200"), NULL, &img, err, sizeof err);
    CHECK(s == THUMBNAIL_STATUS_OK || s == THUMBNAIL_STATUS_TOO_LARGE ||
          s == THUMBNAIL_STATUS_CORRUPT);
    CHECK((s == THUMBNAIL_STATUS_OK) == (img != NULL));
    CHECK(now_seconds() - t0 < 5.0);
    thumbnail_image_free(img);
    free(src);

    /* Bytes that are no image at all, and an empty source. */
    static const uint8_t text[] = "GET / HTTP/1.1\r\n\r\n";
    CHECK_STATUS(thumbnail_render(text, sizeof text - 1, S("10x10"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_UNSUPPORTED, err);
    CHECK_STATUS(thumbnail_render(NULL, 0, S("10x10"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_UNSUPPORTED, err);
    CHECK_CONTAINS(err, "empty");
    CHECK(img == NULL);
    static const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
    CHECK_STATUS(thumbnail_render(soi, sizeof soi, S("10x10"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_CORRUPT, err);
    CHECK(img == NULL);
}

static void test_null_pointers(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "conformance/jpeg/libjpeg-turbo/testorig.jpg", &len);
    char err[256];
    thumbnail_image *img = (thumbnail_image *)src;

    CHECK_STATUS(thumbnail_render(NULL, 10, S("10x10"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(img == NULL);
    CHECK_CONTAINS(err, "invalid-argument: src is NULL");
    img = (thumbnail_image *)src;
    CHECK_STATUS(thumbnail_render(src, len, NULL, 5, NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(img == NULL);
    CHECK_STATUS(thumbnail_render(src, len, NULL, 0, NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_SPEC, err);
    CHECK_STATUS(thumbnail_render(src, len, S("10x10"), NULL, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "out is NULL");
    /* No error buffer at all is fine. */
    CHECK_STATUS(thumbnail_render(src, len, S("10x10"), NULL, NULL, NULL, 0),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(thumbnail_render(src, len, S("10x10"), NULL, NULL, NULL, 100),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);

    thumbnail_info info;
    memset(&info, 0xAB, sizeof info);
    CHECK_STATUS(thumbnail_probe(NULL, 0, &info, err, sizeof err), THUMBNAIL_STATUS_UNSUPPORTED,
                 err);
    CHECK(info.format == THUMBNAIL_FORMAT_UNKNOWN && info.width == 0 && info.height == 0 &&
          info.orientation == 0 && !info.has_alpha);
    CHECK_STATUS(thumbnail_probe(NULL, 1, &info, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(thumbnail_probe(src, len, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);

    /* Accessors and frees accept NULL. */
    CHECK(thumbnail_image_data(NULL) == NULL);
    CHECK(thumbnail_image_len(NULL) == 0);
    CHECK(thumbnail_image_width(NULL) == 0 && thumbnail_image_height(NULL) == 0);
    CHECK(thumbnail_image_format(NULL) == THUMBNAIL_FORMAT_UNKNOWN);
    CHECK(thumbnail_image_media_type(NULL) == NULL);
    thumbnail_image_free(NULL);
    thumbnail_cache_free(NULL);
    free(src);
}

/* Error buffers of every small size hold a NUL-terminated prefix of the
 * message and nothing is written past err_len. */
static void test_error_buffers(void) {
    const char *full = "invalid-spec: unknown option 'bogus'";
    for (size_t err_len = 0; err_len <= 8; err_len++) {
        char buf[16];
        memset(buf, '#', sizeof buf);
        thumbnail_image *img = NULL;
        CHECK_STATUS(thumbnail_render(NULL, 0, S("9x9,bogus"), NULL, &img, buf, err_len),
                     THUMBNAIL_STATUS_INVALID_SPEC, NULL);
        if (err_len == 0) {
            CHECK(buf[0] == '#');
        } else {
            CHECK(buf[err_len - 1] == '\0');
            CHECK(strlen(buf) == err_len - 1);
            CHECK(strncmp(buf, full, err_len - 1) == 0);
        }
        CHECK(buf[err_len] == '#'); /* canary */
    }
    /* A long message into a buffer just too small for it. */
    char buf[40];
    memset(buf, '#', sizeof buf);
    CHECK_STATUS(thumbnail_spec_canonical(S("9x9,bogus"), NULL, 0, NULL, buf, strlen(full)),
                 THUMBNAIL_STATUS_INVALID_SPEC, NULL);
    CHECK(strlen(buf) == strlen(full) - 1 && strncmp(buf, full, strlen(full) - 1) == 0);
    CHECK(buf[strlen(full)] == '#');
    /* Success leaves the buffer alone. */
    strcpy(buf, "untouched");
    char out[16];
    CHECK_STATUS(thumbnail_spec_canonical(S("9x9"), out, sizeof out, NULL, buf, sizeof buf),
                 THUMBNAIL_STATUS_OK, buf);
    CHECK(strcmp(buf, "untouched") == 0);
}

int main(int argc, char **argv) {
    corpus = corpus_dir(argc, argv);
    test_version();
    test_status_names();
    test_status_http();
    test_limits_default();
    test_spec_canonical();
    test_render_jpeg();
    test_render_kodak();
    test_render_png_alpha();
    test_limits();
    test_hostile();
    test_null_pointers();
    test_error_buffers();
    printf("test_render: ok (thumbnail %s, ABI %u)\n", thumbnail_version(),
           (unsigned)thumbnail_abi_version());
    return 0;
}
