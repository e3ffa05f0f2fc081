/* test_grammar.c - the GBNF engine (lm/grammar.h):
 *  - parse errors name the line and column; every syntax feature accepts and
 *    refuses what llama.cpp's README says;
 *  - llama.cpp's example grammars (its grammars/NAME.gbnf, shipped with the peer
 *    in bench/peer) all parse;
 *  - the mask (trie walk, cached per state) equals the slow answer (each
 *    token's text fed alone) over the whole GPT-2 vocabulary, along random
 *    walks, for a plan grammar, json, arithmetic, a UTF-8 grammar, chess;
 *  - a random walk over allowed tokens yields text the grammar accepts.
 *
 *   test_grammar [GRAMMARS_DIR]   (default bench/peer/node_modules/node-llama-cpp/llama/grammars) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "lm/grammar.h"
#include "lm/vocab.h"
#include "check.h"

static lm_grammar *parse(const char *text, char *err) { return lm_grammar_parse(text, strlen(text), err); }

static int accepts(const char *grammar, const char *text) {
    char err[EM_ERR_LEN];
    lm_grammar *g = parse(grammar, err);
    if (!g) {
        fprintf(stderr, "FAIL: grammar does not parse: %s\n%s\n", err, grammar);
        return -1;
    }
    int ok = lm_grammar_accepts(g, text, strlen(text));
    lm_grammar_free(g);
    return ok;
}

static void t_syntax(void) {
    struct { const char *g, *yes[4], *no[4]; } cases[] = {
        {"root ::= \"ab\" | \"c\"", {"ab", "c"}, {"", "a", "abc", "b"}},
        {"root ::= [a-c]+ [^a-c]", {"ax", "abcz"}, {"a", "xx", "ab"}},
        {"root ::= \"x\"? \"y\"* \"z\"+", {"z", "xz", "yyzz", "xyzzz"}, {"", "xy", "xxz"}},
        {"root ::= \"a\"{2} \"b\"{1,3} \"c\"{2,}", {"aabcc", "aabbbccc"}, {"abcc", "aabbbbcc", "aabc"}},
        {"root ::= (\"ab\" | \"c\")* .", {"x", "abcc!", "é", "abcc"}, {"", "ab", "abab"}},
        {"root ::= item (\",\" item)*\nitem ::= [0-9]+ # digits\n", {"1", "12,3,456"}, {"", "1,", ",1"}},
        {"root ::= \"\\x41\\u00e9\\n\\t\\\\\\\"\"", {"A\xc3\xa9\n\t\\\""}, {"A"}},
        {"root ::= [\\u0100-\\U0010FFFF]", {"\xc4\x80", "\xf0\x9f\x98\x80"}, {"a", "\xc3\xbf"}},
        {"root ::= (\n  \"a\" |\n  \"b\"\n)", {"a", "b"}, {"ab"}},
        {"root ::= \"a\" |\n  \"b\"", {"a", "b"}, {""}},
        {"root ::= x{0,3} \"!\"\nx ::= \"ab\"", {"!", "ababab!"}, {"abababab!", "ab"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 4 && cases[i].yes[k]; k++)
            CHECK(accepts(cases[i].g, cases[i].yes[k]) == 1, "grammar %zu accepts \"%s\"", i, cases[i].yes[k]);
        for (int k = 0; k < 4 && cases[i].no[k]; k++)
            CHECK(accepts(cases[i].g, cases[i].no[k]) == 0, "grammar %zu refuses \"%s\"", i, cases[i].no[k]);
    }
}

static void t_errors(void) {
    struct { const char *g, *want; } bad[] = {
        {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
        {"item ::= \"a\"", "no rule named 'root'"},
        {"root ::= \"a\"\nx ::= \"b\n", "line 2, column 7: unterminated string"},
        {"root ::= [a-", "unexpected end"},
        {"root ::= \"a\" \\q", "line 1, column 14: expecting a newline or the end"},
        {"root ::= \"\\q\"", "line 1, column 11: unknown escape"},
        {"root ::= \"\\x4\"", "expecting 2 hex digits"},
        {"root := \"a\"", "line 1, column 6: expecting ::="},
        {"root ::= (\"a\"", "expecting ')'"},
        {"root ::= * \"a\"", "needs an item"},
        {"root ::= \"a\"{3,1}", "below the minimum"},
        {"root ::= \"a\"{2001}", "more than 2000"},
        {"root ::= \"a\"{1", "expecting ',' or '}'"},
        {"root ::= x\nx ::= x \"a\" | \"b\"", "is left-recursive"},
        {"root ::= y \"a\"\ny ::= \"\" | root", "left-recursive"},
        {"::= \"a\"", "line 1, column 1: expecting a rule name"},
    };
    char err[EM_ERR_LEN];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lm_grammar *g = parse(bad[i].g, err);
        CHECK(!g && strstr(err, bad[i].want), "bad grammar %zu: want \"%s\", got \"%s\"", i, bad[i].want, g ? "(parsed)" : err);
        lm_grammar_free(g);
    }
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0, *len = (size_t)n;
    return b;
}

/* xorshift, for the walks */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Random walks: at each step the cached mask must equal the slow answer,
 * then an allowed token is taken at random. Returns steps checked. */
