/* test_image.c - image input (vision/image.h): every PNG variant and JPEG
 * kind written here with libpng's and libjpeg's own encoders, decoded by
 * Ember and compared with pixels computed independently; EXIF orientations;
 * truncated, corrupt and oversized files; raw frames; file loading; and,
 * outside ASan builds, every allocation failed in turn (fault injection).
 *
 * `test_image --write-corpus DIR` writes the fuzz seed corpora instead
 * (DIR/corpus_png, DIR/corpus_jpeg; see tests/fuzz/README.md). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "tests/check.h"
#include "vision/exif.h"
#include "vision/image.h"

/* ------------------------------------------------- allocation failures */

/* Fault injection: the test binary's malloc family wraps glibc's so that a
 * window around one decode can count the blocks it leaves allocated and
 * fail its k-th allocation (SQLite's faultsim, in small). ASan brings its
 * own malloc, so sanitizer builds skip this part; they check leaks instead. */
#if defined(__SANITIZE_ADDRESS__)
#define FAULT_INJECTION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULT_INJECTION 0
#endif
#endif
#ifndef FAULT_INJECTION
#define FAULT_INJECTION 1
#endif

#if FAULT_INJECTION
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static struct {
    int on;       /* counting inside a window */
    long fail_at; /* fail the allocation with this index (-1: none) */
    long n_alloc; /* allocations seen in the window */
    long live;    /* blocks allocated minus freed in the window */
    int failed;   /* one allocation was failed */
} fi = {0, -1, 0, 0, 0};

static int fi_refuse(void) {
    if (!fi.on) return 0;
    if (fi.n_alloc++ == fi.fail_at) {
        fi.failed = 1;
        return 1;
    }
    return 0;
}

void *malloc(size_t n) {
    if (fi_refuse()) return NULL;
    void *p = __libc_malloc(n);
    if (p && fi.on) fi.live++;
    return p;
}

void *calloc(size_t k, size_t n) {
    if (fi_refuse()) return NULL;
    void *p = __libc_calloc(k, n);
    if (p && fi.on) fi.live++;
    return p;
}

void *realloc(void *old, size_t n) {
    if (fi_refuse()) return NULL;
    void *p = __libc_realloc(old, n);
    if (p && !old && fi.on) fi.live++;
    return p;
}

void free(void *p) {
    if (p && fi.on) fi.live--;
    __libc_free(p);
}

static void fi_begin(long fail_at) {
    fi.fail_at = fail_at, fi.n_alloc = 0, fi.live = 0, fi.failed = 0;
    fi.on = 1;
}
static void fi_end(void) { fi.on = 0; }

/* Whether the wrappers above are the malloc in use: not under valgrind,
 * which replaces the program's malloc too. */
static int fi_works(void) {
    fi_begin(-1);
    void *volatile p = malloc(16);
    free(p);
    fi_end();
    return fi.n_alloc == 1;
}
#endif

/* ------------------------------------------------------------ helpers */

static char g_dir[64]; /* the temporary directory of this run */

static void save(const char *name, const void *data, size_t n, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static unsigned mix(unsigned x, unsigned y, unsigned c, unsigned salt) {
    unsigned h = x * 0x9E3779B1u ^ (y + 0x7F4A7C15u) * 0x85EBCA77u ^ (c + 1) * 0xC2B2AE3Du ^ salt;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    return h;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) { /* the PNG/zlib CRC, bit by bit */
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Offset of the first PNG chunk of type `type` (its length field), or 0. */
static size_t png_chunk(const uint8_t *b, size_t n, const char *type) {
    for (size_t at = 8; at + 12 <= n;) {
        uint32_t len = be32(b + at);
        if (!memcmp(b + at + 4, type, 4)) return at;
        if (len > n - at - 12) break;
        at += 12 + len;
    }
    return 0;
}

static void png_fix_crc(uint8_t *b, size_t chunk) {
    uint32_t len = be32(b + chunk);
    put_be32(b + chunk + 8 + len, crc32_png(b + chunk + 4, 4 + len));
}

static int is_zeroed(const vision_image *img) { return img->w == 0 && img->h == 0 && img->rgb == NULL; }

static int max_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* ------------------------------------------------------- PNG encoding */

typedef struct mbuf {
    uint8_t *p;
    size_t n, cap;
} mbuf;

static void mbuf_write(png_structp png, png_bytep data, size_t n) {
    mbuf *b = png_get_io_ptr(png);
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) png_error(png, "test: out of memory");
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void mbuf_flush(png_structp png) { (void)png; }

typedef struct png_variant {
    const char *name;
    int color, depth, trns;
} png_variant;

static const png_variant PNG_VARIANTS[] = {
    {"gray1", PNG_COLOR_TYPE_GRAY, 1, 0},        {"gray2", PNG_COLOR_TYPE_GRAY, 2, 0},
    {"gray4", PNG_COLOR_TYPE_GRAY, 4, 0},        {"gray8", PNG_COLOR_TYPE_GRAY, 8, 0},
    {"gray16", PNG_COLOR_TYPE_GRAY, 16, 0},      {"gray2_trns", PNG_COLOR_TYPE_GRAY, 2, 1},
    {"gray8_trns", PNG_COLOR_TYPE_GRAY, 8, 1},   {"gray16_trns", PNG_COLOR_TYPE_GRAY, 16, 1},
    {"ga8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0},    {"ga16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0},
    {"pal1", PNG_COLOR_TYPE_PALETTE, 1, 0},      {"pal2", PNG_COLOR_TYPE_PALETTE, 2, 0},
    {"pal4", PNG_COLOR_TYPE_PALETTE, 4, 0},      {"pal8", PNG_COLOR_TYPE_PALETTE, 8, 0},
    {"pal1_trns", PNG_COLOR_TYPE_PALETTE, 1, 1}, {"pal2_trns", PNG_COLOR_TYPE_PALETTE, 2, 1},
    {"pal4_trns", PNG_COLOR_TYPE_PALETTE, 4, 1}, {"pal8_trns", PNG_COLOR_TYPE_PALETTE, 8, 1},
    {"rgb8", PNG_COLOR_TYPE_RGB, 8, 0},          {"rgb16", PNG_COLOR_TYPE_RGB, 16, 0},
    {"rgb8_trns", PNG_COLOR_TYPE_RGB, 8, 1},     {"rgb16_trns", PNG_COLOR_TYPE_RGB, 16, 1},
    {"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0},   {"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0},
};
#define N_PNG_VARIANTS (int)(sizeof PNG_VARIANTS / sizeof PNG_VARIANTS[0])

static int png_channels(int color) {
    switch (color) {
    case PNG_COLOR_TYPE_GRAY: case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    default: return 4;
    }
}

/* Palette size: all 2^depth entries, but 200 (not 256) at 8 bits. */
static int pal_size(int depth) { return depth == 8 ? 200 : 1 << depth; }
static unsigned pal_entry(int i, int c, unsigned salt) { return mix((unsigned)i, 999, (unsigned)c, salt) & 255; }

/* The stored sample of channel c at (x, y): a palette index for palette images. */
static unsigned sample(const png_variant *v, int x, int y, int c, unsigned salt) {
    unsigned h = mix((unsigned)x, (unsigned)y, (unsigned)c, salt);
    if (v->color == PNG_COLOR_TYPE_PALETTE) return h % (unsigned)pal_size(v->depth);
    return v->depth == 16 ? h & 0xffff : h & ((1u << v->depth) - 1);
}

/* The 8-bit RGB a PNG decoder should give, from the spec's rules: low-bit
 * gray scaled by bit replication, 16 bits to the high byte, palette looked
 * up, alpha ignored. */
static void png_expect(const png_variant *v, int w, int h, unsigned salt, uint8_t *rgb) {
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *d = rgb + ((size_t)y * w + x) * 3;
            if (v->color == PNG_COLOR_TYPE_PALETTE) {
                unsigned i = sample(v, x, y, 0, salt);
                for (int c = 0; c < 3; c++) d[c] = (uint8_t)pal_entry((int)i, c, salt);
            } else if (v->color == PNG_COLOR_TYPE_GRAY || v->color == PNG_COLOR_TYPE_GRAY_ALPHA) {
                unsigned g = sample(v, x, y, 0, salt);
                g = v->depth == 16 ? g >> 8 : v->depth == 8 ? g : g * 255 / ((1u << v->depth) - 1);
                d[0] = d[1] = d[2] = (uint8_t)g;
            } else {
                for (int c = 0; c < 3; c++) {
                    unsigned s = sample(v, x, y, c, salt);
                    d[c] = (uint8_t)(v->depth == 16 ? s >> 8 : s);
                }
            }
        }
    }
}

