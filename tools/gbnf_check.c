/* gbnf_check.c - Ember's verdicts on texts under a GBNF grammar, in the
 * .cases form tests/plan_grammar_peer.c holds llama.cpp to:
 *
 *   gbnf_check GRAMMAR.gbnf < TEXTS > CASES
 *
 * TEXTS: one text per line, with the escapes \n \t \r \\ and \xHH (so a
 * text can hold newlines and any byte); a backslash before anything else
 * is itself. CASES: per text "1" (the grammar
 * accepts the whole text and may end after it) or "0", a tab, the text as
 * given; an empty line is the empty text. A grammar that does not parse is exit 1 with the parser's message
 * (line and column). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm/grammar.h"

static char *slurp(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            return NULL;
        }
        buf = more, cap *= 2;
    }
    if (buf) buf[n] = 0, *len = n;
    return buf;
}

static size_t unescape(const char *in, char *out) {
    size_t k = 0;
    for (const char *c = in; *c; c++) {
        if (*c != '\\' || !c[1]) {
            out[k++] = *c;
            continue;
        }
        c++;
        if (*c == 'n') out[k++] = '\n';
        else if (*c == 't') out[k++] = '\t';
        else if (*c == 'r') out[k++] = '\r';
        else if (*c == '\\') out[k++] = '\\';
        else if (*c == 'x' && c[1] && c[2]) {
            char hex[3] = {c[1], c[2], 0};
            out[k++] = (char)strtol(hex, NULL, 16);
            c += 2;
        } else { /* not an escape: the backslash and the character */
            out[k++] = '\\';
            out[k++] = *c;
        }
    }
    return k;
}

int main(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: gbnf_check GRAMMAR.gbnf < TEXTS > CASES (see the source's header)\n");
        return argc == 2 ? 0 : 2;
    }
    FILE *f = fopen(argv[1], "rb");
    size_t len = 0, tlen = 0;
    char *gbnf = f ? slurp(f, &len) : NULL;
    if (f) fclose(f);
    if (!gbnf) return fprintf(stderr, "gbnf_check: cannot read %s\n", argv[1]), 1;
    char err[EM_ERR_LEN];
    lm_grammar *g = lm_grammar_parse(gbnf, len, err);
    free(gbnf);
    if (!g) return fprintf(stderr, "gbnf_check: %s: %s\n", argv[1], err), 1;
    char *texts = slurp(stdin, &tlen), *buf = texts ? malloc(tlen + 1) : NULL;
    if (!buf) return fprintf(stderr, "gbnf_check: out of memory\n"), 1;
    /* every line is a text, an empty one the empty text; the last newline ends the last line */
    for (char *line = texts, *next; line && line < texts + tlen; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t k = unescape(line, buf);
        printf("%d\t%s\n", lm_grammar_accepts(g, buf, k) ? 1 : 0, line);
    }
    free(buf);
    free(texts);
    lm_grammar_free(g);
    return 0;
}