static int walks(const char *name, const lm_grammar *g, const lm_grammar_vocab *gv, const lm_vocab *v, int n_walks,
                 int max_steps, int slow_every) {
    char err[EM_ERR_LEN];
    const int n = lm_vocab_n_tokens(v);
    uint8_t *fast = malloc((size_t)n), *slow = malloc((size_t)n);
    lm_grammar_matcher *m = lm_grammar_matcher_create(g, gv, err), *ref = lm_grammar_matcher_create(g, NULL, err);
    CHECK(m && ref && fast && slow, "%s: matcher: %s", name, err);
    if (!m || !ref || !fast || !slow) return 0;
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)strlen(name);
    int checked = 0;
    char *text = malloc(1 << 16);
    for (int w = 0; w < n_walks && text; w++) {
        lm_grammar_matcher_reset(m);
        size_t tl = 0;
        for (int s = 0; s < max_steps && !lm_grammar_matcher_complete(m); s++) {
            CHECK(lm_grammar_matcher_mask(m, fast, n, err) == EM_OK, "%s: mask: %s", name, err);
            if (s % slow_every == 0) {
                /* the slow answer: the text so far, then each token alone */
                lm_grammar_matcher_reset(ref);
                CHECK(lm_grammar_matcher_accept_text(ref, text, tl, err) == EM_OK, "%s: ref: %s", name, err);
                lm_grammar_pos at = lm_grammar_matcher_tell(ref);
                int diff = 0;
                for (int t = 0; t < n; t++) {
                    char piece[512];
                    int len = lm_token_to_piece(v, t, true, piece, sizeof piece);
                    int ok;
                    if (lm_vocab_is_eog(v, t)) ok = lm_grammar_matcher_can_end(ref);
                    else {
                        len = len > 0 ? (int)strnlen(piece, (size_t)len) : 0;
                        lm_grammar_matcher_seek(ref, at);
                        ok = len > 0 && lm_grammar_matcher_accept_text(ref, piece, (size_t)len, err) == EM_OK &&
                             lm_grammar_matcher_viable(ref);
                    }
                    if (ok != fast[t] && diff++ < 3)
                        fprintf(stderr, "FAIL: %s walk %d step %d: token %d \"%.*s\": mask %d, slow %d\n", name, w, s, t,
                                len > 0 ? len : 0, piece, fast[t], ok);
                }
                lm_grammar_matcher_seek(ref, at);
                CHECK(!diff, "%s: %d tokens differ between the mask and the slow answer", name, diff);
                checked++;
            }
            int n_ok = 0;
            for (int t = 0; t < n; t++) n_ok += fast[t];
            CHECK(n_ok > 0, "%s: walk %d step %d: nothing allowed", name, w, s);
            if (!n_ok) break;
            int pick = (int)(rnd(&seed) % (uint64_t)n_ok), tok = 0;
            for (int t = 0; t < n; t++)
                if (fast[t] && pick-- == 0) { tok = t; break; }
            if (lm_vocab_is_eog(v, tok)) break;
            CHECK(lm_grammar_matcher_accept(m, tok, err) == EM_OK, "%s: accept: %s", name, err);
            int len = lm_token_to_piece(v, tok, true, text + tl, 512);
            tl += len > 0 ? strnlen(text + tl, (size_t)len) : 0;
            if (tl > (1 << 16) - 1024) break;
        }
        if (lm_grammar_matcher_can_end(m)) /* a finished walk: its text is in the language */
            CHECK(lm_grammar_accepts(g, text, tl), "%s: walk %d's text is not accepted: %.*s", name, w, (int)tl, text);
    }
    lm_grammar_stats st;
    lm_grammar_matcher_stats(m, &st);
    printf("%s: %d mask checks against the slow answer; %llu masks, %llu from the cache, %llu states\n", name, checked,
           (unsigned long long)st.masks, (unsigned long long)st.mask_hits, (unsigned long long)st.states);
    free(text);
    free(fast);
    free(slow);
    lm_grammar_matcher_free(m);
    lm_grammar_matcher_free(ref);
    return checked;
}