/* Encode with libpng (its default error handling aborts the test). `text`
 * adds a tEXt chunk. The caller frees the returned buffer. */
static uint8_t *png_encode(const png_variant *v, int w, int h, int interlace, int text, unsigned salt, size_t *n) {
    const int ch = png_channels(v->color);
    const size_t rowbytes = ((size_t)w * ch * v->depth + 7) / 8;
    uint8_t *pix = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    if (!pix || !rows) abort();
    for (int y = 0; y < h; y++) {
        uint8_t *r = pix + (size_t)y * rowbytes;
        rows[y] = r;
        for (int x = 0; x < w; x++) {
            for (int c = 0; c < ch; c++) {
                unsigned s = sample(v, x, y, c, salt);
                size_t k = (size_t)x * ch + c;
                if (v->depth == 16) r[2 * k] = (uint8_t)(s >> 8), r[2 * k + 1] = (uint8_t)s;
                else if (v->depth == 8) r[k] = (uint8_t)s;
                else r[k * v->depth / 8] |= (uint8_t)(s << (8 - v->depth - (int)(k * v->depth % 8)));
            }
        }
    }
    mbuf b = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!png || !info) abort();
    png_set_write_fn(png, &b, mbuf_write, mbuf_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, v->depth, v->color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_color pal[256];
    png_byte alpha[256];
    if (v->color == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < pal_size(v->depth); i++) {
            pal[i].red = (png_byte)pal_entry(i, 0, salt);
            pal[i].green = (png_byte)pal_entry(i, 1, salt);
            pal[i].blue = (png_byte)pal_entry(i, 2, salt);
            alpha[i] = (png_byte)(i * 97);
        }
        png_set_PLTE(png, info, pal, pal_size(v->depth));
        /* tRNS may be shorter than the palette: the rest are opaque */
        if (v->trns) png_set_tRNS(png, info, alpha, pal_size(v->depth) > 2 ? pal_size(v->depth) - 1 : 1, NULL);
    } else if (v->trns) {
        /* the colour of pixel (0, 0) is the transparent one: it must still
         * come out as that colour, not blended with anything */
        png_color_16 tc;
        memset(&tc, 0, sizeof tc);
        tc.gray = (png_uint_16)sample(v, 0, 0, 0, salt);
        tc.red = (png_uint_16)sample(v, 0, 0, 0, salt);
        tc.green = (png_uint_16)sample(v, 0, 0, 1, salt);
        tc.blue = (png_uint_16)sample(v, 0, 0, 2, salt);
        png_set_tRNS(png, info, NULL, 0, &tc);
    }
    png_text t;
    memset(&t, 0, sizeof t);
    t.compression = PNG_TEXT_COMPRESSION_NONE;
    t.key = (png_charp) "Comment";
    t.text = (png_charp) "written by test_image";
    if (text) png_set_text(png, info, &t, 1);
    png_write_info(png, info);
    if (interlace) png_set_interlace_handling(png);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(pix);
    free(rows);
    *n = b.n;
    return b.p;
}

/* ------------------------------------------------------- JPEG encoding */

typedef struct jpeg_opts {
    int w, h;
    J_COLOR_SPACE in_cs;  /* JCS_RGB, JCS_GRAYSCALE or JCS_CMYK */
    J_COLOR_SPACE jpeg_cs; /* JCS_UNKNOWN (0, so left out): libjpeg's default for in_cs */
    int quality, progressive, full_chroma /* 4:4:4 instead of 4:2:0 */, no_jfif;
    const uint8_t *app1; /* an APP1 payload to write, or NULL */
    size_t app1_n;
    const uint8_t *app1b; /* a second APP1 after it, or NULL */
    size_t app1b_n;
    int restart, arith;   /* restart markers every row of MCUs; arithmetic coding */
    const jpeg_scan_info *scans; /* a progressive scan script of n_scans, or NULL */
    int n_scans;
} jpeg_opts;

/* Encode px (w x h of in_cs's components) with libjpeg; its default error
 * handler exits the test on failure. The caller frees the buffer. */
static uint8_t *jpeg_encode(const jpeg_opts *o, const uint8_t *px, size_t *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = (JDIMENSION)o->w;
    c.image_height = (JDIMENSION)o->h;
    c.in_color_space = o->in_cs;
    c.input_components = o->in_cs == JCS_GRAYSCALE ? 1 : o->in_cs == JCS_CMYK ? 4 : 3;
    jpeg_set_defaults(&c);
    if (o->jpeg_cs != JCS_UNKNOWN) jpeg_set_colorspace(&c, o->jpeg_cs);
    jpeg_set_quality(&c, o->quality, TRUE);
    if (o->full_chroma)
        for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (o->progressive) jpeg_simple_progression(&c);
    if (o->scans) c.scan_info = o->scans, c.num_scans = o->n_scans;
    if (o->restart) c.restart_in_rows = 1;
    if (o->arith) c.arith_code = TRUE;
    if (o->no_jfif) c.write_JFIF_header = FALSE;
    jpeg_start_compress(&c, TRUE);
    if (o->app1) jpeg_write_marker(&c, JPEG_APP0 + 1, o->app1, (unsigned)o->app1_n);
    if (o->app1b) jpeg_write_marker(&c, JPEG_APP0 + 1, o->app1b, (unsigned)o->app1b_n);
    const size_t row = (size_t)o->w * (size_t)c.input_components;
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * row);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = size;
    return mem;
}

/* The reference: libjpeg itself, default settings, RGB out (gray read as
 * gray and replicated here). */
static uint8_t *jpeg_reference(const uint8_t *data, size_t n, int *w, int *h) {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;
    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, data, (unsigned long)n);
    jpeg_read_header(&d, TRUE);
    int gray = d.jpeg_color_space == JCS_GRAYSCALE;
    d.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&d);
    *w = (int)d.output_width, *h = (int)d.output_height;
    uint8_t *rgb = malloc((size_t)*w * *h * 3), *line = malloc((size_t)*w * 3);
    if (!rgb || !line) abort();
    while (d.output_scanline < d.output_height) {
        uint8_t *out = rgb + (size_t)d.output_scanline * *w * 3;
        JSAMPROW r = gray ? line : out;
        jpeg_read_scanlines(&d, &r, 1);
        if (gray)
            for (int x = 0; x < *w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = line[x];
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(line);
    return rgb;
}

static const uint8_t BLOCK_COLORS[][3] = {
    {200, 30, 40}, {20, 180, 60}, {30, 60, 210}, {240, 240, 240}, {10, 10, 10},
    {128, 128, 128}, {250, 200, 20}, {90, 20, 150}, {0, 0, 0},    {255, 255, 255},
};
#define N_BLOCK_COLORS (int)(sizeof BLOCK_COLORS / sizeof BLOCK_COLORS[0])

/* Flat 16 x 16 blocks of colour (flat for the 8 x 8 DCT and for 2 x 2
 * subsampled chroma alike); `comps` 1 gives their luma-ish gray. */
static uint8_t *flat_blocks(int w, int h, int comps) {
    uint8_t *p = malloc((size_t)w * h * comps);
    if (!p) abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *c = BLOCK_COLORS[(x / 16 + 3 * (y / 16)) % N_BLOCK_COLORS];
            uint8_t *d = p + ((size_t)y * w + x) * comps;
            if (comps == 1) d[0] = (uint8_t)((c[0] + 2 * c[1] + c[2]) / 4);
            else memcpy(d, c, 3);
        }
    return p;
}

