/* test_tokenizer.c - the tokenizers against llama.cpp's own test vectors
 * (../shared/vocab/NAME.gguf.inp/.out, tokenized without BOS and without
 * parsing special tokens, as test-tokenizer-0 does), round trips, streaming
 * detokenization, special tokens, BOS/EOS rules, pre-tokenizer variants and
 * malformed vocabularies written with the GGUF writer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gguf.h"
#include "lm/vocab.h"

/* ../shared beside the checkout; from a worktree under wt/ it is one level up */
static char GPT2[256], SPM[256];

static void find_vocab_dir(void) {
    const char *dirs[] = {"../shared/vocab/", "../../shared/vocab/"};
    const char *env = getenv("EMBER_VOCAB_DIR");
    const char *d = dirs[0];
    if (env) {
        d = env;
    } else {
        for (int i = 0; i < 2; i++) {
            char p[256];
            snprintf(p, sizeof p, "%sggml-vocab-gpt-2.gguf", dirs[i]);
            if (access(p, R_OK) == 0) {
                d = dirs[i];
                break;
            }
        }
    }
    snprintf(GPT2, sizeof GPT2, "%s/ggml-vocab-gpt-2.gguf", d);
    snprintf(SPM, sizeof SPM, "%s/ggml-vocab-llama-spm.gguf", d);
}

static int n_pass, n_fail;

static void check(int ok, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *what, const char *fmt, ...) {
    if (ok) {
        n_pass++;
        return;
    }
    n_fail++;
    printf("FAIL %s: ", what);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[sz] = 0;
        *n = (size_t)sz;
    }
    return b;
}

static lm_vocab *load(const char *path) {
    char err[EM_ERR_LEN] = "";
    gguf_ctx *g = gguf_open(path, err);
    lm_vocab *v = g ? lm_vocab_load(g, err) : NULL;
    gguf_close(g);
    if (!v) printf("cannot load %s: %s\n", path, err);
    return v;
}

/* Tokenize into a malloc'd array; *n = count (negative status on failure). */
static int32_t *tok(const lm_vocab *v, const char *s, size_t len, bool add_special, bool parse_special, int64_t *n) {
    char err[EM_ERR_LEN] = "";
    *n = lm_tokenize(v, s, len, add_special, parse_special, NULL, 0, err);
    if (*n < 0) {
        printf("lm_tokenize failed: %s\n", err);
        return NULL;
    }
    int32_t *ids = malloc((size_t)(*n + 1) * sizeof *ids);
    if (!ids) return NULL;
    int64_t m = lm_tokenize(v, s, len, add_special, parse_special, ids, *n, err);
    if (m != *n) {
        free(ids);
        *n = -1;
        return NULL;
    }
    return ids;
}

static void fmt_ids(char *buf, size_t cap, const int32_t *ids, int64_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? " " : "", ids[i]);
}

/* Would llama.cpp's clean_spaces change s? Then the round trip cannot hold. */
static bool clean_spaces_changes(const char *s, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (s[i - 1] == ' ' && strchr("?!.,'", s[i])) return true;
    return false;
}

/* ---- llama.cpp's vectors, and round trips */

