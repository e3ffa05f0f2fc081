/* idefics3.c - pixel shuffle and the connector's product (see idefics3.h). */
#include <string.h>

#include "idefics3.h"

void proj_idefics3_shuffle(const float *in, int g, int d, int s, float *out) {
    const int G = g / s;
    for (int Y = 0; Y < G; Y++)
        for (int X = 0; X < G; X++) {
            float *o = out + ((size_t)Y * G + X) * (size_t)d * s * s;
            for (int dy = 0; dy < s; dy++)
                for (int dx = 0; dx < s; dx++) {
                    const float *src = in + ((size_t)(Y * s + dy) * g + (size_t)(X * s + dx)) * d;
                    memcpy(o + ((size_t)dy * s + dx) * d, src, (size_t)d * sizeof(float));
                }
        }
}

void proj_idefics3_project(const proj_idefics3 *p, em_backend *be, em_tensor *out, const em_tensor *x) {
    be->ops->matmul(be, out, &p->fc, x);
}