static uint8_t *gradient(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *d = p + ((size_t)y * w + x) * 3;
            d[0] = (uint8_t)(x * 255 / (w - 1));
            d[1] = (uint8_t)(y * 255 / (h - 1));
            d[2] = (uint8_t)((x + y) * 255 / (w + h - 2));
        }
    return p;
}

/* -------------------------------------------------------------- PNG tests */

static void test_png_variants(void) {
    static const int sizes[][2] = {{1, 1}, {3, 5}, {17, 11}, {40, 3}};
    int n_ok = 0, n_files = 0;
    for (int vi = 0; vi < N_PNG_VARIANTS; vi++) {
        const png_variant *v = &PNG_VARIANTS[vi];
        for (int si = 0; si < 4; si++) {
            for (int il = 0; il < 2; il++) {
                const int w = sizes[si][0], h = sizes[si][1];
                const unsigned salt = (unsigned)(vi * 131 + si * 7 + il);
                size_t n;
                uint8_t *png = png_encode(v, w, h, il, si == 2, salt, &n);
                char name[64], path[512], err[EM_ERR_LEN] = "";
                snprintf(name, sizeof name, "%s_%dx%d%s.png", v->name, w, h, il ? "_adam7" : "");
                save(name, png, n, path, sizeof path);
                n_files++;
                uint8_t *want = malloc((size_t)w * h * 3);
                if (!want) abort();
                png_expect(v, w, h, salt, want);
                vision_image img = {0, 0, NULL};
                ember_status st = vision_image_load(path, NULL, &img, err);
                CHECK(st == EM_OK, "%s: %s", name, err);
                if (st == EM_OK) {
                    CHECK(img.w == w && img.h == h, "%s: %d x %d", name, img.w, img.h);
                    int same = img.w == w && img.h == h && memcmp(img.rgb, want, (size_t)w * h * 3) == 0;
                    CHECK(same, "%s: pixels differ (max diff %d)", name,
                          img.w == w && img.h == h ? max_diff(img.rgb, want, (size_t)w * h * 3) : -1);
                    n_ok += same;
                }
                vision_image_free(&img);
                /* the same bytes from memory, through the PNG decoder directly */
                st = vision_png_decode(png, n, name, NULL, &img, err);
                CHECK(st == EM_OK && img.w == w && img.h == h && !memcmp(img.rgb, want, (size_t)w * h * 3), "%s: %s",
                      name, err);
                vision_image_free(&img);
                free(want);
                free(png);
            }
        }
    }
    printf("PNG variants: %d of %d files decode to the expected pixels\n", n_ok, n_files);
}

/* 16-bit samples keep their high byte (stb_image's v >> 8), where libpng's
 * png_set_scale_16 would round: 0x12ff gives 0x12, not 0x13. The samples
 * used must include such a low byte, or the variant checks could not tell. */
static void test_png_16bit_high_byte(void) {
    png_variant v = {"rgb16", PNG_COLOR_TYPE_RGB, 16, 0};
    int n_round_up = 0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 3; c++) n_round_up += (sample(&v, x, y, c, 5) & 0xff) >= 0x80;
    CHECK(n_round_up > 0, "no sample with a low byte >= 0x80, where rounding would differ");
    size_t n;
    uint8_t *png = png_encode(&v, 3, 3, 0, 0, 5, &n);
    uint8_t want[27], rounded[27];
    png_expect(&v, 3, 3, 5, want);
    for (int i = 0; i < 27; i++) {
        unsigned s = sample(&v, i / 3 % 3, i / 9, i % 3, 5);
        rounded[i] = (uint8_t)((s * 255u + 32767u) / 65535u);
    }
    CHECK(memcmp(want, rounded, 27) != 0, "high byte and rounding differ on these samples");
    vision_image img = {0, 0, NULL};
    char err[EM_ERR_LEN] = "";
    CHECK(vision_png_decode(png, n, "hb", NULL, &img, err) == EM_OK && !memcmp(img.rgb, want, 27), "%s", err);
    vision_image_free(&img);
    free(png);
}

static void test_png_truncated(void) {
    static const png_variant *vs[3];
    vs[0] = &PNG_VARIANTS[18]; /* rgb8 */
    vs[1] = &PNG_VARIANTS[17]; /* pal8_trns */
    vs[2] = &PNG_VARIANTS[9];  /* ga16 */
    int n_cuts = 0, n_good = 0;
    for (int k = 0; k < 3; k++) {
        size_t n;
        uint8_t *png = png_encode(vs[k], 17, 11, k != 2, k == 0, 77, &n);
        for (size_t cut = 0; cut < n; cut++) {
            /* an exact-size copy, so ASan sees any read past the cut */
            uint8_t *c = malloc(cut ? cut : 1);
            if (!c) abort();
            memcpy(c, png, cut);
            vision_image img = {0, 0, NULL};
            char err[EM_ERR_LEN] = "";
            ember_status st = vision_png_decode(c, cut, "cut.png", NULL, &img, err);
            int good = st == EM_ERR_FORMAT && is_zeroed(&img) && strstr(err, "cut.png: PNG: truncated");
            if (!good) CHECK(good, "%s cut at %zu of %zu: status %d: %s", vs[k]->name, cut, n, st, err);
            n_good += good, n_cuts++;
            if (cut == 33 && k == 0) printf("header only: %s\n", err);
            free(c);
        }
        free(png);
    }
    CHECK(n_good == n_cuts, "%d of %d truncations refused as truncated", n_good, n_cuts);
    printf("PNG: %d truncations (every byte) refused as truncated\n", n_good);
}

static void test_png_corrupt(void) {
    const png_variant *v = &PNG_VARIANTS[15]; /* pal2_trns: PLTE, tRNS, IDAT */
    size_t n;
    uint8_t *png = png_encode(v, 7, 5, 1, 1, 3, &n);
    char err[EM_ERR_LEN] = "";
    vision_image img = {0, 0, NULL};

    /* every single-byte change is caught: the signature, or a chunk's CRC */
    int n_refused = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *c = malloc(n);
        if (!c) abort();
        memcpy(c, png, n);
        c[i] ^= 0x55;
        ember_status st = vision_png_decode(c, n, "flip.png", NULL, &img, err);
        if (st == EM_OK) {
            CHECK(st != EM_OK, "byte %zu of %zu flipped: accepted", i, n);
            vision_image_free(&img);
        } else {
            CHECK(is_zeroed(&img), "byte %zu: output written on failure", i);
            n_refused++;
        }
        free(c);
    }
    printf("PNG: %d of %zu single-byte corruptions refused\n", n_refused, n);

    /* wrong CRC: of IDAT (critical) and of tEXt (ancillary): both errors */
    const char *types[] = {"IDAT", "tEXt", "tRNS", "IEND"};
    for (int t = 0; t < 4; t++) {
        uint8_t *c = malloc(n);
        if (!c) abort();
        memcpy(c, png, n);
        size_t at = png_chunk(c, n, types[t]);
        CHECK(at > 0, "%s chunk present", types[t]);
        c[at + 8 + be32(c + at) + 3] ^= 1;
        ember_status st = vision_png_decode(c, n, "crc.png", NULL, &img, err);
        CHECK(st == EM_ERR_FORMAT && strstr(err, "CRC"), "%s with a bad CRC: %d %s", types[t], st, err);
        free(c);
    }

    /* damaged compressed data with a correct CRC: an error or a picture,
     * never a crash or a read out of bounds */
    size_t idat = png_chunk(png, n, "IDAT");
    uint32_t len = be32(png + idat);
    int n_err = 0, n_ok = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t *c = malloc(n);
        if (!c) abort();
        memcpy(c, png, n);
        c[idat + 8 + i] ^= 0xa5;
        png_fix_crc(c, idat);
        ember_status st = vision_png_decode(c, n, "zlib.png", NULL, &img, err);
        if (st == EM_OK) {
            CHECK(img.w == 7 && img.h == 5 && img.rgb, "accepted with size %d x %d", img.w, img.h);
            n_ok++;
        } else {
            CHECK(st == EM_ERR_FORMAT && is_zeroed(&img), "IDAT byte %u: %d %s", i, st, err);
            n_err++;
        }
        vision_image_free(&img);
        free(c);
    }
    printf("PNG: IDAT bytes changed with the CRC fixed: %d refused, %d decoded\n", n_err, n_ok);
    free(png);
}