static void test_vectors(const char *gguf_path, bool clean_spaces) {
    char path[512], what[600];
    lm_vocab *v = load(gguf_path);
    check(v != NULL, gguf_path, "load");
    if (!v) return;
    size_t ni, no;
    snprintf(path, sizeof path, "%s.inp", gguf_path);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s.out", gguf_path);
    char *out = slurp(path, &no);
    check(inp && out, gguf_path, "cannot read .inp/.out");
    if (!inp || !out) goto done;
    /* test-tokenizer-0: strings are separated by "\n__ggml_vocab_test__\n";
     * the .out has one line of ids per string */
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep), pos = 0;
    char *line = out;
    int n_lines = 0, n_match = 0, n_rt = 0, n_rt_ok = 0;
    while (pos < ni) {
        char *nx = strstr(inp + pos, sep);
        size_t len = nx ? (size_t)(nx - (inp + pos)) : ni - pos;
        const char *s = inp + pos;
        pos = nx ? pos + len + sl : ni;
        char *eol = line ? strchr(line, '\n') : NULL;
        if (!line || !*line) {
            check(0, gguf_path, ".out has fewer lines than .inp has strings");
            break;
        }
        if (eol) *eol = 0;
        int64_t n;
        int32_t *ids = tok(v, s, len, false, false, &n);
        char got[4096], want[4096];
        fmt_ids(got, sizeof got, ids, n);
        /* the expected line, normalized (llama.cpp strips it) */
        size_t o = 0;
        for (char *p = line; *p;) {
            while (*p == ' ') p++;
            if (!*p) break;
            long x = strtol(p, &p, 10);
            o += (size_t)snprintf(want + o, sizeof want - o, "%s%ld", o ? " " : "", x);
        }
        want[o] = 0;
        n_lines++;
        snprintf(what, sizeof what, "%s line %d", gguf_path, n_lines);
        check(ids && !strcmp(got, want), what, "'%.*s': got [%s], llama.cpp [%s]", (int)len, s, got, want);
        n_match += ids && !strcmp(got, want);
        if (ids) {
            char text[8192];
            size_t tn = lm_detokenize(v, ids, (size_t)n, false, false, text, sizeof text);
            if (!(clean_spaces && clean_spaces_changes(s, len))) {
                n_rt++;
                bool ok = tn == len && !memcmp(text, s, len);
                n_rt_ok += ok;
                snprintf(what, sizeof what, "%s round trip %d", gguf_path, n_lines);
                check(ok, what, "'%.*s' came back as '%.*s'", (int)len, s, (int)(tn < sizeof text ? tn : 0), text);
            }
        }
        free(ids);
        line = eol ? eol + 1 : NULL;
    }
    check(!line || !*line, gguf_path, ".out has more lines than .inp has strings");
    printf("%s: %d/%d vector lines match llama.cpp, %d/%d round trips\n", gguf_path, n_match, n_lines, n_rt_ok, n_rt);
done:
    free(inp);
    free(out);
    lm_vocab_free(v);
}

/* ---- streaming detokenizer: only whole UTF-8 characters come out */

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        size_t k = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

static void stream_case(const lm_vocab *v, const char *name, const char *text, int min_split) {
    int64_t n;
    int32_t *ids = tok(v, text, strlen(text), false, false, &n);
    if (!ids) {
        check(0, name, "tokenize failed");
        return;
    }
    char acc[1024], out[256];
    size_t an = 0;
    int held = 0; /* pushes that emitted less than the token's raw piece */
    lm_detok d;
    lm_detok_init(&d, v, false);
    bool all_valid = true;
    for (int64_t i = 0; i < n; i++) {
        size_t k = lm_detok_push(&d, ids[i], out, sizeof out);
        char raw[64];
        int rk = lm_token_to_piece(v, ids[i], false, raw, sizeof raw);
        if ((int)k < rk && i > 0) held++;
        all_valid &= valid_utf8(out, k);
        memcpy(acc + an, out, k);
        an += k;
    }
    size_t k = lm_detok_flush(&d, out, sizeof out);
    memcpy(acc + an, out, k);
    an += k;
    char full[1024];
    size_t fn = lm_detokenize(v, ids, (size_t)n, false, false, full, sizeof full);
    check(all_valid, name, "a push emitted a partial UTF-8 character");
    check(an == fn && !memcmp(acc, full, fn), name, "streamed '%.*s', whole '%.*s'", (int)an, acc, (int)fn, full);
    check(held >= min_split, name, "expected a character split across tokens (%d held)", held);
    free(ids);
}

