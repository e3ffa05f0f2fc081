/* cmd_info.c - `ember info FILE.gguf`: print a GGUF file's header, every
 * key/value and every tensor, then the type mix (tensors, bytes and bits per
 * weight by type), as a user checks what a downloaded file is made of.
 *
 * Long values are shortened so a vocabulary of 250k tokens prints in a few
 * lines: strings at MAX_STR bytes, arrays at their first MAX_ELEMS elements
 * (--full prints everything). Strings are quoted and escaped C-style; UTF-8
 * passes through so tokens like "▁the" read as they are. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opt.h"
#include "core/gguf.h"

#define MAX_STR 120
#define MAX_ELEMS 8

#define STR_(x) #x
#define STR(x) STR_(x)

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember info [--full] FILE.gguf\n"
            "\n"
            "Print a GGUF file's version, alignment, every key with its type and value,\n"
            "every tensor (name, type, shape, offset, bytes), the file type (general.file_type)\n"
            "and the type mix: tensors, bytes, weights and bits per weight of each type.\n"
            "\n");
    opt_usage(f, specs);
}

static void print_str(const char *s, size_t len, bool full) {
    size_t n = full || len <= MAX_STR ? len : MAX_STR;
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
            else putchar(c);
        }
    }
    putchar('"');
    if (n < len) printf("...(%zu bytes)", len);
}

static void print_elem(enum gguf_vtype t, const void *base, uint64_t i) {
    const unsigned char *p = base;
    switch (t) {
    case GGUF_TYPE_UINT8: printf("%u", ((const uint8_t *)p)[i]); break;
    case GGUF_TYPE_INT8: printf("%d", ((const int8_t *)p)[i]); break;
    case GGUF_TYPE_UINT16: printf("%u", ((const uint16_t *)p)[i]); break;
    case GGUF_TYPE_INT16: printf("%d", ((const int16_t *)p)[i]); break;
    case GGUF_TYPE_UINT32: printf("%" PRIu32, ((const uint32_t *)p)[i]); break;
    case GGUF_TYPE_INT32: printf("%" PRId32, ((const int32_t *)p)[i]); break;
    case GGUF_TYPE_FLOAT32: printf("%.9g", ((const float *)p)[i]); break;
    case GGUF_TYPE_BOOL: fputs(p[i] ? "true" : "false", stdout); break;
    case GGUF_TYPE_UINT64: printf("%" PRIu64, ((const uint64_t *)p)[i]); break;
    case GGUF_TYPE_INT64: printf("%" PRId64, ((const int64_t *)p)[i]); break;
    case GGUF_TYPE_FLOAT64: printf("%.17g", ((const double *)p)[i]); break;
    default: fputs("?", stdout); break;
    }
}

/* One key's value. Scalars are printed through the typed getters, which all
 * succeed for the key's own type. */
static void print_value(const gguf_ctx *g, const char *key, enum gguf_vtype t, bool full) {
    char err[EM_ERR_LEN];
    int64_t iv;
    uint64_t uv;
    double fv;
    bool bv;
    const char *sv;
    switch (t) {
    case GGUF_TYPE_UINT64:
        if (!gguf_get_u64(g, key, &uv, err)) printf("%" PRIu64, uv);
        break;
    case GGUF_TYPE_FLOAT32:
        if (!gguf_get_float(g, key, &fv, err)) printf("%.9g", fv);
        break;
    case GGUF_TYPE_FLOAT64:
        if (!gguf_get_float(g, key, &fv, err)) printf("%.17g", fv);
        break;
    case GGUF_TYPE_BOOL:
        if (!gguf_get_bool(g, key, &bv, err)) fputs(bv ? "true" : "false", stdout);
        break;
    case GGUF_TYPE_STRING:
        if (!gguf_get_str(g, key, &sv, err)) print_str(sv, strlen(sv), full);
        break;
    case GGUF_TYPE_ARRAY: {
        enum gguf_vtype et;
        uint64_t n;
        const void *d;
        if (gguf_get_arr(g, key, &et, &n, &d, err)) break;
        uint64_t shown = full || n <= MAX_ELEMS ? n : MAX_ELEMS;
        putchar('[');
        for (uint64_t i = 0; i < shown; i++) {
            if (i) fputs(", ", stdout);
            if (et == GGUF_TYPE_STRING) {
                size_t len = 0;
                const char *s = gguf_get_arr_str(g, key, i, &len);
                if (s) print_str(s, len, full);
            } else {
                print_elem(et, d, i);
            }
        }
        if (shown < n) printf(", ... %" PRIu64 " more", n - shown);
        putchar(']');
        break;
    }
    default:
        if (!gguf_get_int(g, key, &iv, err)) printf("%" PRId64, iv);
        break;
    }
}

