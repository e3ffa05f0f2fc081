/* fuzz_driver.c - a stand-in for libFuzzer where clang's is missing, so the
 * fuzz test runs on every machine: it replays a corpus directory through
 * LLVMFuzzerTestOneInput, then mutates its files at random (byte flips,
 * truncations, insertions, splices, JSON tokens) until the time is up.
 * No coverage feedback: it is much weaker than libFuzzer, but it keeps
 * the target's properties checked. It takes libFuzzer's flags that matter
 * here: -max_total_time=S -max_len=N -seed=N, then the corpus directory;
 * other -flags are ignored. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct corpus {
    int n;
    unsigned char **data;
    size_t *size;
} corpus;

static uint64_t next_rand(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int load(corpus *c, const char *dir, size_t max_len) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        unsigned char *buf = malloc(max_len ? max_len : 1);
        size_t n = buf ? fread(buf, 1, max_len, f) : 0;
        fclose(f);
        unsigned char **nd = realloc(c->data, (size_t)(c->n + 1) * sizeof *nd);
        size_t *ns = nd ? realloc(c->size, (size_t)(c->n + 1) * sizeof *ns) : NULL;
        if (nd) c->data = nd;
        if (!buf || !nd || !ns) {
            free(buf);
            closedir(d);
            return -1;
        }
        c->size = ns;
        c->data[c->n] = buf;
        c->size[c->n] = n;
        c->n++;
    }
    closedir(d);
    return 0;
}

static const char *const TOKENS[] = {"{", "}", "[", "]", "\"", ",", ":", "null", "true", "-1", "1e999", "0.5",
                                     "9007199254740993", "\"v\":\"2.0\"", "\"type\":\"frame\"", "\\u0000", "\"\"",
                                     "\"steps\":[", "\"args\":{", "\xff"};

/* One mutation of src into out (max_len bytes); returns the new length. */
static size_t mutate(const corpus *c, const unsigned char *src, size_t n, unsigned char *out, size_t max_len,
                     uint64_t *rng) {
    memcpy(out, src, n);
    int rounds = 1 + (int)(next_rand(rng) % 4);
    for (int r = 0; r < rounds; r++) {
        size_t at = n ? (size_t)(next_rand(rng) % (n + 1)) : 0;
        switch (next_rand(rng) % 5) {
        case 0: /* flip a byte */
            if (n && at < n) out[at] ^= (unsigned char)(1u << (next_rand(rng) % 8));
            break;
        case 1: /* truncate */
            n = at;
            break;
        case 2: { /* insert random bytes */
            size_t k = 1 + (size_t)(next_rand(rng) % 8);
            if (n + k > max_len) break;
            memmove(out + at + k, out + at, n - at);
            for (size_t i = 0; i < k; i++) out[at + i] = (unsigned char)next_rand(rng);
            n += k;
            break;
        }
        case 3: { /* insert a JSON token */
            const char *t = TOKENS[next_rand(rng) % (sizeof TOKENS / sizeof TOKENS[0])];
            size_t k = strlen(t);
            if (n + k > max_len) break;
            memmove(out + at + k, out + at, n - at);
            memcpy(out + at, t, k);
            n += k;
            break;
        }
        default: { /* splice: our head, another file's tail */
            int j = (int)(next_rand(rng) % (uint64_t)c->n);
            size_t from = c->size[j] ? (size_t)(next_rand(rng) % c->size[j]) : 0, k = c->size[j] - from;
            if (at + k > max_len) k = max_len - at;
            memcpy(out + at, c->data[j] + from, k);
            n = at + k;
        }
        }
    }
    return n;
}

int main(int argc, char **argv) {
    double seconds = 10;
    size_t max_len = 4096;
    uint64_t seed = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-max_total_time=", 16)) seconds = atof(argv[i] + 16);
        else if (!strncmp(argv[i], "-max_len=", 9)) max_len = (size_t)strtoull(argv[i] + 9, NULL, 10);
        else if (!strncmp(argv[i], "-seed=", 6)) seed = strtoull(argv[i] + 6, NULL, 10);
        else if (argv[i][0] != '-') dir = argv[i];
    }
    if (!dir || max_len < 16) {
        fprintf(stderr, "usage: %s [-max_total_time=S] [-max_len=N] [-seed=N] CORPUS_DIR\n", argv[0]);
        return 2;
    }
    if (!seed) seed = (uint64_t)time(NULL);
    printf("fuzz_driver: seed %llu (replay with -seed=%llu)\n", (unsigned long long)seed, (unsigned long long)seed);
    uint64_t rng = seed | 1;
    corpus c = {0, NULL, NULL};
    if (load(&c, dir, max_len) || c.n == 0) {
        fprintf(stderr, "fuzz_driver: %s: no corpus files\n", dir);
        return 2;
    }
    for (int i = 0; i < c.n; i++) LLVMFuzzerTestOneInput(c.data[i], c.size[i]);
    unsigned char *buf = malloc(max_len);
    if (!buf) return 2;
    double t0 = now_s(), t = t0;
    unsigned long long runs = 0;
    while (t - t0 < seconds) {
        for (int k = 0; k < 256; k++, runs++) {
            int j = (int)(next_rand(&rng) % (uint64_t)c.n);
            size_t n = mutate(&c, c.data[j], c.size[j], buf, max_len, &rng);
            LLVMFuzzerTestOneInput(buf, n);
        }
        t = now_s();
    }
    printf("fuzz_driver: %d corpus files, %llu mutated runs in %.1f s (%.0f exec/s), no failure\n", c.n, runs, t - t0,
           (double)runs / (t - t0));
    for (int i = 0; i < c.n; i++) free(c.data[i]);
    free(c.data);
    free(c.size);
    free(buf);
    return 0;
}