static void test_stream(const lm_vocab *gpt2, const lm_vocab *spm) {
    /* SPM: the llama is not a token, so it is four <0xXX> byte tokens */
    stream_case(spm, "spm stream emoji", " this is 🦙.cpp", 3);
    stream_case(spm, "spm stream mixed", "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", 1);
    /* BPE: byte-level pieces of one character spread over tokens */
    stream_case(gpt2, "bpe stream emoji", " this is 🦙.cpp", 1);
    stream_case(gpt2, "bpe stream khmer", "កាន់តែពិសេសអាចខលចេញ", 1);

    /* invalid bytes come out as U+FFFD, an incomplete tail at flush */
    lm_detok d;
    char out[64];
    lm_detok_init(&d, spm, false);
    int32_t b_f0 = lm_vocab_find(spm, "<0xF0>"), b_9f = lm_vocab_find(spm, "<0x9F>"), b_ff = lm_vocab_find(spm, "<0xFF>");
    size_t k1 = lm_detok_push(&d, b_f0, out, sizeof out);
    size_t k2 = lm_detok_push(&d, b_9f, out, sizeof out);
    size_t k3 = lm_detok_flush(&d, out, sizeof out);
    check(k1 == 0 && k2 == 0 && k3 == 3 && !memcmp(out, "\xef\xbf\xbd", 3), "detok flush", "got %zu %zu %zu", k1, k2, k3);
    lm_detok_init(&d, spm, false);
    k1 = lm_detok_push(&d, b_ff, out, sizeof out);
    check(k1 == 3 && !memcmp(out, "\xef\xbf\xbd", 3), "detok invalid byte", "got %zu bytes", k1);
}

/* ---- special tokens, BOS/EOS */

