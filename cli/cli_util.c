/* cli_util.c - see cli_util.h. */
#include "cli_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/backend_open.h"
#include "opt.h"

char *cli_read_file(const char *cmd, const char *path, size_t *n, char *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        em_err(err, EM_ERR_IO, "%s: %s: is a directory, not a file", cmd, path);
        return NULL;
    }
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

/* ---- backend choice */

static void on_upload(void *user, size_t done) {
    cli_progress *p = user;
    int pct = p->total ? (int)(100.0 * (double)done / (double)p->total) : 0;
    if (pct > 100) pct = 100;
    if (pct / 10 != p->last_pct / 10) {
        fprintf(stderr, "\rember: uploading weights to the GPU: %3d%%", pct);
        if (pct == 100) fputc('\n', stderr);
        fflush(stderr);
        p->last_pct = pct;
    }
}

em_backend *cli_backend_open(const char *kind, int device, int threads, const char *model_path, bool quiet,
                             cli_progress *prog, char *desc, size_t desc_len, char *err) {
    /* Progress only where an upload takes a noticeable time (>= 256 MiB). */
    struct stat sb;
    prog->total = model_path && stat(model_path, &sb) == 0 ? (size_t)sb.st_size : 0;
    prog->last_pct = -10;
    const bool show = !quiet && prog->total >= (256u << 20);
    em_backend_spec spec = {.kind = kind, .device = device, .threads = threads,
                            .progress = show ? on_upload : NULL, .progress_user = prog};
    em_backend_report rep;
    char oerr[EM_ERR_LEN];
    em_backend *be = em_backend_open(&spec, &rep, oerr);
    if (!be) {
        /* The library says what is missing; the flags to do without it are
         * the command line's to add. */
        if (rep.vulkan_status == EM_ERR_UNSUPPORTED)
            em_err(err, EM_ERR_UNSUPPORTED, "--backend %s: %s (use --backend cpu)", kind, oerr);
        else if (rep.vulkan_status == EM_ERR_ARG)
            em_err(err, EM_ERR_ARG, "--backend %s: %s (see `ember devices`)", kind, oerr);
        else if (rep.vulkan_status != EM_OK)
            em_err(err, rep.vulkan_status, "--backend %s: %s", kind, oerr);
        else
            snprintf(err, EM_ERR_LEN, "%s", oerr);
        return NULL;
    }
    if (rep.vulkan_status != EM_OK && !quiet)
        fprintf(stderr, "ember: no Vulkan GPU (%s); running on the CPU\n", rep.vulkan_err);
    snprintf(desc, desc_len, "%s", rep.desc);
    return be;
}

int cli_write_stdout(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

char *cli_read_prompt(const char *cmd, const char *path, size_t *n, char *err) {
    char *text = cli_read_file(cmd, path, n, err);
    const char *nul = text ? memchr(text, 0, *n) : NULL;
    if (nul) {
        em_err(err, EM_ERR_FORMAT, "%s: %s: a NUL byte at offset %zu: a prompt is text", cmd, path, (size_t)(nul - text));
        free(text);
        return NULL;
    }
    return text;
}

void cli_block_stop_signals(void) {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
}

int cli_stop_requested(void) {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
}