static void test_png_limits(void) {
    const png_variant *v = &PNG_VARIANTS[18]; /* rgb8 */
    size_t n;
    uint8_t *png = png_encode(v, 17, 11, 0, 0, 1, &n);
    char err[EM_ERR_LEN] = "";
    vision_image img = {0, 0, NULL};
    vision_limits lim = vision_limits_default();

    lim.max_side = 16;
    CHECK(vision_png_decode(png, n, "big.png", &lim, &img, err) == EM_ERR_RANGE && is_zeroed(&img), "%s", err);
    CHECK(strstr(err, "17 x 11") && strstr(err, "16"), "message names the size and the limit: %s", err);
    lim.max_side = 17;
    CHECK(vision_png_decode(png, n, "big.png", &lim, &img, err) == EM_OK, "%s", err);
    vision_image_free(&img);
    lim.max_pixels = 17 * 11 - 1;
    CHECK(vision_png_decode(png, n, "big.png", &lim, &img, err) == EM_ERR_RANGE, "%s", err);
    lim.max_pixels = 17 * 11;
    CHECK(vision_png_decode(png, n, "big.png", &lim, &img, err) == EM_OK, "%s", err);
    vision_image_free(&img);

    /* an IHDR claiming 100000 x 100000 (valid CRC): refused from the header */
    uint8_t *c = malloc(n);
    if (!c) abort();
    memcpy(c, png, n);
    put_be32(c + 16, 100000);
    put_be32(c + 20, 100000);
    png_fix_crc(c, 8);
#if FAULT_INJECTION
    const int counted = fi_works();
    fi_begin(-1);
#endif
    ember_status st = vision_png_decode(c, n, "huge.png", NULL, &img, err);
#if FAULT_INJECTION
    fi_end();
    if (counted) CHECK(fi.n_alloc == 0, "refusing a huge IHDR allocated %ld blocks", fi.n_alloc);
#endif
    CHECK(st == EM_ERR_RANGE && strstr(err, "huge.png: PNG: 100000 x 100000") && is_zeroed(&img), "%d %s", st, err);
    /* zero width is malformed, not a limit */
    put_be32(c + 16, 0);
    png_fix_crc(c, 8);
    st = vision_png_decode(c, n, "zero.png", NULL, &img, err);
    CHECK(st == EM_ERR_FORMAT && is_zeroed(&img), "%d %s", st, err);
    free(c);
    free(png);
}

static void test_png_write(void) {
    uint8_t px[3 * 5 * 3];
    for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 17 + 3);
    vision_image img = {3, 5, px}, back = {0, 0, NULL};
    char path[512], err[EM_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/written.png", g_dir);
    CHECK(vision_png_write(path, &img, err) == EM_OK, "%s", err);
    CHECK(vision_image_load(path, NULL, &back, err) == EM_OK && back.w == 3 && back.h == 5 &&
              !memcmp(back.rgb, px, sizeof px), "%s", err);
    vision_image_free(&back);
    snprintf(path, sizeof path, "%s/no/such/dir.png", g_dir);
    CHECK(vision_png_write(path, &img, err) == EM_ERR_IO && strstr(err, "no/such/dir.png"), "%s", err);
    vision_image none = {0, 0, NULL};
    CHECK(vision_png_write(path, &none, err) == EM_ERR_ARG, "%s", err);
}

/* ------------------------------------------------------------- JPEG tests */

static void test_jpeg_kinds(void) {
    static const struct {
        const char *name;
        int w, h, gray, progressive, full_chroma, pattern; /* pattern 0 flat blocks, 1 gradient */
        int restart, arith;
    } kinds[] = {
        {"baseline_444", 48, 32, 0, 0, 1, 0, 0, 0},      {"baseline_420", 48, 32, 0, 0, 0, 0, 0, 0},
        {"progressive_444", 48, 32, 0, 1, 1, 0, 0, 0},   {"progressive_420", 48, 32, 0, 1, 0, 0, 0, 0},
        {"gray", 48, 32, 1, 0, 0, 0, 0, 0},              {"gray_progressive", 48, 32, 1, 1, 0, 0, 0, 0},
        {"odd_444", 37, 21, 0, 0, 1, 0, 0, 0},           {"odd_420", 37, 21, 0, 1, 0, 0, 0, 0},
        {"one_pixel", 1, 1, 0, 0, 0, 0, 0, 0},           {"three_by_five", 3, 5, 0, 1, 0, 0, 0, 0},
        {"gradient_444", 64, 40, 0, 0, 1, 1, 0, 0},      {"gradient_420", 64, 40, 0, 1, 0, 1, 0, 0},
        {"restart_markers", 48, 32, 0, 0, 0, 0, 1, 0},   {"arithmetic", 48, 32, 0, 0, 1, 0, 0, 1},
        {"arithmetic_progressive", 37, 21, 0, 1, 0, 0, 1, 1},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const int w = kinds[k].w, h = kinds[k].h, comps = kinds[k].gray ? 1 : 3;
        uint8_t *px = kinds[k].pattern ? gradient(w, h) : flat_blocks(w, h, comps);
        jpeg_opts o = {.w = w, .h = h, .in_cs = kinds[k].gray ? JCS_GRAYSCALE : JCS_RGB, .quality = 100,
                       .progressive = kinds[k].progressive, .full_chroma = kinds[k].full_chroma,
                       .restart = kinds[k].restart, .arith = kinds[k].arith};
        size_t n;
        uint8_t *jpg = jpeg_encode(&o, px, &n);
        char name[64], path[512], err[EM_ERR_LEN] = "";
        snprintf(name, sizeof name, "%s.jpg", kinds[k].name);
        save(name, jpg, n, path, sizeof path);
        vision_image img = {0, 0, NULL};
        ember_status st = vision_image_load(path, NULL, &img, err);
        CHECK(st == EM_OK && img.w == w && img.h == h, "%s: %s", name, err);
        if (st != EM_OK || img.w != w || img.h != h) {
            vision_image_free(&img);
            free(jpg);
            free(px);
            continue;
        }
        /* exactly what libjpeg itself gives with its defaults */
        int rw, rh;
        uint8_t *ref = jpeg_reference(jpg, n, &rw, &rh);
        CHECK(rw == w && rh == h && !memcmp(ref, img.rgb, (size_t)w * h * 3), "%s: differs from libjpeg (max %d)", name,
              max_diff(ref, img.rgb, (size_t)w * h * 3));
        /* and close to the pixels encoded: within 3 levels on flat blocks
         * (colour conversion rounding), skipping with 4:2:0 the pixels next
         * to a block edge, where chroma upsampling blends neighbours; a
         * gradient, whose chroma varies, within 8 */
        int worst = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!kinds[k].full_chroma && !kinds[k].gray && !kinds[k].pattern &&
                    (x % 16 == 0 || x % 16 == 15 || y % 16 == 0 || y % 16 == 15))
                    continue;
                for (int c = 0; c < 3; c++) {
                    int want = px[((size_t)y * w + x) * comps + (comps == 1 ? 0 : c)];
                    int d = abs(want - img.rgb[((size_t)y * w + x) * 3 + c]);
                    if (d > worst) worst = d;
                }
            }
        const int tol = kinds[k].pattern ? 8 : 3;
        CHECK(worst <= tol, "%s: max abs diff %d > %d", name, worst, tol);
        if (kinds[k].gray) {
            int rgb_equal = 1;
            for (int i = 0; i < w * h; i++)
                rgb_equal &= img.rgb[3 * i] == img.rgb[3 * i + 1] && img.rgb[3 * i] == img.rgb[3 * i + 2];
            CHECK(rgb_equal, "%s: gray replicated to R = G = B", name);
        }
        printf("JPEG %-22s %5zu bytes, max abs diff %d\n", kinds[k].name, n, worst);
        free(ref);
        vision_image_free(&img);
        free(jpg);
        free(px);
    }
}

