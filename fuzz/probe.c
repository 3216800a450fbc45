/*
 * probe: thumbnail_probe() on the input as an image. Header parsing of
 * every format the sniffer knows (JPEG, PNG, GIF and WebP headers, EXIF
 * orientation, a PNG's IHDR alone when its rows are too wide for the png
 * crate, the formats refused as unsupported).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const thumbnail_status allowed[] = {THUMBNAIL_STATUS_OK, THUMBNAIL_STATUS_UNSUPPORTED,
                                               THUMBNAIL_STATUS_CORRUPT};
    thumbnail_info info;
    char err[FZ_ERR_LEN];

    memset(&info, 0xa5, sizeof info);
    memset(err, FZ_ERR_FILL, sizeof err);
    thumbnail_status st = thumbnail_probe(data, size, &info, err, sizeof err);
    fz_check_err(st, err, sizeof err);
    if (fz_known(st, err, data, size)) return 0;
    FZ_CHECK(fz_status_in(st, allowed, 3), "probe returned %d %s: %s", (int)st,
             thumbnail_status_name(st), err);
    if (st != THUMBNAIL_STATUS_OK) {
        FZ_CHECK(info.format == THUMBNAIL_FORMAT_UNKNOWN && info.width == 0 && info.height == 0 &&
                     info.orientation == 0 && !info.has_alpha && !info.progressive,
                 "info not zeroed on error");
        return 0;
    }
    FZ_CHECK(info.format == THUMBNAIL_FORMAT_JPEG || info.format == THUMBNAIL_FORMAT_PNG ||
                 info.format == THUMBNAIL_FORMAT_GIF || info.format == THUMBNAIL_FORMAT_WEBP,
             "format %d", (int)info.format);
    FZ_CHECK(info.width >= 1 && info.height >= 1, "probe OK with a %ux%u image", info.width,
             info.height);
    FZ_CHECK(info.orientation >= 1 && info.orientation <= 8, "orientation %u", info.orientation);
    FZ_CHECK(!(info.progressive && info.format != THUMBNAIL_FORMAT_JPEG), "progressive format %d",
             (int)info.format);
    /* The sniffer decides the format from the first bytes. */
    FZ_CHECK(info.format == fz_sniff(data, size), "format %d for bytes %02x %02x %02x %02x", (int)info.format,
             data[0], data[1], data[2], data[3]);

    /* A probe is a pure function of the bytes. */
    thumbnail_info again;
    FZ_CHECK(thumbnail_probe(data, size, &again, NULL, 0) == THUMBNAIL_STATUS_OK &&
                 again.format == info.format && again.width == info.width &&
                 again.height == info.height && again.orientation == info.orientation &&
                 again.has_alpha == info.has_alpha && again.progressive == info.progressive,
             "a second probe of the same bytes differs");
    return 0;
}
