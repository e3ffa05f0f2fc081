/* exif.c - the EXIF Orientation tag and its transform (exif.h).
 *
 * Why a hand parser: Ember needs one SHORT from the first IFD, and a library
 * (libexif, exiv2) would be a new dependency, and more parsing surface, for
 * that. The layout it reads, from the EXIF 2.3 spec: "Exif\0\0", then a TIFF
 * header (byte order "II" little- or "MM" big-endian, the number 42, the
 * offset of IFD0 from the start of the TIFF header), then IFD0: a 2-byte
 * entry count and 12-byte entries (tag, type, count, value or offset). A
 * SHORT with count 1 sits in the first 2 bytes of the value field. Every
 * offset is checked against the payload's length before it is read. */
#include <stdlib.h>
#include <string.h>

#include "exif.h"

#define EXIF_TAG_ORIENTATION 0x0112
#define EXIF_TYPE_SHORT 3

static unsigned rd16(const uint8_t *p, int big) {
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int vision_exif_orientation(const uint8_t *app1, size_t n) {
    if (!app1 || n < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = app1 + 6; /* offsets count from the TIFF header */
    size_t tn = n - 6;
    int big;
    if (t[0] == 'I' && t[1] == 'I') big = 0;
    else if (t[0] == 'M' && t[1] == 'M') big = 1;
    else return 1;
    if (rd16(t + 2, big) != 42) return 1;
    uint32_t ifd = rd32(t + 4, big);
    if (ifd > tn || tn - ifd < 2) return 1;
    unsigned count = rd16(t + ifd, big);
    /* Entries past the end of the payload are not read: a count that
     * overstates them is cut to what is there. */
    size_t room = (tn - ifd - 2) / 12;
    if (count > room) count = (unsigned)room;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = t + ifd + 2 + (size_t)i * 12;
        if (rd16(e, big) != EXIF_TAG_ORIENTATION) continue;
        if (rd16(e + 2, big) != EXIF_TYPE_SHORT || rd32(e + 4, big) != 1) return 1;
        unsigned v = rd16(e + 8, big);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

ember_status vision_exif_apply(vision_image *img, int orientation, char *err) {
    if (orientation < 2 || orientation > 8) return EM_OK;
    const int w = img->w, h = img->h;
    const int swap = orientation >= 5; /* 5..8 turn by a quarter: the sides trade places */
    const int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
    if (!dst) return em_err(err, EM_ERR_NOMEM, "EXIF orientation %d: %d x %d: out of memory", orientation, w, h);
    /* For each displayed pixel (ox, oy), the stored pixel (sx, sy) it shows.
     * The tag names where the stored row 0 and column 0 belong on screen:
     *   1 row 0 top,    col 0 left     5 row 0 left,   col 0 top
     *   2 row 0 top,    col 0 right    6 row 0 right,  col 0 top
     *   3 row 0 bottom, col 0 right    7 row 0 right,  col 0 bottom
     *   4 row 0 bottom, col 0 left     8 row 0 left,   col 0 bottom */
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - ox, sy = oy; break;
            case 3: sx = w - 1 - ox, sy = h - 1 - oy; break;
            case 4: sx = ox, sy = h - 1 - oy; break;
            case 5: sx = oy, sy = ox; break;
            case 6: sx = oy, sy = h - 1 - ox; break;
            case 7: sx = w - 1 - oy, sy = h - 1 - ox; break;
            default: sx = w - 1 - oy, sy = ox; break; /* 8 */
            }
            const uint8_t *s = img->rgb + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            uint8_t *d = dst + ((size_t)oy * (size_t)ow + (size_t)ox) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    }
    free(img->rgb);
    img->rgb = dst;
    img->w = ow;
    img->h = oh;
    return EM_OK;
}
