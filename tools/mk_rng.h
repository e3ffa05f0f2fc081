/* mk_rng.h - the seeded generator of the random-weight writers (mkmodel,
 * mkmmproj): splitmix64 for uniforms, Box-Muller for normals, and one stream
 * per tensor seeded by the file seed and the tensor's name, so a tensor keeps
 * its underlying values whatever storage type or other tensors a file has.
 * Header-only (static inline), included by tools/mk_gguf.c, which draws every
 * tensor of both tools. */
#ifndef EMBER_MK_RNG_H
#define EMBER_MK_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

typedef struct mk_rng {
    uint64_t s;
    bool have_spare;
    double spare;
} mk_rng;

static inline uint64_t mk_rng_next(mk_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 so log() below is finite. */
static inline double mk_rng_uniform(mk_rng *r) { return ((mk_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static inline double mk_rng_normal(mk_rng *r) {
    if (r->have_spare) { r->have_spare = false; return r->spare; }
    double u = mk_rng_uniform(r), v = mk_rng_uniform(r);
    double m = sqrt(-2.0 * log(u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->have_spare = true;
    return m * cos(2.0 * M_PI * v);
}

/* One stream per tensor: the seed mixed with an FNV-1a hash of the name. */
static inline mk_rng mk_rng_for(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    mk_rng r = {.s = seed * 0x9e3779b97f4a7c15ull ^ h};
    mk_rng_next(&r);
    return r;
}

#endif
