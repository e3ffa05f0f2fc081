/* quantize_peer.c - `ember quantize` against llama.cpp's own quantizer.
 *
 * usage: quantize_peer IN.gguf OUT_EMBER.gguf MIX...
 * For each mix, quantizes IN with llama_model_quantize from the llama.cpp
 * library node-llama-cpp ships (bench/peer; mainline llama.cpp's quantizer,
 * the one most published files come from) and with `ember quantize` (the
 * binary in $EMBER_BIN), then compares the two files tensor by tensor:
 * the same type for every tensor, the same bytes, the same file type.
 * Exit 0 all equal, 1 a difference, 77 no peer library here. */
#include <dlfcn.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "lm/quantize.h"

/* llama_model_quantize_params is returned by value and passed by pointer;
 * only its first two fields (int32 nthread, enum ftype) are set here, so
 * a buffer larger than any version's struct stands in for it. */
typedef struct { int32_t nthread, ftype; unsigned char rest[504]; } quant_params;

static const char *peer_dir(char *buf, size_t cap) {
    const char *env = getenv("EMBER_GGML_DIR");
    if (env && *env) return env;
    glob_t g;
    const char *dir = NULL;
    if (glob("bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.*.so", 0, NULL, &g) == 0) {
        if (g.gl_pathc) {
            snprintf(buf, cap, "%s", g.gl_pathv[0]);
            dir = buf;
        }
        globfree(&g);
    }
    return dir;
}

/* 0 equal; else prints the first differences. */
static int compare(const char *a_path, const char *b_path, const char *mix) {
    char err[EM_ERR_LEN];
    gguf_ctx *a = gguf_open(a_path, err), *b = a ? gguf_open(b_path, err) : NULL;
    if (!a || !b) {
        printf("FAIL %s: %s\n", mix, err);
        gguf_close(a);
        return 1;
    }
    int bad = 0;
    int64_t fa = -1, fb = -2;
    gguf_get_int(a, "general.file_type", &fa, err);
    gguf_get_int(b, "general.file_type", &fb, err);
    if (fa != fb) printf("FAIL %s: general.file_type %" PRId64 " (ember) vs %" PRId64 " (llama.cpp)\n", mix, fa, fb), bad++;
    if (gguf_n_tensors(a) != gguf_n_tensors(b)) {
        printf("FAIL %s: %" PRId64 " vs %" PRId64 " tensors\n", mix, gguf_n_tensors(a), gguf_n_tensors(b));
        bad++;
    }
    int64_t same = 0;
    for (int64_t i = 0; i < gguf_n_tensors(a); i++) {
        const gguf_tensor_info *ta = gguf_tensor(a, i), *tb = gguf_find_tensor(b, ta->name);
        if (!tb || ta->type != tb->type || ta->nbytes != tb->nbytes) {
            if (bad++ < 8)
                printf("FAIL %s: %s: %s (ember) vs %s (llama.cpp)\n", mix, ta->name, em_type_name(ta->type),
                       tb ? em_type_name(tb->type) : "absent");
            continue;
        }
        if (memcmp(ta->data, tb->data, ta->nbytes) != 0) {
            size_t nd = 0;
            for (size_t j = 0; j < ta->nbytes; j++) nd += ((const char *)ta->data)[j] != ((const char *)tb->data)[j];
            if (bad++ < 8) printf("FAIL %s: %s (%s): %zu of %zu bytes differ\n", mix, ta->name, em_type_name(ta->type), nd, ta->nbytes);
            continue;
        }
        same++;
    }
    printf("%s %s: %" PRId64 " of %" PRId64 " tensors identical\n", bad ? "FAIL" : "ok  ", mix, same, gguf_n_tensors(a));
    gguf_close(a);
    gguf_close(b);
    return bad != 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: quantize_peer IN.gguf OUT_PREFIX MIX...\n");
        return 2;
    }
    const char *ember = getenv("EMBER_BIN") ? getenv("EMBER_BIN") : "build/ember";
    char lib[1024], dir[1024];
    if (!peer_dir(lib, sizeof lib)) {
        printf("SKIP: no llama.cpp library in bench/peer (scripts/setup.sh installs it)\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s", lib);
    *strrchr(dir, '/') = 0;
    void *ll = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!ll) {
        printf("SKIP: %s\n", dlerror());
        return 77;
    }
    void (*backend_init)(void) = (void (*)(void))dlsym(ll, "llama_backend_init");
    quant_params (*defaults)(void) = (quant_params(*)(void))dlsym(ll, "llama_model_quantize_default_params");
    uint32_t (*quantize)(const char *, const char *, const quant_params *) =
        (uint32_t(*)(const char *, const char *, const quant_params *))dlsym(ll, "llama_model_quantize");
    void *gg = dlopen("libggml.v0.5.0.so", RTLD_NOW | RTLD_NOLOAD);
    void (*load_all)(const char *) = gg ? (void (*)(const char *))dlsym(gg, "ggml_backend_load_all_from_path") : NULL;
    if (!backend_init || !defaults || !quantize) {
        printf("SKIP: the llama.cpp library lacks the quantize API\n");
        return 77;
    }
    if (load_all) load_all(dir);
    backend_init();
    int fails = 0;
    for (int i = 3; i < argc; i++) {
        const char *mix = argv[i];
        const int ftype = lm_quant_mix_parse(mix);
        char peer_out[1100], ember_out[1100], cmd[4000];
        snprintf(peer_out, sizeof peer_out, "%s.%s.llama.gguf", argv[2], mix);
        snprintf(ember_out, sizeof ember_out, "%s.%s.ember.gguf", argv[2], mix);
        snprintf(cmd, sizeof cmd, "'%s' quantize -q '%s' '%s' %s 2>'%s.err'", ember, argv[1], ember_out, mix, ember_out);
        if (system(cmd) != 0) {
            char line[600] = "";
            snprintf(cmd, sizeof cmd, "%s.err", ember_out);
            FILE *f = fopen(cmd, "r");
            if (f && fgets(line, sizeof line, f)) line[strcspn(line, "\n")] = 0;
            if (f) fclose(f);
            printf("FAIL %s: ember quantize failed: %s\n", mix, line);
            fails++;
            continue;
        }
        quant_params p = defaults();
        p.nthread = 1;
        p.ftype = ftype;
        if (quantize(argv[1], peer_out, &p) != 0) {
            printf("FAIL %s: llama_model_quantize failed\n", mix);
            fails++;
            continue;
        }
        fails += compare(ember_out, peer_out, mix);
        remove(peer_out);
        remove(ember_out);
        snprintf(cmd, sizeof cmd, "%s.err", ember_out);
        remove(cmd);
    }
    printf("%s\n", fails ? "FAILED" : "all equal");
    return fails ? 1 : 0;
}