int ember_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool full = false;
    const opt_spec specs[] = {
        OPT_FLAG(NULL, "--full", &full,
                 "print whole strings and arrays (default: first " STR(MAX_ELEMS) " elements,\n"
                 "strings cut at " STR(MAX_STR) " bytes)"),
        OPT_END};
    char perr[OPT_ERR_LEN];
    int n_pos = 0, prc = opt_parse("ember info", specs, argc, argv, &path, 1, &n_pos, perr);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    if (!path) {
        fprintf(stderr, "ember info: no file given\n");
        usage(stderr, specs);
        return 2;
    }

    char err[EM_ERR_LEN] = "";
    gguf_ctx *g = gguf_open(path, err);
    if (!g) {
        fprintf(stderr, "ember info: %s\n", err);
        return 1;
    }

    printf("file: %s\n", path);
    printf("version: %u\n", gguf_version(g));
    printf("alignment: %zu\n", gguf_alignment(g));
    printf("size: %zu bytes\n", gguf_file_size(g));

    int64_t n_kv = gguf_n_kv(g);
    printf("\nkeys: %" PRId64 "\n", n_kv);
    for (int64_t i = 0; i < n_kv; i++) {
        const char *key = gguf_kv_key(g, i);
        enum gguf_vtype t = gguf_kv_type(g, i);
        if (t == GGUF_TYPE_ARRAY) {
            enum gguf_vtype et;
            uint64_t n;
            const void *d;
            gguf_get_arr(g, key, &et, &n, &d, err);
            printf("  %-40s %s[%" PRIu64 "] = ", key, gguf_vtype_name(et), n);
        } else {
            printf("  %-40s %s = ", key, gguf_vtype_name(t));
        }
        print_value(g, key, t, full);
        putchar('\n');
    }

    int64_t n_t = gguf_n_tensors(g);
    uint64_t count_by_type[EM_TYPE_COUNT] = {0}, bytes_by_type[EM_TYPE_COUNT] = {0}, total = 0;
    uint64_t weights_by_type[EM_TYPE_COUNT] = {0}, n_weights = 0;
    printf("\ntensors: %" PRId64 "\n", n_t);
    if (n_t) printf("  %-40s %-7s %-28s %14s %14s\n", "name", "type", "shape", "offset", "bytes");
    for (int64_t i = 0; i < n_t; i++) {
        const gguf_tensor_info *t = gguf_tensor(g, i);
        char shape[128];
        int len = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->n_dims && len < (int)sizeof shape; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        if (len < (int)sizeof shape) snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %-40s %-7s %-28s %14" PRIu64 " %14zu\n", t->name, em_type_name(t->type), shape, t->offset, t->nbytes);
        count_by_type[t->type]++;
        bytes_by_type[t->type] += t->nbytes;
        total += t->nbytes;
        uint64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) nel *= (uint64_t)t->ne[d];
        weights_by_type[t->type] += nel;
        n_weights += nel;
    }

    /* The type mix: what a user checks of a file they downloaded (a
     * "Q4_K_M" file is Q4_K, Q6_K and others, per tensor). */
    printf("\ntotals: %" PRId64 " tensors, %" PRIu64 " bytes (%.2f MiB), %.2f bits per weight\n", n_t, total,
           (double)total / (1024.0 * 1024.0), n_weights ? 8.0 * (double)total / (double)n_weights : 0.0);
    int64_t ft;
    char ferr[EM_ERR_LEN];
    if (gguf_find_key(g, "general.file_type") >= 0 && gguf_get_int(g, "general.file_type", &ft, ferr) == EM_OK) {
        const char *fname = ft >= 0 && ft <= UINT32_MAX ? em_ftype_name((uint32_t)ft & ~1024u) : NULL;
        printf("file type: %" PRId64 " (%s%s)\n", ft, fname ? fname : "unknown to Ember", ft & 1024 ? ", guessed" : "");
    }
    if (n_t) printf("  %-8s %8s %14s %7s %14s %6s\n", "type", "tensors", "bytes", "bytes%", "weights", "bpw");
    for (int ty = 0; ty < EM_TYPE_COUNT; ty++)
        if (count_by_type[ty])
            printf("  %-8s %8" PRIu64 " %14" PRIu64 " %6.1f%% %14" PRIu64 " %6.2f%s\n", em_type_name((enum em_type)ty),
                   count_by_type[ty], bytes_by_type[ty], total ? 100.0 * (double)bytes_by_type[ty] / (double)total : 0.0,
                   weights_by_type[ty], weights_by_type[ty] ? 8.0 * (double)bytes_by_type[ty] / (double)weights_by_type[ty] : 0.0,
                   em_type_supported((enum em_type)ty) ? "" : "  (not supported for compute)");
    gguf_close(g);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "ember info: writing the output failed\n");
        return 1;
    }
    return 0;
}
