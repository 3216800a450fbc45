/*
 * test_ops.c: issue 19's C API: watermark overlays, thumbnail_render_ex
 * and the cache's _ex functions with per-call options, signed URLs.
 * Pixel checks of the operations are in tests/ops.rs; this checks the
 * contract: ownership, NULLs, statuses, option-struct versioning, cache
 * keys, imgproxy's published signature vector. Usage: test_ops CORPUS_DIR.
 */
#include "check.h"

static const char *corpus;

static thumbnail_overlay *overlay_of(const char *rel, const char *options) {
    size_t len;
    uint8_t *png = read_corpus(corpus, rel, &len);
    thumbnail_overlay *o = (thumbnail_overlay *)1;
    char err[256];
    CHECK_STATUS(thumbnail_overlay_new(png, len, options, strlen(options), &o, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    free(png);
    CHECK(o != NULL);
    return o;
}

static void test_overlay_new_and_id(void) {
    thumbnail_overlay *a = overlay_of("edge/png-alpha/rgb_trns.png", "gravity=southeast margin=4 opacity=0.5");
    thumbnail_overlay *b = overlay_of("edge/png-alpha/rgb_trns.png", "gravity=southeast margin=4 opacity=0.6");
    const char *id = thumbnail_overlay_id(a);
    CHECK(id != NULL && strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16);
    CHECK(strcmp(id, thumbnail_overlay_id(b)) != 0);
    CHECK(thumbnail_overlay_id(NULL) == NULL);
    thumbnail_overlay_free(a);
    thumbnail_overlay_free(b);
    thumbnail_overlay_free(NULL);

    char err[256];
    size_t len;
    uint8_t *png = read_corpus(corpus, "edge/png-alpha/rgb_trns.png", &len);
    thumbnail_overlay *o = (thumbnail_overlay *)1;
    CHECK_STATUS(thumbnail_overlay_new(png, len, S("opacity=2"), &o, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_SPEC, err);
    CHECK(o == NULL);
    CHECK_CONTAINS(err, "invalid-spec: watermark option 'opacity=2'");
    CHECK_STATUS(thumbnail_overlay_new(png, len, S("gravity=attention"), &o, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_SPEC, err);
    CHECK_STATUS(thumbnail_overlay_new((const uint8_t *)"nope", 4, NULL, 0, &o, err, sizeof err),
                 THUMBNAIL_STATUS_UNSUPPORTED, err);
    CHECK_STATUS(thumbnail_overlay_new(png, 40, NULL, 0, &o, err, sizeof err), THUMBNAIL_STATUS_CORRUPT,
                 err);
    CHECK_STATUS(thumbnail_overlay_new(png, len, NULL, 0, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(thumbnail_overlay_new(NULL, 5, NULL, 0, &o, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    free(png);
}

/* Renders src with spec and opts; returns the image (caller frees). */
static thumbnail_image *render_ex(const uint8_t *src, size_t len, const char *spec,
                                  const thumbnail_render_options *opts, thumbnail_status want) {
    thumbnail_image *img = (thumbnail_image *)1;
    char err[256] = "";
    CHECK_STATUS(thumbnail_render_ex(src, len, spec, strlen(spec), opts, &img, err, sizeof err), want,
                 err);
    CHECK((img != NULL) == (want == THUMBNAIL_STATUS_OK));
    return img;
}

static int same_bytes(const thumbnail_image *a, const thumbnail_image *b) {
    return thumbnail_image_len(a) == thumbnail_image_len(b) &&
           memcmp(thumbnail_image_data(a), thumbnail_image_data(b), thumbnail_image_len(a)) == 0;
}

static void test_render_ex(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "photos/rocket.jpg", &len);
    thumbnail_overlay *always = overlay_of("edge/png-alpha/rgb_trns.png", "margin=8 scale=0.25");
    thumbnail_overlay *by_spec = overlay_of("edge/png-alpha/rgb_trns.png", "apply=wm");

    thumbnail_image *plain = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_render(src, len, S("200x,png"), NULL, &plain, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    /* NULL options and default options render exactly as thumbnail_render. */
    thumbnail_image *img = render_ex(src, len, "200x,png", NULL, THUMBNAIL_STATUS_OK);
    CHECK(same_bytes(img, plain));
    thumbnail_image_free(img);
    thumbnail_render_options opts = thumbnail_render_options_default();
    CHECK(opts.size == sizeof opts && opts.limits == NULL && opts.overlay == NULL);
    img = render_ex(src, len, "200x,png", &opts, THUMBNAIL_STATUS_OK);
    CHECK(same_bytes(img, plain));
    thumbnail_image_free(img);

    /* An overlay applied always changes the image; apply=wm only with wm. */
    opts.overlay = always;
    img = render_ex(src, len, "200x,png", &opts, THUMBNAIL_STATUS_OK);
    CHECK(!same_bytes(img, plain));
    CHECK(thumbnail_image_width(img) == thumbnail_image_width(plain));
    thumbnail_image_free(img);
    opts.overlay = by_spec;
    img = render_ex(src, len, "200x,png", &opts, THUMBNAIL_STATUS_OK);
    CHECK(same_bytes(img, plain));
    thumbnail_image_free(img);
    img = render_ex(src, len, "200x,png,wm", &opts, THUMBNAIL_STATUS_OK);
    CHECK(!same_bytes(img, plain));
    thumbnail_image_free(img);
    /* wm without an overlay is a spec error. */
    render_ex(src, len, "200x,png,wm", NULL, THUMBNAIL_STATUS_INVALID_SPEC);

    /* Limits travel in the options. */
    thumbnail_limits limits = thumbnail_limits_default();
    limits.max_output_width = 100;
    opts = thumbnail_render_options_default();
    opts.limits = &limits;
    render_ex(src, len, "200x", &opts, THUMBNAIL_STATUS_TOO_LARGE);

    /* A struct from an older, smaller header is refused, not misread. */
    opts = thumbnail_render_options_default();
    opts.size = sizeof(size_t);
    thumbnail_image *none = (thumbnail_image *)1;
    CHECK_STATUS(thumbnail_render_ex(src, len, S("200x"), &opts, &none, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(none == NULL);
    CHECK_CONTAINS(err, "thumbnail_render_options_default");

    /* The spec operations go through the C ABI as text. */
    img = render_ex(src, len, "100x100,cover,attention,rotate=90,flip,sharpen", NULL, THUMBNAIL_STATUS_OK);
    CHECK(thumbnail_image_width(img) == 100 && thumbnail_image_height(img) == 100);
    thumbnail_image_free(img);

    thumbnail_image_free(plain);
    thumbnail_overlay_free(always);
    thumbnail_overlay_free(by_spec);
    free(src);
}

struct loaded {
    const uint8_t *src;
    size_t len;
    int calls;
};

static int32_t load(void *userdata, const uint8_t **src, size_t *src_len) {
    struct loaded *l = userdata;
    l->calls++;
    *src = l->src;
    *src_len = l->len;
    return 0;
}

static void test_cache_ex(void) {
    size_t len;
    uint8_t *src = read_corpus(corpus, "photos/rocket.jpg", &len);
    thumbnail_overlay *o = overlay_of("edge/png-alpha/rgb_trns.png", "gravity=northwest");
    thumbnail_cache *cache = NULL;
    char err[256], key[128];
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    /* The documented key: source, canonical spec, overlay identity. */
    int n = snprintf(key, sizeof key, "rocket.jpg|200x|wm=%s", thumbnail_overlay_id(o));
    CHECK(n > 0 && (size_t)n < sizeof key);

    thumbnail_render_options opts = thumbnail_render_options_default();
    opts.overlay = o;
    thumbnail_image *img = NULL, *again = NULL, *loaded_img = NULL;
    thumbnail_cache_source how = THUMBNAIL_CACHE_SOURCE_NONE;
    CHECK_STATUS(thumbnail_cache_get_or_render_ex(cache, key, strlen(key), src, len, S("200x"), &opts,
                                                  &img, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(how == THUMBNAIL_CACHE_SOURCE_RENDERED);
    CHECK_STATUS(thumbnail_cache_get_or_render_ex(cache, key, strlen(key), src, len, S("200x"), &opts,
                                                  &again, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(how == THUMBNAIL_CACHE_SOURCE_HIT && same_bytes(img, again));

    /* get_or_load_ex under another key renders the same watermarked bytes. */
    struct loaded l = {src, len, 0};
    CHECK_STATUS(thumbnail_cache_get_or_load_ex(cache, S("rocket.jpg|200x|wm=other"), load, &l, S("200x"),
                                                &opts, &loaded_img, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(l.calls == 1 && how == THUMBNAIL_CACHE_SOURCE_RENDERED && same_bytes(img, loaded_img));
    thumbnail_image_free(loaded_img);
    loaded_img = NULL;
    CHECK_STATUS(thumbnail_cache_get_or_load_ex(cache, S("x"), NULL, NULL, S("200x"), &opts, &loaded_img,
                                                NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(loaded_img == NULL);

    thumbnail_image_free(img);
    thumbnail_image_free(again);
    thumbnail_cache_free(cache);
    thumbnail_overlay_free(o);
    free(src);
}

static thumbnail_signer *signer_of(const char *key, const char *salt, uint32_t size) {
    thumbnail_sign_key pair = {key, strlen(key), salt, strlen(salt)};
    thumbnail_signer *s = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_signer_new(&pair, 1, size, &s, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    return s;
}

static void test_signing(void) {
    /* imgproxy's documentation: key "secret", salt "hello". */
    static const char path[] =
        "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
    static const char sig[] = "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8";
    thumbnail_signer *s = signer_of("736563726574", "68656C6C6F", 0);
    char out[THUMBNAIL_SIGNATURE_MAX], err[256];
    size_t written = 0;
    CHECK_STATUS(thumbnail_signer_sign(s, S(path), out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(written == 43 && strcmp(out, sig) == 0);
    CHECK(thumbnail_signer_verify(s, S(path), S(sig)));
    CHECK(!thumbnail_signer_verify(s, path, sizeof path - 2, S(sig)));
    CHECK(!thumbnail_signer_verify(s, S(path), sig, 42));
    CHECK(!thumbnail_signer_verify(NULL, S(path), S(sig)));
    CHECK(!thumbnail_signer_verify(s, NULL, 3, S(sig)));
    /* Too small a buffer: the length, an empty string, nothing else. */
    CHECK_STATUS(thumbnail_signer_sign(s, S(path), out, 10, &written, err, sizeof err),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, err);
    CHECK(written == 43 && out[0] == '\0');

    /* Truncation to 8 bytes (imgproxy's IMGPROXY_SIGNATURE_SIZE=8). */
    thumbnail_signer *short8 = signer_of("736563726574", "68656C6C6F", 8);
    CHECK_STATUS(thumbnail_signer_sign(short8, S(path), out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(strcmp(out, "oKfUtW34Dvo") == 0);
    CHECK(!thumbnail_signer_verify(short8, S(path), S(sig)));

    /* Rotation: a new pair first, the old one still verifies. */
    thumbnail_sign_key pairs[2] = {{S("00112233"), S("aa")}, {S("736563726574"), S("68656C6C6F")}};
    thumbnail_signer *rotated = NULL;
    CHECK_STATUS(thumbnail_signer_new(pairs, 2, 32, &rotated, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_signer_verify(rotated, S(path), S(sig)));
    CHECK_STATUS(thumbnail_signer_sign(rotated, S(path), out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(strcmp(out, sig) != 0 && thumbnail_signer_verify(rotated, S(path), out, written));
    CHECK(!thumbnail_signer_verify(s, S(path), out, written));

    /* Expiry: exp= in the signed path, checked against `now`. */
    static const char expiring[] = "/200x200,cover,exp=1767225600/photos/cat.jpg";
    CHECK_STATUS(thumbnail_signer_sign(s, S(expiring), out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_signer_verify_at(s, S(expiring), out, written, 1767225600));
    CHECK(!thumbnail_signer_verify_at(s, S(expiring), out, written, 1767225601));

    /* Bad keys. */
    thumbnail_signer *bad = (thumbnail_signer *)1;
    thumbnail_sign_key odd = {S("abc"), S("00")};
    CHECK_STATUS(thumbnail_signer_new(&odd, 1, 32, &bad, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(bad == NULL);
    CHECK_CONTAINS(err, "signing key 1 is not hex");
    CHECK_STATUS(thumbnail_signer_new(pairs, 1, 33, &bad, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(thumbnail_signer_new(NULL, 0, 32, &bad, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);

    thumbnail_signer_free(s);
    thumbnail_signer_free(short8);
    thumbnail_signer_free(rotated);
    thumbnail_signer_free(NULL);
}

static void test_longest_spec_fits(void) {
    char out[THUMBNAIL_SPEC_CANONICAL_MAX], err[256];
    size_t written = 0;
    CHECK_STATUS(thumbnail_spec_canonical(
                     S("65535x65535,cover,jpg,q100,enlarge,bg=123,progressive,noorient,"
                       "focus=0.3333,0.6666,rotate=270,flip,flop,sharpen=5,wm,exp=99999999999"),
                     out, sizeof out, &written, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(written == 118);
}

int main(int argc, char **argv) {
    corpus = corpus_dir(argc, argv);
    test_overlay_new_and_id();
    test_render_ex();
    test_cache_ex();
    test_signing();
    test_longest_spec_fits();
    printf("test_ops: all passed\n");
    return 0;
}
