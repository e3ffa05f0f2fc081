/* fuzz_gbnf.c - fuzz target of the GBNF parser and matcher (lm/gbnf_parse.c,
 * lm/grammar.c).
 *
 * An input is a grammar, optionally followed by a NUL byte and a text. The
 * grammar must parse or fail with "grammar: line L, column C: ..." (or
 * out of memory); a grammar that parses is matched against the text (and
 * against each of its prefixes, by feeding it byte by byte), which must
 * never crash or loop, and for valid UTF-8 must not give a verdict that
 * depends on how the text was fed: whole and byte by byte must agree. A
 * broken property abort()s.
 *
 * Built with clang -fsanitize=fuzzer where it exists, else with
 * tests/fuzz/fuzz_driver.c (see tests/fuzz/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/grammar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strictly valid UTF-8: only then must the verdict not depend on where the
 * text is cut (llama.cpp checks continuation bytes only across a cut, so
 * an invalid sequence can pass whole and fail in pieces, there and here). */
static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = s[i] < 0x80 ? 0 : s[i] >= 0xC2 && s[i] < 0xE0 ? 1 : s[i] >= 0xE0 && s[i] < 0xF0 ? 2 : s[i] >= 0xF0 && s[i] < 0xF5 ? 3 : -1;
        if (k < 0 || i + (size_t)k >= n + (k ? 0 : 1)) return 0;
        for (int j = 1; j <= k; j++)
            if (i + (size_t)j >= n || (s[i + j] >> 6) != 2) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *in = (const char *)data;
    const char *nul = memchr(in, 0, size);
    size_t glen = nul ? (size_t)(nul - in) : size;
    const char *text = nul ? nul + 1 : "";
    size_t tlen = nul ? size - glen - 1 : 0;
    if (tlen > 256) tlen = 256; /* ambiguous grammars grow per byte: keep each run short */
    char err[EM_ERR_LEN] = "";
    lm_grammar *g = lm_grammar_parse(in, glen, err);
    if (!g) {
        if (strncmp(err, "grammar: line ", 14) && strcmp(err, "grammar: out of memory")) {
            fprintf(stderr, "fuzz_gbnf: an error without its place: %s\n", err);
            abort();
        }
        return 0;
    }
    lm_grammar_matcher *m = lm_grammar_matcher_create(g, NULL, err);
    if (m) {
        /* byte by byte: the same verdict as all at once */
        int ok = 1;
        for (size_t i = 0; i < tlen && ok; i++) ok = lm_grammar_matcher_accept_text(m, text + i, 1, err) == EM_OK;
        const int bytewise = ok && lm_grammar_matcher_can_end(m);
        lm_grammar_matcher_reset(m);
        const int whole = lm_grammar_matcher_accept_text(m, text, tlen, err) == EM_OK && lm_grammar_matcher_can_end(m);
        if (bytewise != whole && valid_utf8((const unsigned char *)text, tlen)) {
            fprintf(stderr, "fuzz_gbnf: byte by byte %d, whole %d\n", bytewise, whole);
            abort();
        }
        if (lm_grammar_matcher_complete(m) && !lm_grammar_matcher_can_end(m)) abort();
        lm_grammar_matcher_free(m);
    }
    lm_grammar_free(g);
    return 0;
}
