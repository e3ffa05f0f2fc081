/* cmd_tokenize.c - `ember tokenize`: print the token ids of a text, as
 * llama.cpp's tokenizer gives them. Reads only the vocabulary, so a
 * vocabulary-only GGUF (no tensors) works. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "opt.h"
#include "core/gguf.h"
#include "lm/vocab.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember tokenize -m FILE.gguf (-p TEXT | -f FILE) [options]\n"
            "\n"
            "Prints the token ids of TEXT space-separated on one line.\n"
            "\n");
    opt_usage(f, specs);
}

int ember_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool no_bos = false, parse_special = false, pieces = false;
    const opt_spec specs[] = {
        OPT_STR("-m", "--model", "FILE", &model, "GGUF file with a tokenizer.ggml vocabulary"),
        OPT_STR("-p", "--prompt", "TEXT", &prompt, "the text to tokenize"),
        OPT_STR("-f", "--file", "FILE", &file, "read the text from FILE (bytes as they are)"),
        OPT_FLAG(NULL, "--no-bos", &no_bos, "do not add BOS/EOS even if the vocabulary says so"),
        OPT_FLAG(NULL, "--parse-special", &parse_special, "match special tokens (<|im_start|>, ...) in the text"),
        OPT_FLAG(NULL, "--pieces", &pieces, "print one token per line: id and its piece"),
        OPT_END};
    char perr[OPT_ERR_LEN];
    int prc = opt_parse("ember tokenize", specs, argc, argv, NULL, 0, NULL, perr);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    if (!model || (!prompt == !file)) {
        fprintf(stderr, "ember tokenize: %s\n", !model ? "-m FILE.gguf is required" : "give exactly one of -p TEXT and -f FILE");
        usage(stderr, specs);
        return 2;
    }

    char err[EM_ERR_LEN] = "";
    int rc = 1;
    gguf_ctx *g = NULL;
    lm_vocab *v = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t len;
    if (file) {
        text = cli_read_file("ember tokenize", file, &len, err);
        if (!text) goto out;
    } else {
        len = strlen(prompt);
    }
    g = gguf_open(model, err);
    if (!g) goto out;
    v = lm_vocab_load(g, err);
    if (!v) {
        fprintf(stderr, "ember tokenize: %s: %s\n", model, err);
        err[0] = 0;
        goto out;
    }
    const char *t = text ? text : prompt;
    int64_t n = cli_tokenize(v, t, len, !no_bos, parse_special, &ids, err);
    if (n < 0) goto out;
    for (int64_t i = 0; i < n; i++) {
        if (pieces) {
            char buf[1024];
            int k = lm_token_to_piece(v, ids[i], true, buf, sizeof buf);
            printf("%d\t'%.*s'\n", ids[i], k < (int)sizeof buf ? k : (int)sizeof buf, buf);
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!pieces) printf("\n");
    rc = fflush(stdout) ? 1 : 0;
    if (rc) snprintf(err, sizeof err, "ember tokenize: writing stdout: %s", strerror(errno));
out:
    if (rc && err[0]) fprintf(stderr, "%s\n", err);
    free(ids);
    free(text);
    lm_vocab_free(v);
    gguf_close(g);
    return rc;
}