static void put16(uint8_t *p, unsigned v, int big) {
    if (big) p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
    else p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v, int big) {
    if (big) put_be32(p, v);
    else p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* An APP1 payload: "Exif\0\0", TIFF header, IFD0 with a Make entry (ASCII,
 * stored after the IFD) and an Orientation entry, next-IFD 0. 49 bytes. */
static size_t exif_blob(uint8_t *b, int big, unsigned orientation, unsigned type, unsigned count) {
    memcpy(b, "Exif\0\0", 6);
    uint8_t *t = b + 6; /* offsets count from here */
    t[0] = t[1] = big ? 'M' : 'I';
    put16(t + 2, 42, big);
    put32(t + 4, 8, big); /* IFD0 right after the header */
    put16(t + 8, 2, big); /* two entries */
    uint8_t *e = t + 10;
    put16(e, 0x010f, big), put16(e + 2, 2, big), put32(e + 4, 5, big), put32(e + 8, 38, big); /* Make -> "Test" */
    e += 12;
    memset(e, 0, 12);
    put16(e, 0x0112, big), put16(e + 2, type, big), put32(e + 4, count, big), put16(e + 8, orientation, big);
    e += 12;
    put32(e, 0, big); /* no IFD1 */
    memcpy(t + 38, "Test", 5);
    return 6 + 38 + 5;
}

static void test_exif_parser(void) {
    uint8_t b[64];
    for (int big = 0; big < 2; big++)
        for (unsigned o = 0; o <= 9; o++) {
            size_t n = exif_blob(b, big, o, 3, 1);
            int want = o >= 1 && o <= 8 ? (int)o : 1;
            CHECK(vision_exif_orientation(b, n) == want, "%s orientation %u", big ? "MM" : "II", o);
        }
    size_t n = exif_blob(b, 0, 6, 4, 1); /* LONG instead of SHORT */
    CHECK(vision_exif_orientation(b, n) == 1, "LONG ignored");
    n = exif_blob(b, 1, 6, 3, 2); /* count 2 */
    CHECK(vision_exif_orientation(b, n) == 1, "count 2 ignored");
    n = exif_blob(b, 0, 6, 3, 1);
    b[6] = 'M'; /* "MI" */
    CHECK(vision_exif_orientation(b, n) == 1, "mixed byte order");
    n = exif_blob(b, 0, 6, 3, 1);
    b[8] = 43;
    CHECK(vision_exif_orientation(b, n) == 1, "not 42");
    n = exif_blob(b, 0, 6, 3, 1);
    b[5] = 1;
    CHECK(vision_exif_orientation(b, n) == 1, "not Exif\\0\\0");
    n = exif_blob(b, 0, 6, 3, 1);
    b[10] = 0xff, b[11] = 0xff, b[12] = 0xff, b[13] = 0x7f; /* IFD0 far past the end */
    CHECK(vision_exif_orientation(b, n) == 1, "IFD0 offset past the end");
    n = exif_blob(b, 1, 6, 3, 1);
    b[14] = 0xff, b[15] = 0xff; /* 65535 entries claimed */
    CHECK(vision_exif_orientation(b, n) == 6, "an overstated entry count is cut to the payload");
    CHECK(vision_exif_orientation(NULL, 0) == 1, "NULL");
    /* every truncation, on an exact-size copy (ASan sees a read past it);
     * the tag's entry ends at byte 6 + 10 + 24 = 40 */
    for (int big = 0; big < 2; big++) {
        n = exif_blob(b, big, 8, 3, 1);
        int ok = 1;
        for (size_t cut = 0; cut <= n; cut++) {
            uint8_t *c = malloc(cut ? cut : 1);
            if (!c) abort();
            memcpy(c, b, cut);
            int got = vision_exif_orientation(c, cut);
            ok &= got == (cut >= 40 ? 8 : 1);
            free(c);
        }
        CHECK(ok, "%s: truncations give 1 until the tag is whole, then 8", big ? "MM" : "II");
    }
}

/* vision_exif_apply on a 3 x 2 image, against the eight arrangements written
 * out by hand from the tag's definition (stored a b c / d e f). */
static void test_exif_apply(void) {
    static const char *want[9] = {
        NULL,     "abcdef", "cbafed", "fedcba", "defabc", /* 1..4: 3 x 2 */
        "adbecf", "daebfc", "fcebda", "cfbead",          /* 5..8: 2 x 3 */
    };
    for (int o = 1; o <= 8; o++) {
        uint8_t *px = malloc(18);
        if (!px) abort();
        for (int i = 0; i < 6; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (uint8_t)('a' + i);
        vision_image img = {3, 2, px};
        char err[EM_ERR_LEN] = "", got[7] = "";
        CHECK(vision_exif_apply(&img, o, err) == EM_OK, "%s", err);
        for (int i = 0; i < 6; i++) got[i] = (char)img.rgb[3 * i];
        CHECK(!strcmp(got, want[o]) && img.w == (o >= 5 ? 2 : 3) && img.h == (o >= 5 ? 3 : 2),
              "orientation %d: %s (%d x %d), want %s", o, got, img.w, img.h, want[o]);
        vision_image_free(&img);
    }
}

/* Where a stored corner lands on screen, from the tag's definition: the side
 * row 0 belongs on and the side column 0 belongs on. */
static void corner_lands(int o, int last_row, int last_col, int *right, int *bottom) {
    static const char *sides[9] = {NULL, "TL", "TR", "BR", "BL", "LT", "RT", "RB", "LB"};
    const char row0 = sides[o][0], col0 = sides[o][1];
    /* the side a row/column lands on, or the opposite one for the last */
    char rs = row0, cs = col0;
    if (last_row) rs = rs == 'T' ? 'B' : rs == 'B' ? 'T' : rs == 'L' ? 'R' : 'L';
    if (last_col) cs = cs == 'T' ? 'B' : cs == 'B' ? 'T' : cs == 'L' ? 'R' : 'L';
    *right = rs == 'R' || cs == 'R';
    *bottom = rs == 'B' || cs == 'B';
}

static void test_jpeg_exif(void) {
    const int W = 48, H = 32;
    static const uint8_t corner_rgb[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}}; /* TL TR BL BR */
    uint8_t *px = malloc((size_t)W * H * 3);
    if (!px) abort();
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *d = px + ((size_t)y * W + x) * 3;
            int cx = x < 16 ? 0 : x >= W - 16 ? 1 : -1, cy = y < 16 ? 0 : y >= H - 16 ? 1 : -1;
            if (cx < 0 || cy < 0) d[0] = d[1] = d[2] = 128;
            else memcpy(d, corner_rgb[cy * 2 + cx], 3);
        }
    int n_right = 0;
    for (int big = 0; big < 2; big++) {
        for (int o = 1; o <= 8; o++) {
            uint8_t app1[64];
            size_t an = exif_blob(app1, big, (unsigned)o, 3, 1);
            static const uint8_t xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
            /* odd orientations also get an XMP APP1 first: the EXIF one is found after it */
            jpeg_opts opt = {.w = W, .h = H, .in_cs = JCS_RGB, .quality = 100, .progressive = o % 3 == 0,
                             .full_chroma = 1, .no_jfif = big, .app1 = o & 1 ? xmp : app1,
                             .app1_n = o & 1 ? sizeof xmp : an, .app1b = o & 1 ? app1 : NULL,
                             .app1b_n = o & 1 ? an : 0};
            size_t n;
            uint8_t *jpg = jpeg_encode(&opt, px, &n);
            vision_image img = {0, 0, NULL};
            char err[EM_ERR_LEN] = "";
            ember_status st = vision_jpeg_decode(jpg, n, "exif.jpg", NULL, &img, err);
            const int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
            CHECK(st == EM_OK && img.w == ow && img.h == oh, "%s orientation %d: %d x %d: %s", big ? "MM" : "II", o,
                  img.w, img.h, err);
            if (st == EM_OK && img.w == ow && img.h == oh) {
                int all = 1;
                for (int corner = 0; corner < 4; corner++) {
                    int right, bottom;
                    corner_lands(o, corner >= 2, corner & 1, &right, &bottom);
                    int x = right ? ow - 4 : 3, y = bottom ? oh - 4 : 3;
                    const uint8_t *p = img.rgb + ((size_t)y * ow + x) * 3;
                    int d = 0;
                    for (int c = 0; c < 3; c++) d = abs(p[c] - corner_rgb[corner][c]) > d ? abs(p[c] - corner_rgb[corner][c]) : d;
                    all &= d <= 8;
                }
                CHECK(all, "%s orientation %d: corners not where the tag puts them", big ? "MM" : "II", o);
                n_right += all;
            }
            vision_image_free(&img);
            free(jpg);
        }
    }
    printf("JPEG EXIF: %d of 16 orientations (II and MM) put every corner in place\n", n_right);

    /* malformed EXIF is ignored: the picture comes back as stored */
    uint8_t bad[64];
    size_t bn = exif_blob(bad, 0, 6, 3, 1);
    bad[10] = 0xf0; /* IFD0 offset past the end */
    jpeg_opts opt = {.w = W, .h = H, .in_cs = JCS_RGB, .quality = 100, .full_chroma = 1, .app1 = bad, .app1_n = bn};
    size_t n;
    uint8_t *jpg = jpeg_encode(&opt, px, &n);
    vision_image img = {0, 0, NULL};
    char err[EM_ERR_LEN] = "";
    CHECK(vision_jpeg_decode(jpg, n, "badexif.jpg", NULL, &img, err) == EM_OK && img.w == W && img.h == H, "%s", err);
    CHECK(img.rgb && img.rgb[3 * (3 * W + 3)] > 200 && img.rgb[3 * (3 * W + 3) + 1] < 50, "top-left still red");
    vision_image_free(&img);
    free(jpg);
    free(px);
}

