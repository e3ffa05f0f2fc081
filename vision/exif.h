/* exif.h - private to vision/: the one EXIF fact the JPEG decoder uses, the
 * Orientation tag, and turning decoded pixels the way it says. */
#ifndef EMBER_VISION_EXIF_H
#define EMBER_VISION_EXIF_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* The Orientation (tag 0x0112) of an APP1 payload that starts "Exif\0\0"
 * (the bytes after the marker's length field). 1..8; 1 when the payload is
 * not EXIF, has no such tag, or is malformed in any way: a bad EXIF block
 * must never cost the picture. Reads nothing outside app1[0..n). */
int vision_exif_orientation(const uint8_t *app1, size_t n);

/* Turn img (as stored in the file) into the way the camera was held:
 * orientation 2..8 mirror and/or rotate (5..8 swap width and height); 1 and
 * anything out of range leave it alone. Replaces img->rgb; EM_ERR_NOMEM
 * (img unchanged) if the new buffer cannot be had. */
ember_status vision_exif_apply(vision_image *img, int orientation, char *err);

#endif