static bool contains(const int32_t *ids, int64_t n, int32_t id) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void test_special(const lm_vocab *gpt2, const lm_vocab *spm) {
    int64_t n;
    int32_t eot = lm_vocab_find(gpt2, "<|endoftext|>");
    check(eot == 50256 && lm_vocab_token_type(gpt2, eot) == LM_TOKEN_CONTROL, "gpt2 <|endoftext|>", "id %d type %d", eot,
          lm_vocab_token_type(gpt2, eot));
    const char *s = "Hello<|endoftext|> world";
    int32_t *a = tok(gpt2, s, strlen(s), false, true, &n);
    check(a && n == 3 && a[0] == 15496 && a[1] == 50256 && a[2] == 995, "gpt2 parse_special", "%lld tokens", (long long)n);
    free(a);
    a = tok(gpt2, s, strlen(s), false, false, &n);
    check(a && n > 3 && !contains(a, n, 50256), "gpt2 no parse_special", "%lld tokens", (long long)n);
    free(a);
    check(lm_vocab_is_eog(gpt2, 50256) && lm_vocab_eot(gpt2) == 50256, "gpt2 eog", "eot %d", lm_vocab_eot(gpt2));

    /* SPM: "<s>" is BOS; the text after a special token gets a space prefix */
    s = "<s>Hello";
    a = tok(spm, s, strlen(s), false, true, &n);
    check(a && n == 2 && a[0] == 1 && a[1] == 15043, "spm parse_special", "%lld tokens", (long long)n);
    free(a);
    a = tok(spm, s, strlen(s), false, false, &n);
    check(a && !contains(a, n, 1), "spm no parse_special", "%lld tokens", (long long)n);
    free(a);

    /* BOS/EOS: the SPM file says add_bos, the gpt-2 file says nothing (llama.cpp: no) */
    check(lm_vocab_add_bos(spm) && !lm_vocab_add_eos(spm) && lm_vocab_bos(spm) == 1 && lm_vocab_eos(spm) == 2,
          "spm bos/eos", "add_bos %d bos %d eos %d", lm_vocab_add_bos(spm), lm_vocab_bos(spm), lm_vocab_eos(spm));
    a = tok(spm, "Hello", 5, true, false, &n);
    check(a && n == 2 && a[0] == 1 && a[1] == 15043, "spm add_special", "%lld tokens", (long long)n);
    free(a);
    a = tok(spm, "", 0, true, false, &n);
    check(a && n == 1 && a[0] == 1, "spm empty add_special", "%lld tokens", (long long)n);
    free(a);
    check(!lm_vocab_add_bos(gpt2) && lm_vocab_bos(gpt2) == 50256, "gpt2 bos", "add_bos %d bos %d",
          lm_vocab_add_bos(gpt2), lm_vocab_bos(gpt2));
    a = tok(gpt2, "Hello", 5, true, false, &n);
    check(a && n == 1 && a[0] == 15496, "gpt2 add_special", "%lld tokens", (long long)n);
    free(a);

    /* invalid UTF-8 and NUL bytes: BPE sees U+FFFD per bad byte (as llama.cpp's
     * unicode_cpts_from_utf8), SPM falls back to byte tokens */
    const char bad[] = "a\xff\x00" "b\xe2\x82";
    a = tok(gpt2, bad, sizeof bad - 1, false, false, &n);
    int64_t n2;
    int32_t *b = tok(gpt2, "a\xef\xbf\xbd\x00" "b\xef\xbf\xbd\xef\xbf\xbd", 12, false, false, &n2);
    check(a && b && n == n2 && !memcmp(a, b, (size_t)n * sizeof *a), "bpe invalid utf-8", "%lld vs %lld tokens",
          (long long)n, (long long)n2);
    free(a);
    free(b);
    a = tok(spm, bad, sizeof bad - 1, false, false, &n);
    check(a && n >= 5 && contains(a, n, lm_vocab_find(spm, "<0xFF>")) && contains(a, n, lm_vocab_find(spm, "<0x00>")),
          "spm invalid utf-8", "%lld tokens", (long long)n);
    free(a);

    /* a too-small buffer: the count comes back, nothing past n_max written */
    int32_t two[2] = {-7, -7};
    char err[EM_ERR_LEN];
    int64_t m = lm_tokenize(spm, "Hello world", 11, true, false, two, 1, err);
    check(m == 3 && two[0] == 1 && two[1] == -7, "tokenize n_max", "got %lld", (long long)m);

    /* detokenize: the SPM leading space, llama.cpp's way */
    int32_t seq[] = {1, 15043, 3186};
    char out[64];
    size_t k = lm_detokenize(spm, seq + 1, 2, false, false, out, sizeof out);
    check(k == 11 && !memcmp(out, "Hello world", 11), "spm detok", "'%.*s'", (int)k, out);
    k = lm_detokenize(spm, seq, 3, false, true, out, sizeof out);
    check(k == 15 && !memcmp(out, "<s> Hello world", 15), "spm detok render_special", "'%.*s'", (int)k, out);
    int32_t qs[] = {15496, 5633}; /* "Hello" " ?" -> clean_spaces */
    k = lm_detokenize(gpt2, qs, 2, false, false, out, sizeof out);
    check(k == 6 && !memcmp(out, "Hello?", 6), "gpt2 clean_spaces", "'%.*s'", (int)k, out);
}

/* ---- synthetic vocabularies written with the GGUF writer */

static char tmp_path[256];

static lm_vocab *load_modified(const char *base, void (*edit)(gguf_writer *w, const gguf_ctx *g), char *err,
                               ember_status *st) {
    char e2[EM_ERR_LEN];
    gguf_ctx *g = gguf_open(base, e2);
    gguf_writer *w = gguf_writer_create(e2);
    lm_vocab *v = NULL;
    *st = EM_ERR_INTERNAL;
    snprintf(err, EM_ERR_LEN, "setup failed");
    if (g && w && gguf_writer_copy_kv(w, g) == EM_OK) {
        edit(w, g);
        if (gguf_writer_write(w, tmp_path) == EM_OK) {
            gguf_ctx *g2 = gguf_open(tmp_path, err);
            if (g2) {
                err[0] = 0;
                v = lm_vocab_load(g2, err);
                *st = v ? EM_OK : EM_ERR_FORMAT;
                gguf_close(g2);
            }
        }
    }
    gguf_writer_free(w);
    gguf_close(g);
    unlink(tmp_path);
    return v;
}