static void test_jpeg_cmyk(void) {
    const int w = 16, h = 16;
    uint8_t *px = malloc((size_t)w * h * 4);
    if (!px) abort();
    for (int i = 0; i < w * h * 4; i++) px[i] = (uint8_t)(i * 7);
    for (int ycck = 0; ycck < 2; ycck++) {
        jpeg_opts o = {.w = w, .h = h, .in_cs = JCS_CMYK, .jpeg_cs = ycck ? JCS_YCCK : JCS_UNKNOWN, .quality = 90};
        size_t n;
        uint8_t *jpg = jpeg_encode(&o, px, &n);
        vision_image img = {0, 0, NULL};
        char err[EM_ERR_LEN] = "";
        ember_status st = vision_image_decode(jpg, n, "cmyk.jpg", NULL, &img, err);
        CHECK(st == EM_ERR_UNSUPPORTED && is_zeroed(&img) && strstr(err, "cmyk.jpg: JPEG: ") &&
                  strstr(err, ycck ? "YCCK" : "CMYK JPEG not supported; convert to RGB"),
              "%d %s", st, err);
        if (!ycck) printf("CMYK: %s\n", err);
        free(jpg);
    }
    free(px);
}

/* Offset of the first marker `code` (its 0xff byte) among the segments
 * before the entropy-coded data, or 0. */
static size_t jpeg_marker(const uint8_t *b, size_t n, int code) {
    for (size_t i = 2; i + 4 <= n;) {
        if (b[i] != 0xff) return 0;
        if (b[i + 1] == code) return i;
        if (b[i + 1] == 0xda) return 0;
        i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
    }
    return 0;
}

/* Offset just past the SOS segment's header (where entropy data starts). */
static size_t jpeg_sos_end(const uint8_t *b, size_t n) {
    size_t at = jpeg_marker(b, n, 0xda);
    return at ? at + 2 + ((size_t)b[at + 2] << 8 | b[at + 3]) : 0;
}

static void test_jpeg_truncated(void) {
    int n_cuts = 0, n_good = 0;
    for (int prog = 0; prog < 2; prog++) {
        uint8_t *px = flat_blocks(37, 21, 3);
        jpeg_opts o = {.w = 37, .h = 21, .in_cs = JCS_RGB, .quality = 90, .progressive = prog};
        size_t n;
        uint8_t *jpg = jpeg_encode(&o, px, &n);
        size_t sos = jpeg_sos_end(jpg, n);
        CHECK(sos > 0 && sos < n, "SOS found");
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *c = malloc(cut ? cut : 1);
            if (!c) abort();
            memcpy(c, jpg, cut);
            vision_image img = {0, 0, NULL};
            char err[EM_ERR_LEN] = "";
            ember_status st = vision_jpeg_decode(c, cut, "cut.jpg", NULL, &img, err);
            /* an empty buffer is libjpeg's "Empty input buffer"; every other
             * cut ends the data early */
            int good = st == EM_ERR_FORMAT && is_zeroed(&img) && (cut == 0 || strstr(err, "cut.jpg: JPEG: truncated"));
            if (!good) CHECK(good, "%s cut at %zu of %zu: %d %s", prog ? "progressive" : "baseline", cut, n, st, err);
            if (cut == sos && !prog) printf("header only: %s\n", err);
            n_good += good, n_cuts++;
            free(c);
        }
        free(jpg);
        free(px);
    }
    CHECK(n_good == n_cuts, "%d of %d truncations refused", n_good, n_cuts);
    printf("JPEG: %d truncations (every byte) refused as truncated\n", n_good);
}

static void test_jpeg_corrupt(void) {
    int n_ok = 0, n_err = 0, n_bad = 0;
    for (int prog = 0; prog < 2; prog++) {
        uint8_t *px = gradient(24, 16);
        jpeg_opts o = {.w = 24, .h = 16, .in_cs = JCS_RGB, .quality = 75, .progressive = prog};
        size_t n;
        uint8_t *jpg = jpeg_encode(&o, px, &n);
        for (size_t i = 0; i < n; i++) {
            for (int m = 0; m < 2; m++) {
                uint8_t *c = malloc(n);
                if (!c) abort();
                memcpy(c, jpg, n);
                c[i] = m ? 0xff : c[i] ^ 0x55; /* a changed byte, or a stray marker prefix */
                vision_image img = {0, 0, NULL};
                char err[EM_ERR_LEN] = "";
                ember_status st = vision_jpeg_decode(c, n, "flip.jpg", NULL, &img, err);
                if (st == EM_OK) {
                    n_ok++;
                    n_bad += !(img.w > 0 && img.h > 0 && img.rgb);
                } else {
                    n_err++;
                    int bad = !is_zeroed(&img) || !err[0] ||
                              !(st == EM_ERR_FORMAT || st == EM_ERR_UNSUPPORTED || st == EM_ERR_RANGE);
                    if (bad) printf("byte %zu: status %d: %s\n", i, st, err);
                    n_bad += bad;
                }
                vision_image_free(&img);
                free(c);
            }
        }
        free(jpg);
        free(px);
    }
    CHECK(n_bad == 0, "%d corrupted JPEGs broke the contract", n_bad);
    printf("JPEG: changed bytes: %d refused, %d decoded anyway\n", n_err, n_ok);
}

static void test_jpeg_limits(void) {
    uint8_t *px = flat_blocks(48, 32, 3);
    jpeg_opts o = {.w = 48, .h = 32, .in_cs = JCS_RGB, .quality = 90};
    size_t n;
    uint8_t *jpg = jpeg_encode(&o, px, &n);
    vision_limits lim = vision_limits_default();
    vision_image img = {0, 0, NULL};
    char err[EM_ERR_LEN] = "";
    lim.max_side = 40;
    CHECK(vision_jpeg_decode(jpg, n, "big.jpg", &lim, &img, err) == EM_ERR_RANGE && is_zeroed(&img) &&
              strstr(err, "48 x 32"), "%s", err);
    lim.max_side = 48, lim.max_pixels = 48 * 32 - 1;
    CHECK(vision_jpeg_decode(jpg, n, "big.jpg", &lim, &img, err) == EM_ERR_RANGE, "%s", err);
    lim.max_pixels = 48 * 32;
    CHECK(vision_jpeg_decode(jpg, n, "big.jpg", &lim, &img, err) == EM_OK, "%s", err);
    vision_image_free(&img);
    /* a frame header claiming 65000 x 65000 */
    size_t sof = jpeg_marker(jpg, n, 0xc0);
    CHECK(sof > 0, "SOF0 found");
    jpg[sof + 5] = 0xfd, jpg[sof + 6] = 0xe8, jpg[sof + 7] = 0xfd, jpg[sof + 8] = 0xe8; /* height, width */
#if FAULT_INJECTION
    const int counted = fi_works();
    fi_begin(-1);
#endif
    ember_status st = vision_jpeg_decode(jpg, n, "huge.jpg", NULL, &img, err);
#if FAULT_INJECTION
    fi_end();
    if (counted) CHECK(fi.live == 0, "refusing a huge JPEG left %ld blocks", fi.live);
#endif
    CHECK(st == EM_ERR_RANGE && strstr(err, "65000 x 65000") && is_zeroed(&img), "%d %s", st, err);
    free(jpg);
    free(px);
}