static const char PLAN[] =
    "root ::= step{1,8} \"\\n\"\n"
    "step ::= ( pick | place | place-at | home ) \"\\n\"\n"
    "pick ::= \"pick(object=\" obj \")\"\n"
    "obj ::= \"\\\"red_cube\\\"\" | \"\\\"blue_prism\\\"\" | \"\\\"k7_block\\\"\"\n"
    "place ::= \"place(target=\" ( obj | \"\\\"red_bowl\\\"\" ) \")\"\n"
    "place-at ::= \"place_at(x=\" num \", y=\" num \")\"\n"
    "num ::= \"-\"? ( [1-9] [0-9]? | \"0\" ) \".\" [0-9] [0-9]\n"
    "home ::= \"home()\"\n";

static const char UTF8[] = "root ::= ( [a-z] | [\\u00e0-\\u00ff] | [\\u4e00-\\u9fff] | \"\\U0001F600\" | \" \" )+ \".\"\n";

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "bench/peer/node_modules/node-llama-cpp/llama/grammars";
    t_syntax();
    t_errors();
    char err[EM_ERR_LEN];
    /* llama.cpp's example grammars */
    const char *examples[] = {"json", "json_arr", "arithmetic", "list", "chess", "c", "english", "japanese"};
    char *ex_text[8] = {0};
    int n_examples = 0;
    for (int i = 0; i < 8; i++) {
        char path[1024];
        size_t len;
        snprintf(path, sizeof path, "%s/%s.gbnf", dir, examples[i]);
        if (!(ex_text[i] = slurp(path, &len))) continue;
        lm_grammar *g = lm_grammar_parse(ex_text[i], len, err);
        CHECK(g, "%s: llama.cpp's example does not parse: %s", path, err);
        if (g) printf("%s.gbnf: %d rules\n", examples[i], lm_grammar_n_rules(g)), n_examples++;
        lm_grammar_free(g);
    }
    CHECK(n_examples == 8, "llama.cpp's example grammars in %s: %d of 8 found (run scripts/setup.sh)", dir, n_examples);

    /* masks over the GPT-2 vocabulary */
    gguf_ctx *gg = gguf_open("../shared/vocab/ggml-vocab-gpt-2.gguf", err);
    lm_vocab *v = gg ? lm_vocab_load(gg, err) : NULL;
    lm_grammar_vocab *gv = v ? lm_grammar_vocab_create(v, err) : NULL;
    CHECK(gv, "the GPT-2 vocabulary: %s", err);
    if (gv) {
        struct { const char *name, *text; int walks, steps, every; } gs[] = {
            {"plan", PLAN, 6, 80, 4},
            {"utf8", UTF8, 4, 30, 3},
            {"json", ex_text[0], 4, 40, 8},
            {"arithmetic", ex_text[2], 4, 30, 6},
            {"chess", ex_text[4], 2, 30, 10},
        };
        for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
            if (!gs[i].text) continue;
            lm_grammar *g = parse(gs[i].text, err);
            CHECK(g, "%s: %s", gs[i].name, err);
            if (g) walks(gs[i].name, g, gv, v, gs[i].walks, gs[i].steps, gs[i].every);
            lm_grammar_free(g);
        }
    }
    lm_grammar_vocab_free(gv);
    lm_vocab_free(v);
    gguf_close(gg);
    for (int i = 0; i < 8; i++) free(ex_text[i]);
    return CHECK_DONE();
}