static void e_short_types(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    int32_t t[3] = {1, 1, 1};
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, t, 3);
}
static void e_bad_type(gguf_writer *w, const gguf_ctx *g) {
    enum gguf_vtype et;
    uint64_t n;
    const void *d;
    gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &d, NULL);
    int32_t *t = malloc(n * sizeof *t);
    memcpy(t, d, n * sizeof *t);
    t[5] = 42;
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, t, n);
    free(t);
}
static void e_bad_merge(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    const char *m[] = {"Ġ t", "Ġt he", "zzqq_not_a_token xx"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", m, NULL, 3);
}
static void e_merge_no_space(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    const char *m[] = {"Ġt"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", m, NULL, 1);
}
static void e_model_bert(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
}
static void e_pre_unknown(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
}
static void e_bos_range(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 999999);
}
static void e_scores_type(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    const char *s[] = {"a"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.scores", s, NULL, 1);
}
static void e_dup_token(gguf_writer *w, const gguf_ctx *g) {
    uint64_t n = 0;
    enum gguf_vtype et;
    const void *d;
    gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d, NULL);
    const char **t = malloc(n * sizeof *t);
    for (uint64_t i = 0; i < n; i++) t[i] = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, NULL);
    t[100] = t[101];
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", t, NULL, n);
    free(t);
}
static void e_tokens_type(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_u32(w, "tokenizer.ggml.tokens", 7);
}
static void e_pre_smollm(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "smollm");
}
static void e_pre_llama3(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
}
static void e_pre_qwen2(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
}
static void e_pre_default(gguf_writer *w, const gguf_ctx *g) {
    (void)g;
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
}