/* A legal progressive script of 704 scans for one gray component: each
 * coefficient on its own, first at Al 10, then refined bit by bit. More than
 * the decoder's 500-scan limit, so refused; the first 88 scans (DC and 7
 * bands) are within it and decode. */
static void test_jpeg_scan_limit(void) {
    jpeg_scan_info *scans = calloc(64 * 11, sizeof *scans);
    if (!scans) abort();
    int n = 0;
    for (int k = 0; k < 64; k++)
        for (int al = 10; al >= 0; al--, n++) {
            scans[n].comps_in_scan = 1;
            scans[n].Ss = scans[n].Se = k;
            scans[n].Ah = al == 10 ? 0 : al + 1;
            scans[n].Al = al;
        }
    uint8_t *px = flat_blocks(16, 16, 1);
    for (int pass = 0; pass < 2; pass++) {
        jpeg_opts o = {.w = 16, .h = 16, .in_cs = JCS_GRAYSCALE, .quality = 90, .scans = scans, .n_scans = pass ? 88 : n};
        size_t size;
        uint8_t *jpg = jpeg_encode(&o, px, &size);
        vision_image img = {0, 0, NULL};
        char err[EM_ERR_LEN] = "";
        ember_status st = vision_jpeg_decode(jpg, size, "scans.jpg", NULL, &img, err);
        if (pass == 0)
            CHECK(st == EM_ERR_RANGE && strstr(err, "more than 500 progressive scans") && is_zeroed(&img),
                  "%d scans (%zu bytes): %d %s", n, size, st, err);
        else
            CHECK(st == EM_OK && img.w == 16, "88 scans: %s", err);
        vision_image_free(&img);
        free(jpg);
    }
    free(px);
    free(scans);
}

/* ------------------------------------------------------ format-neutral */

static void test_raw(void) {
    const int w = 5, h = 3;
    for (int f = VISION_RGB8; f <= VISION_GRAY8; f++) {
        const int bpp = vision_pixfmt_bpp((enum vision_pixfmt)f);
        const size_t stride = (size_t)w * bpp + 7; /* padded rows */
        uint8_t *px = malloc(stride * h);
        if (!px) abort();
        memset(px, 0xee, stride * h);
        uint8_t want[5 * 3 * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *s = px + y * stride + (size_t)x * bpp, *d = want + (y * w + x) * 3;
                for (int c = 0; c < bpp; c++) s[c] = (uint8_t)(mix((unsigned)x, (unsigned)y, (unsigned)c, 9) & 255);
                switch (f) {
                case VISION_RGB8: case VISION_RGBA8: d[0] = s[0], d[1] = s[1], d[2] = s[2]; break;
                case VISION_BGR8: case VISION_BGRA8: d[0] = s[2], d[1] = s[1], d[2] = s[0]; break;
                default: d[0] = d[1] = d[2] = s[0];
                }
            }
        vision_image img = {0, 0, NULL};
        char err[EM_ERR_LEN] = "";
        CHECK(vision_image_from_raw(px, w, h, stride, (enum vision_pixfmt)f, NULL, &img, err) == EM_OK &&
                  img.w == w && img.h == h && !memcmp(img.rgb, want, sizeof want), "format %d: %s", f, err);
        vision_image_free(&img);
        /* packed (stride 0) */
        uint8_t *packed = malloc((size_t)w * h * bpp);
        if (!packed) abort();
        for (int y = 0; y < h; y++) memcpy(packed + (size_t)y * w * bpp, px + y * stride, (size_t)w * bpp);
        CHECK(vision_image_from_raw(packed, w, h, 0, (enum vision_pixfmt)f, NULL, &img, err) == EM_OK &&
                  !memcmp(img.rgb, want, sizeof want), "format %d packed: %s", f, err);
        vision_image_free(&img);
        CHECK(vision_image_from_raw(packed, w, h, (size_t)w * bpp - 1, (enum vision_pixfmt)f, NULL, &img, err) ==
                      EM_ERR_ARG && is_zeroed(&img), "short stride: %s", err);
        free(packed);
        free(px);
    }
    static const char *names[] = {"rgb8", "rgba8", "bgr8", "bgra8", "gray8"};
    for (int f = 0; f < 5; f++) CHECK(vision_pixfmt_from_name(names[f]) == f, "%s", names[f]);
    CHECK(vision_pixfmt_from_name("yuyv") == -1 && vision_pixfmt_from_name(NULL) == -1, "unknown names");
    uint8_t px[16] = {0};
    vision_image img = {0, 0, NULL};
    char err[EM_ERR_LEN] = "";
    vision_limits lim = vision_limits_default();
    lim.max_side = 4;
    CHECK(vision_image_from_raw(px, 2, 2, 0, (enum vision_pixfmt)99, NULL, &img, err) == EM_ERR_ARG, "%s", err);
    CHECK(vision_image_from_raw(NULL, 2, 2, 0, VISION_RGB8, NULL, &img, err) == EM_ERR_ARG, "%s", err);
    CHECK(vision_image_from_raw(px, 0, 2, 0, VISION_RGB8, NULL, &img, err) == EM_ERR_RANGE, "%s", err);
    CHECK(vision_image_from_raw(px, 5, 1, 0, VISION_GRAY8, &lim, &img, err) == EM_ERR_RANGE, "%s", err);
    CHECK(is_zeroed(&img), "nothing written on failure");
    vision_image_free(&img);
    vision_image_free(NULL);
}

static void test_load(void) {
    char path[512], err[EM_ERR_LEN] = "";
    vision_image img = {0, 0, NULL};
    snprintf(path, sizeof path, "%s/missing.png", g_dir);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_ERR_IO && strstr(err, "missing.png: cannot open"), "%s", err);
    CHECK(vision_image_load(g_dir, NULL, &img, err) == EM_ERR_IO && strstr(err, "not a regular file"), "%s", err);
    save("empty.png", "", 0, path, sizeof path);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "empty file"), "%s", err);
    /* shorter than a signature, and the start of one: truncated, not "another type" */
    save("cut.png", "\x89PN", 3, path, sizeof path);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "truncated") && strstr(err, "PNG"), "%s", err);
    save("cut.jpg", "\xff\xd8", 2, path, sizeof path);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "truncated") && strstr(err, "JPEG"), "%s", err);
    const char *text = "this is not a picture\n";
    save("notes.jpg", text, strlen(text), path, sizeof path);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_ERR_UNSUPPORTED && strstr(err, "notes.jpg: not a PNG or JPEG"),
          "%s", err);
    printf("text file: %s\n", err);
    /* a PNG named .jpg decodes as PNG: the magic decides */
    const png_variant *v = &PNG_VARIANTS[3];
    size_t n;
    uint8_t *png = png_encode(v, 3, 5, 0, 0, 4, &n);
    save("really_png.jpg", png, n, path, sizeof path);
    CHECK(vision_image_load(path, NULL, &img, err) == EM_OK && img.w == 3 && img.h == 5, "%s", err);
    vision_image_free(&img);
    vision_limits lim = vision_limits_default();
    lim.max_file_bytes = n - 1;
    CHECK(vision_image_load(path, &lim, &img, err) == EM_ERR_RANGE && is_zeroed(&img), "%s", err);
    /* sniffing from memory */
    CHECK(vision_image_decode(png, n, NULL, NULL, &img, err) == EM_OK && img.w == 3, "%s", err);
    vision_image_free(&img);
    CHECK(vision_image_decode(png, 7, NULL, NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "image: truncated"), "%s", err);
    CHECK(vision_image_decode(png, 0, "frame", NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "frame: empty"), "%s",
          err);
    CHECK(vision_image_decode(png, 20, "frame", NULL, &img, err) == EM_ERR_FORMAT && strstr(err, "frame: PNG: truncated"),
          "%s", err);
    static const uint8_t jpeg_head[] = {0xff, 0xd8, 0xff, 0xe0};
    CHECK(vision_image_decode(jpeg_head, sizeof jpeg_head, "frame", NULL, &img, err) == EM_ERR_FORMAT &&
              strstr(err, "frame: JPEG: "), "%s", err);
    CHECK(is_zeroed(&img), "nothing written on failure");
    free(png);
}

