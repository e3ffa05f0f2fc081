/* plan_grammar_peer.c - the plan grammars (agent/plan_text.h) held to
 * llama.cpp's own GBNF parser and matcher: llama.cpp must parse each
 * grammar and accept exactly the texts Ember's plan parser accepts.
 *
 * Usage: plan_grammar_peer DIR, where DIR holds what test_plan_text writes
 * with EMBER_PLAN_DUMP=DIR: per registry LABEL.gbnf and LABEL.cases (the
 * parser's verdict "1"/"0", a tab, the text with \n, \\ and \xHH escapes).
 * tests/plan_grammar_peer.sh runs the two.
 *
 * The peer is the libllama that node-llama-cpp ships (bench/peer, installed
 * by scripts/setup.sh), or EMBER_LLAMA_LIB. Its grammar functions are C++
 * and not in llama.h's C API, so they are found by their mangled names with
 * dlsym, the way llama.cpp's own tests/test-grammar-integration.cpp calls
 * them (init without a vocabulary, accept code point by code point; a text
 * is accepted when a stack is empty at its end). The stacks are a
 * std::vector of std::vector: in libstdc++ each is three pointers (begin,
 * end, end of storage), which is all this reads. No peer or other symbols:
 * exit 77 (skipped). */
#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vec { void *begin, *end, *cap; } vec; /* libstdc++'s std::vector<T> */

typedef void *(*init_fn)(const void *vocab, const char *grammar, const char *root, _Bool lazy, const char **patterns,
                         size_t n_patterns, const int32_t *tokens, size_t n_tokens);
typedef void (*free_fn)(void *g);
typedef void *(*clone_fn)(const void *g);
typedef void (*accept_fn)(void *g, uint32_t chr);
typedef vec *(*stacks_fn)(void *g);

typedef struct peer {
    init_fn init;
    free_fn free_;
    clone_fn clone;
    accept_fn accept;
    stacks_fn stacks;
} peer;

static void *open_peer(void) {
    const char *env = getenv("EMBER_LLAMA_LIB");
    if (env && *env) return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    glob_t g;
    void *h = NULL;
    if (glob("bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v*.so", 0, NULL, &g) == 0) {
        if (g.gl_pathc) h = dlopen(g.gl_pathv[0], RTLD_NOW | RTLD_LOCAL);
        globfree(&g);
    }
    return h;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more, cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = 0, *len = n;
    return buf;
}

/* Does the grammar g (not changed) accept the len bytes of s as a whole? */
static int peer_accepts(const peer *p, const void *g, const char *s, size_t len) {
    void *c = p->clone(g);
    vec *stacks = p->stacks(c);
    int ok = 1;
    for (size_t i = 0; i < len && ok;) {
        /* UTF-8 to code points (the test texts are valid UTF-8; a stray
         * byte stands for itself, which every grammar here refuses alike) */
        unsigned char ch = (unsigned char)s[i];
        int n = ch >= 0xF0 ? 3 : ch >= 0xE0 ? 2 : ch >= 0xC0 ? 1 : 0;
        uint32_t cp = n ? ch & (0x3Fu >> n) : ch;
        i++;
        for (; n > 0 && i < len && ((unsigned char)s[i] >> 6) == 2; n--, i++) cp = (cp << 6) | ((unsigned char)s[i] & 0x3F);
        if (cp == 0) ok = 0;
        else p->accept(c, cp);
        if (stacks->begin == stacks->end) ok = 0;
    }
    if (ok) {
        ok = 0;
        for (vec *st = stacks->begin; st < (vec *)stacks->end; st++)
            if (st->begin == st->end) ok = 1;
    }
    p->free_(c);
    return ok;
}

