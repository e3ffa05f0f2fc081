/* cli_util.c - see cli_util.h. */
#include "cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_read_file(const char *cmd, const char *path, size_t *n, char *err) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    if (!f) {
        em_err(err, EM_ERR_IO, "%s: %s: %s", cmd, path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len + 1 >= cap) { /* room for the NUL */
            cap = cap ? 2 * cap : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) {
                em_err(err, EM_ERR_NOMEM, "%s: %s: out of memory", cmd, path);
                goto fail;
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
        if (k == 0) break;
    }
    if (ferror(f)) {
        em_err(err, EM_ERR_IO, "%s: %s: read error", cmd, path);
        goto fail;
    }
    fclose(f);
    buf[len] = 0;
    *n = len;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

int64_t cli_tokenize(const lm_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                     int32_t **out, char *err) {
    int64_t n = lm_tokenize(v, text, len, add_special, parse_special, NULL, 0, err);
    if (n < 0) return n;
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) return em_err(err, EM_ERR_NOMEM, "tokenize: %lld tokens: out of memory", (long long)n);
    n = lm_tokenize(v, text, len, add_special, parse_special, ids, n, err);
    if (n < 0) {
        free(ids);
        return n;
    }
    *out = ids;
    return n;
}
