/*
 * example.c: make one thumbnail with libthumbnail.
 *
 *     example INPUT SPEC OUTPUT
 *     example photo.jpg 200x200,cover thumb.jpg
 *
 * Build (see README.md):
 *     cc example.c -o example $(pkg-config --cflags --libs thumbnail)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thumbnail.h>

/* Reads a whole file into malloc'd memory; returns NULL on error. */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || ferror(f)) {
            break;
        }
        unsigned char *bigger = realloc(buf, cap *= 2);
        if (bigger == NULL) {
            free(buf);
        }
        buf = bigger;
    }
    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s INPUT SPEC OUTPUT\n", argv[0]);
        return 2;
    }
    const char *input = argv[1], *spec = argv[2], *output = argv[3];

    /* The header and the library loaded at run time must agree. */
    if (thumbnail_abi_version() != THUMBNAIL_ABI_VERSION) {
        fprintf(stderr, "libthumbnail ABI %u, this program needs %d\n",
                (unsigned)thumbnail_abi_version(), THUMBNAIL_ABI_VERSION);
        return 1;
    }

    size_t src_len;
    unsigned char *src = read_file(input, &src_len);
    if (src == NULL) {
        perror(input);
        return 1;
    }

    /* Render. On error, err holds "kind: reason", e.g.
     * "invalid-spec: unknown option 'big'" or "too-large: source is ...". */
    char err[256];
    thumbnail_image *img = NULL;
    thumbnail_status status = thumbnail_render(src, src_len, spec, strlen(spec),
                                               NULL /* default limits */, &img, err, sizeof err);
    free(src); /* only read during the call */
    if (status != THUMBNAIL_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", input, err);
        return 1;
    }

    /* The bytes belong to img until thumbnail_image_free(img). */
    const uint8_t *data = thumbnail_image_data(img);
    size_t len = thumbnail_image_len(img);
    FILE *out = fopen(output, "wb");
    int ok = out != NULL && fwrite(data, 1, len, out) == len;
    if (out != NULL && fclose(out) != 0) {
        ok = 0;
    }
    if (!ok) {
        perror(output);
        thumbnail_image_free(img);
        return 1;
    }
    printf("%s: %ux%u %s, %zu bytes\n", output, (unsigned)thumbnail_image_width(img),
           (unsigned)thumbnail_image_height(img), thumbnail_image_media_type(img), len);
    thumbnail_image_free(img);
    return 0;
}