/* --------------------------------------------------- fault injection */

#if FAULT_INJECTION
/* Fail each allocation of one decode in turn: every failure must give
 * EM_ERR_NOMEM (or a success, where libpng can do without the block), and
 * leave exactly the blocks a success hands over (one: the pixels). */
static void fault_run(const char *what, const uint8_t *data, size_t n, int png) {
    vision_image good = {0, 0, NULL};
    char err[EM_ERR_LEN] = "";
    ember_status st = png ? vision_png_decode(data, n, what, NULL, &good, err)
                          : vision_jpeg_decode(data, n, what, NULL, &good, err);
    CHECK(st == EM_OK, "%s: %s", what, err);
    int n_fail = 0, bad = 0;
    for (long k = 0; k < 10000; k++) {
        vision_image img = {0, 0, NULL};
        fi_begin(k);
        st = png ? vision_png_decode(data, n, what, NULL, &img, err) : vision_jpeg_decode(data, n, what, NULL, &img, err);
        fi_end();
        if (!fi.failed) { /* ran out of allocations to fail */
            CHECK(st == EM_OK, "%s: %s", what, err);
            vision_image_free(&img);
            break;
        }
        n_fail++;
        if (st == EM_OK) {
            bad += fi.live != 1 || img.w != good.w || img.h != good.h ||
                   memcmp(img.rgb, good.rgb, (size_t)img.w * img.h * 3) != 0;
        } else {
            bad += st != EM_ERR_NOMEM || fi.live != 0 || !is_zeroed(&img);
            if (st != EM_ERR_NOMEM || fi.live != 0)
                printf("%s: allocation %ld failed: status %d, %ld blocks left: %s\n", what, k, st, fi.live, err);
        }
        vision_image_free(&img);
    }
    CHECK(n_fail > 3 && bad == 0, "%s: %d of %d failed allocations mishandled", what, bad, n_fail);
    printf("%s: %d allocations failed in turn, each handled\n", what, n_fail);
    vision_image_free(&good);
}

static void test_faults(void) {
    size_t n;
    uint8_t *png = png_encode(&PNG_VARIANTS[16], 17, 11, 1, 1, 8, &n); /* pal4_trns, Adam7, tEXt */
    fault_run("fault.png", png, n, 1);
    free(png);
    uint8_t app1[64];
    size_t an = exif_blob(app1, 1, 6, 3, 1);
    uint8_t *px = flat_blocks(40, 24, 3);
    jpeg_opts o = {.w = 40, .h = 24, .in_cs = JCS_RGB, .quality = 90, .progressive = 1, .app1 = app1, .app1_n = an};
    uint8_t *jpg = jpeg_encode(&o, px, &n);
    fault_run("fault.jpg", jpg, n, 0);
    free(jpg);
    free(px);
}
#endif

/* ------------------------------------------------------- fuzz corpora */

static int write_file(const char *dir, const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    printf("%s: %zu bytes\n", path, n);
    return 0;
}

/* Small seeds, a few hundred bytes each, one per decoder path. */
static int write_corpus(const char *root) {
    char pdir[400], jdir[400];
    snprintf(pdir, sizeof pdir, "%s/corpus_png", root);
    snprintf(jdir, sizeof jdir, "%s/corpus_jpeg", root);
    mkdir(pdir, 0755);
    mkdir(jdir, 0755);
    static const struct {
        int variant, w, h, interlace;
    } ps[] = {{0, 9, 5, 0}, {2, 6, 6, 1}, {7, 5, 3, 0}, {9, 4, 4, 1}, {12, 7, 7, 1},
              {15, 8, 3, 0}, {17, 5, 5, 0}, {19, 3, 3, 1}, {21, 4, 2, 0}, {23, 3, 4, 1}};
    int rc = 0;
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        const png_variant *v = &PNG_VARIANTS[ps[i].variant];
        size_t n;
        uint8_t *png = png_encode(v, ps[i].w, ps[i].h, ps[i].interlace, i == 0, (unsigned)i, &n);
        char name[64];
        snprintf(name, sizeof name, "%s%s.png", v->name, ps[i].interlace ? "_adam7" : "");
        rc |= write_file(pdir, name, png, n);
        free(png);
    }
    uint8_t app1[64];
    size_t an = exif_blob(app1, 0, 6, 3, 1);
    static const struct {
        const char *name;
        int w, h, gray, progressive, full_chroma, quality, exif, cmyk, restart, arith;
    } js[] = {
        {"baseline_420", 16, 16, 0, 0, 0, 50, 0, 0, 0, 0},   {"progressive_420", 16, 8, 0, 1, 0, 50, 0, 0, 0, 0},
        {"baseline_444", 8, 8, 0, 0, 1, 40, 0, 0, 0, 0},     {"gray", 8, 16, 1, 0, 0, 50, 0, 0, 0, 0},
        {"gray_progressive", 9, 7, 1, 1, 0, 50, 0, 0, 0, 0}, {"exif_rot90", 16, 8, 0, 0, 0, 30, 1, 0, 0, 0},
        {"cmyk", 8, 8, 0, 0, 0, 30, 0, 1, 0, 0},             {"restart", 16, 32, 0, 0, 0, 30, 0, 0, 1, 0},
        {"arithmetic_progressive", 16, 16, 0, 1, 0, 50, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        const int comps = js[i].gray ? 1 : js[i].cmyk ? 4 : 3;
        uint8_t *px = malloc((size_t)js[i].w * js[i].h * comps);
        if (!px) return -1;
        for (int k = 0; k < js[i].w * js[i].h * comps; k++) px[k] = (uint8_t)(mix((unsigned)k, 0, 0, (unsigned)i) & 255);
        jpeg_opts o = {.w = js[i].w, .h = js[i].h, .in_cs = js[i].gray ? JCS_GRAYSCALE : js[i].cmyk ? JCS_CMYK : JCS_RGB,
                       .quality = js[i].quality, .progressive = js[i].progressive, .full_chroma = js[i].full_chroma,
                       .app1 = js[i].exif ? app1 : NULL, .app1_n = js[i].exif ? an : 0,
                       .restart = js[i].restart, .arith = js[i].arith};
        size_t n;
        uint8_t *jpg = jpeg_encode(&o, px, &n);
        char name[64];
        snprintf(name, sizeof name, "%s.jpg", js[i].name);
        rc |= write_file(jdir, name, jpg, n);
        free(jpg);
        free(px);
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-corpus")) return write_corpus(argv[2]);
    snprintf(g_dir, sizeof g_dir, "/tmp/ember_test_image.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_png_variants();
    test_png_16bit_high_byte();
    test_png_truncated();
    test_png_corrupt();
    test_png_limits();
    test_png_write();
    test_jpeg_kinds();
    test_exif_parser();
    test_exif_apply();
    test_jpeg_exif();
    test_jpeg_cmyk();
    test_jpeg_truncated();
    test_jpeg_corrupt();
    test_jpeg_limits();
    test_jpeg_scan_limit();
    test_raw();
    test_load();
#if FAULT_INJECTION
    if (fi_works()) test_faults();
    else printf("fault injection skipped (malloc is replaced, e.g. by valgrind)\n");
#else
    printf("fault injection skipped (ASan build)\n");
#endif
    rm_tree(g_dir);
    return CHECK_DONE();
}