/* One registry's grammar and cases; returns the disagreements. */
static int check_one(const peer *p, const char *base) {
    char path[1100];
    size_t len;
    snprintf(path, sizeof path, "%s.gbnf", base);
    char *gbnf = slurp(path, &len);
    if (!gbnf) return fprintf(stderr, "%s: cannot read\n", path), 1;
    void *g = p->init(NULL, gbnf, "root", 0, NULL, 0, NULL, 0);
    free(gbnf);
    if (!g) return fprintf(stderr, "%s: llama.cpp refuses the grammar\n", path), 1;
    snprintf(path, sizeof path, "%s.cases", base);
    char *cases = slurp(path, &len);
    if (!cases) {
        p->free_(g);
        return fprintf(stderr, "%s: cannot read\n", path), 1;
    }
    int n = 0, bad = 0, n_ok = 0;
    char *text = malloc(len + 1);
    for (char *line = cases, *next; text && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        int want = line[0] == '1';
        size_t k = 0;
        for (const char *c = line + 2; *c; c++) {
            if (*c != '\\') {
                text[k++] = *c;
                continue;
            }
            c++;
            if (*c == 'n') text[k++] = '\n';
            else if (*c == 't') text[k++] = '\t';
            else if (*c == 'r') text[k++] = '\r';
            else if (*c == '\\') text[k++] = '\\';
            else if (*c == 'x' && c[1] && c[2]) {
                char hex[3] = {c[1], c[2], 0};
                text[k++] = (char)strtol(hex, NULL, 16);
                c += 2;
            }
            else if (*c) { /* not an escape: the backslash and the character */
                text[k++] = '\\';
                text[k++] = *c;
            } else {
                text[k++] = '\\';
                break;
            }
        }
        int got = peer_accepts(p, g, text, k);
        n++, n_ok += got;
        if (got != want) {
            if (bad < 5) fprintf(stderr, "%s: llama.cpp %s, Ember %s: %s\n", base, got ? "accepts" : "refuses",
                                 want ? "accepts" : "refuses", line + 2);
            bad++;
        }
    }
    printf("%s: %d texts (%d accepted), %d disagreements with llama.cpp\n", base, n, n_ok, bad);
    free(text);
    free(cases);
    p->free_(g);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: plan_grammar_peer DIR (from EMBER_PLAN_DUMP=DIR test_plan_text)\n"), 2;
    void *h = open_peer();
    if (!h) {
        printf("skipped: no llama.cpp library (run scripts/setup.sh, or set EMBER_LLAMA_LIB)\n");
        return 77;
    }
    peer p;
    /* POSIX: a dlsym result converts to a function pointer */
    *(void **)&p.init = dlsym(h, "_Z23llama_grammar_init_implPK11llama_vocabPKcS3_bPS3_mPKim");
    *(void **)&p.free_ = dlsym(h, "_Z23llama_grammar_free_implP13llama_grammar");
    *(void **)&p.clone = dlsym(h, "_Z24llama_grammar_clone_implRK13llama_grammar");
    *(void **)&p.accept = dlsym(h, "_Z20llama_grammar_acceptP13llama_grammarj");
    *(void **)&p.stacks = dlsym(h, "_Z24llama_grammar_get_stacksP13llama_grammar");
    if (!p.init || !p.free_ || !p.clone || !p.accept || !p.stacks) {
        printf("skipped: this llama.cpp library lacks the grammar functions this check calls\n");
        return 77;
    }
    DIR *d = opendir(argv[1]);
    if (!d) return fprintf(stderr, "plan_grammar_peer: %s: cannot open\n", argv[1]), 1;
    int bad = 0, n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t k = strlen(e->d_name);
        if (k < 6 || strcmp(e->d_name + k - 5, ".gbnf")) continue;
        char base[1024];
        snprintf(base, sizeof base, "%s/%.*s", argv[1], (int)(k - 5), e->d_name);
        bad += check_one(&p, base);
        n++;
    }
    closedir(d);
    if (!n) return fprintf(stderr, "plan_grammar_peer: no grammars in %s\n", argv[1]), 1;
    printf("%d grammars, %d disagreements\n", n, bad);
    return bad ? 1 : 0;
}
