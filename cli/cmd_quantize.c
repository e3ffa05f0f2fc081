/* cmd_quantize.c - `ember quantize IN.gguf OUT.gguf MIX`: a model rewritten
 * with one of llama.cpp's quantization mixes (lm/quantize.h), with
 * progress on stderr. SIGINT/SIGTERM stop it between tensors, and OUT is
 * then not written at all. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "opt.h"
#include "lm/quantize.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember quantize [options] IN.gguf OUT.gguf MIX\n"
            "\n"
            "Write IN's model with a llama.cpp quantization mix, choosing each tensor's type by\n"
            "llama.cpp's rules (attn_v and ffn_down get more bits in the _M mixes, the output\n"
            "matrix Q6_K; rows that do not fit 256-value blocks fall back: Q4_K to Q5_0, Q5_K to\n"
            "Q5_1, Q6_K to Q8_0). Norms and 1-D tensors stay as they are. OUT appears only when\n"
            "complete.\n"
            "\n"
            "mixes: %s\n"
            "\n",
            lm_quant_mix_list());
    opt_usage(f, specs);
}

/* One line per tensor unless quiet; either way the chance to stop. */
static int show(void *user, int64_t i, int64_t n, const gguf_tensor_info *t, enum em_type to) {
    if (*(const bool *)user) return cli_stop_requested();
    char shape[64];
    int len = snprintf(shape, sizeof shape, "%" PRId64, t->ne[0]);
    for (int d = 1; d < t->n_dims && len < (int)sizeof shape; d++)
        len += snprintf(shape + len, sizeof shape - (size_t)len, " x %" PRId64, t->ne[d]);
    fprintf(stderr, "[%4" PRId64 "/%4" PRId64 "] %-36s %-16s %7s -> %s\n", i + 1, n, t->name, shape,
            em_type_name(t->type), em_type_name(to));
    return cli_stop_requested();
}

/* The plan on stdout: one "NAME FROM TO" line per tensor, then the mix
 * it makes (tensors and bytes per type, bits per weight). */
static int dry_run(const gguf_ctx *g, const lm_quant_params *p, char *err) {
    const int64_t n = gguf_n_tensors(g);
    enum em_type *types = malloc(sizeof *types * (size_t)(n > 0 ? n : 1));
    if (!types) {
        fprintf(stderr, "ember quantize: out of memory\n");
        return 1;
    }
    if (lm_quant_plan(g, p, types, err)) {
        fprintf(stderr, "ember quantize: %s\n", err);
        free(types);
        return 1;
    }
    uint64_t count[EM_TYPE_COUNT] = {0}, bytes[EM_TYPE_COUNT] = {0}, weights = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor_info *t = gguf_tensor(g, i);
        uint64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) nel *= (uint64_t)t->ne[d];
        const uint64_t b = em_row_bytes(types[i], t->ne[0]) * (nel / (uint64_t)t->ne[0]);
        count[types[i]]++, bytes[types[i]] += b, weights += nel, total += b;
        printf("%-40s %-7s %s%s\n", t->name, em_type_name(t->type), em_type_name(types[i]),
               types[i] != t->type && !em_type_supported(types[i]) ? "  (Ember cannot write it yet)" : "");
    }
    printf("\n%" PRId64 " tensors, %.2f MiB of tensor data, %.2f bits per weight\n", n, (double)total / (1 << 20),
           weights ? 8.0 * (double)total / (double)weights : 0.0);
    for (int ty = 0; ty < EM_TYPE_COUNT; ty++)
        if (count[ty]) printf("  %-7s %5" PRIu64 " tensors %14" PRIu64 " bytes\n", em_type_name((enum em_type)ty), count[ty], bytes[ty]);
    free(types);
    return 0;
}

int ember_cmd_quantize(int argc, char **argv) {
    bool pure = false, requant = false, quiet = false, dry = false;
    const opt_spec specs[] = {
        OPT_FLAG(NULL, "--pure", &pure, "every quantized tensor the mix's base type (no per-tensor rules)"),
        OPT_FLAG(NULL, "--allow-requantize", &requant,
                 "accept quantized inputs (dequantized first; quality is lost twice)"),
        OPT_FLAG("-q", "--quiet", &quiet, "no per-tensor progress"),
        OPT_FLAG(NULL, "--dry-run", &dry, "print each tensor's type under the mix and write nothing (OUT may be -)"),
        OPT_END};
    const char *pos[3] = {NULL, NULL, NULL};
    char perr[OPT_ERR_LEN];
    int n_pos = 0, prc = opt_parse("ember quantize", specs, argc, argv, pos, 3, &n_pos, perr);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    if (n_pos != 3) {
        fprintf(stderr, "ember quantize: expected IN.gguf OUT.gguf MIX (see --help)\n");
        return 2;
    }
    const int ftype = lm_quant_mix_parse(pos[2]);
    if (ftype < 0) {
        fprintf(stderr, "ember quantize: mix '%s' unknown; known: %s\n", pos[2], lm_quant_mix_list());
        return 2;
    }
    char err[EM_ERR_LEN] = "";
    gguf_ctx *g = gguf_open(pos[0], err);
    if (!g) {
        fprintf(stderr, "ember quantize: %s\n", err);
        return 1;
    }
    cli_block_stop_signals();
    lm_quant_params p = {ftype, pure, requant, show, &quiet};
    int rc = 0;
    if (dry) {
        rc = dry_run(g, &p, err);
        gguf_close(g);
        return rc;
    }
    ember_status st = lm_quantize(g, pos[1], &p, err);
    if (st) {
        fprintf(stderr, "ember quantize: %s\n", err);
        rc = 1;
    } else {
        gguf_ctx *o = gguf_open(pos[1], err);
        if (o) {
            fprintf(stderr, "ember quantize: wrote %s: %.2f MiB (from %.2f MiB), mix %s\n", pos[1],
                    (double)gguf_file_size(o) / (1 << 20), (double)gguf_file_size(g) / (1 << 20), pos[2]);
            gguf_close(o);
        }
    }
    gguf_close(g);
    return rc;
}