static void test_bad_files(void) {
    static const struct {
        const char *name, *base;
        void (*edit)(gguf_writer *, const gguf_ctx *);
        const char *want; /* a word the message must hold */
    } cases[] = {
        {"token_type wrong length", NULL, e_short_types, "token_type"},
        {"token_type value 42", SPM, e_bad_type, "token_type[5]"},
        {"merge names unknown token", GPT2, e_bad_merge, "zzqq_not_a_token"},
        {"merge without space", GPT2, e_merge_no_space, "merges[0]"},
        {"model bert", SPM, e_model_bert, "bert"},
        {"unknown pre", GPT2, e_pre_unknown, "no-such-pre"},
        {"bos out of range", SPM, e_bos_range, "999999"},
        {"scores of strings", SPM, e_scores_type, "scores"},
        {"duplicate token", SPM, e_dup_token, "twice"},
        {"tokens not an array", SPM, e_tokens_type, "tokenizer.ggml.tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[EM_ERR_LEN] = "";
        ember_status st;
        lm_vocab *v = load_modified(cases[i].base ? cases[i].base : SPM, cases[i].edit, err, &st);
        check(!v && st != EM_ERR_INTERNAL && strstr(err, cases[i].want) != NULL, cases[i].name,
              "loaded=%d message '%s'", v != NULL, err);
        if (!v) printf("  ok, refused: %s\n", err);
        lm_vocab_free(v);
    }
}

static void test_pre_variants(void) {
    char err[EM_ERR_LEN];
    ember_status st;
    int64_t n;
    /* smollm (= starcoder's regexes): every digit is its own piece */
    lm_vocab *v = load_modified(GPT2, e_pre_smollm, err, &st);
    check(v != NULL, "pre smollm load", "%s", err);
    if (v) {
        int32_t *a = tok(v, "333 x1234", 9, true, false, &n);
        char got[256];
        fmt_ids(got, sizeof got, a, n);
        check(a && !strcmp(got, "18 18 18 2124 16 17 18 19"), "pre smollm digits", "got [%s]", got);
        check(!lm_vocab_add_bos(v), "pre smollm bos", "add_bos");
        free(a);
        lm_vocab_free(v);
    }
    /* llama-bpe: digits in threes; BOS added by default */
    v = load_modified(GPT2, e_pre_llama3, err, &st);
    check(v != NULL, "pre llama-bpe load", "%s", err);
    if (v) {
        int32_t *a = tok(v, "33333", 5, false, false, &n);
        check(a && n == 2 && a[0] == 20370 && a[1] == 2091, "pre llama-bpe digits", "%lld tokens [%d %d]",
              (long long)n, a && n > 0 ? a[0] : -1, a && n > 1 ? a[1] : -1);
        check(lm_vocab_add_bos(v), "pre llama-bpe bos", "add_bos not set");
        free(a);
        lm_vocab_free(v);
    }
    /* qwen2: single digits, and newlines kept apart from the word before */
    v = load_modified(GPT2, e_pre_qwen2, err, &st);
    check(v != NULL, "pre qwen2 load", "%s", err);
    if (v) {
        int32_t *a = tok(v, "12", 2, false, false, &n);
        check(a && n == 2 && a[0] == 16 && a[1] == 17, "pre qwen2 digits", "%lld tokens", (long long)n);
        free(a);
        lm_vocab_free(v);
    }
    /* default: punctuation runs split first */
    v = load_modified(GPT2, e_pre_default, err, &st);
    check(v != NULL, "pre default load", "%s", err);
    if (v) {
        int32_t *a = tok(v, "Hello world", 11, false, false, &n);
        check(a && n == 2 && a[0] == 15496 && a[1] == 995, "pre default", "%lld tokens", (long long)n);
        free(a);
        lm_vocab_free(v);
    }
}

/* Random bytes (fixed seed) through both tokenizers and back: no crash, and
 * the streaming detokenizer emits only valid UTF-8 (ASan/UBSan builds check
 * the memory side). */
static void test_random(const lm_vocab *gpt2, const lm_vocab *spm) {
    uint32_t x = 12345;
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        char s[96];
        size_t n = 0, len = (x >> 7) % sizeof s;
        for (; n < len; n++) {
            x = x * 1103515245u + 12345u;
            uint32_t r = x >> 16;
            /* mostly text-like bytes, some high bytes, some special-token text */
            s[n] = r % 7 == 0 ? (char)(0x80 | (r & 0x7F)) : r % 11 == 0 ? '<' : (char)(' ' + r % 95);
        }
        const lm_vocab *v = it & 1 ? gpt2 : spm;
        int64_t k;
        int32_t *ids = tok(v, s, n, true, it & 2, &k);
        if (!ids) {
            bad++;
            continue;
        }
        lm_detok d;
        char out[256];
        lm_detok_init(&d, v, true);
        for (int64_t i = 0; i < k; i++) bad += !valid_utf8(out, lm_detok_push(&d, ids[i], out, sizeof out));
        bad += !valid_utf8(out, lm_detok_flush(&d, out, sizeof out));
        free(ids);
    }
    check(bad == 0, "random bytes", "%d failures", bad);
}

int main(void) {
    const char *dir = getenv("TMPDIR");
    find_vocab_dir();
    snprintf(tmp_path, sizeof tmp_path, "%s/ember_test_vocab_%d.gguf", dir ? dir : "/tmp", (int)getpid());
    test_vectors(GPT2, true);
    test_vectors(SPM, false);
    lm_vocab *gpt2 = load(GPT2), *spm = load(SPM);
    if (gpt2 && spm) {
        test_stream(gpt2, spm);
        test_special(gpt2, spm);
        test_random(gpt2, spm);
    } else {
        check(0, "load", "test vocabularies missing");
    }
    lm_vocab_free(gpt2);
    lm_vocab_free(spm);
    test_bad_files();
    test_pre_variants();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
