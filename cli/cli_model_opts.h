/* cli_model_opts.h - the options every command that runs a language model
 * shares (run, generate, and the coming agent): which model, on which
 * backend, with what context, and how to sample. One table (cli/opt.h), so
 * the commands accept the same spellings and ranges and describe them alike:
 *
 *   -m, --model FILE      --backend auto|vulkan|cpu   --device N
 *   -t, --threads N       -c, --ctx N   -b, --batch N  --kv-type f16|f32
 *   -n, --n-predict N     --temp T  --top-k N  --top-p P  --min-p P
 *   --repeat-penalty R    --repeat-last-n N   --seed N (full 64-bit)
 *   --ignore-eos          --stop TEXT (repeatable)
 *   --system TEXT         --chat-template chatml|smolvlm
 *   --grammar-file FILE   (llama.cpp's GBNF: sampling only sees what it allows; it ends the answer when complete)
 *
 * Use, in a command's argument parser:
 *
 *     cli_model_opts m;
 *     cli_model_opts_init(&m);              -- llama.cpp's defaults (generate's)
 *     m.sp.temp = 0.0f; m.n_predict = 256;  -- this command's own defaults, if any
 *     opt_spec model_specs[CLI_MODEL_OPTS_N];
 *     cli_model_opts_specs(&m, model_specs);
 *     const opt_spec specs[] = {
 *         OPT_STR("-p", "--prompt", "TEXT", &prompt, "the prompt"),
 *         OPT_GROUP(model_specs),
 *         OPT_FLAG("-q", "--quiet", &quiet, "no model summary"),
 *         OPT_END};
 *     int rc = opt_parse("ember run", specs, argc, argv, NULL, 0, NULL, err);
 *     ...                                   -- OPT_HELP: usage (opt_usage(f, specs)), exit 0
 *     if (rc == OPT_OK) rc = cli_model_opts_finish(&m, "ember run", err);
 *     if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
 *     if (!m.model) ...                     -- whether -m is required is the command's call
 *
 * then cli_backend_open(m.backend, m.device, m.threads, m.model, ...),
 * lm_ctx_create(model, &(lm_ctx_params){m.n_ctx, m.n_batch, m.kv_type}, ...),
 * lm_sampler_create(&m.sp, ...), and m.n_predict / m.ignore_eos in the loop.
 *
 * Defaults set after cli_model_opts_init and before opt_parse are the
 * command's: --help shows them. The seed defaults to one from the clock and
 * the process id; EMBER_BACKEND, when set, is the --backend default (checked
 * by cli_model_opts_finish, which names it when it is not a backend).
 *
 * Nothing here allocates; the specs point into the cli_model_opts, which
 * must stay where it is until parsing is done. */
#ifndef EMBER_CLI_MODEL_OPTS_H
#define EMBER_CLI_MODEL_OPTS_H

#include <stdbool.h>

#include "cli_util.h"
#include "core/backend_open.h"
#include "core/types.h"
#include "lm/generate.h"
#include "lm/grammar.h"
#include "lm/model.h"
#include "lm/sampler.h"
#include "opt.h"

/* Entries cli_model_opts_specs writes, OPT_END included. */
#define CLI_MODEL_OPTS_N 21
/* Stop strings a command takes at most. */
#define CLI_MAX_STOP 16

typedef struct cli_model_opts {
    const char *model;     /* -m, --model: NULL until given */
    const char *backend;   /* "auto", "vulkan" or "cpu" (set by _finish from backend_choice) */
    int device;            /* --device: Vulkan device index; -1: chosen by --backend */
    int threads;           /* -t, --threads: CPU threads (default: the cores online) */
    int n_ctx;             /* -c, --ctx: KV cache positions; 0: min(train ctx, 4096) */
    int n_batch;           /* -b, --batch: positions per forward pass; 0: 512 */
    enum em_type kv_type;  /* --kv-type: EM_TYPE_F16 or EM_TYPE_F32 (set by _finish from kv_choice) */
    int n_predict;         /* -n, --n-predict: tokens at most; -1: until the end or the context is full */
    bool ignore_eos;       /* --ignore-eos */
    lm_sampler_params sp;  /* --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --seed */
    const char *stop[CLI_MAX_STOP]; /* --stop TEXT, repeatable */
    int n_stop;
    const char *system;        /* --system: a system message for the chat template */
    const char *chat_template; /* --chat-template: chatml or smolvlm; NULL: detected from the model */
    const char *grammar_file;  /* --grammar-file: GBNF (lm/grammar.h); checked by _finish, used by cli_model_open */
    /* what the table writes; read the fields above instead */
    int backend_choice, kv_choice;
    const char *backend_env; /* EMBER_BACKEND when it names no backend: refused by _finish */
} cli_model_opts;

/* The --backend names, in cli_backend_open's spelling; NULL-terminated. */
extern const char *const cli_backend_names[];

/* The --image-resize names, indexed by vision_resize_mode (vision/preprocess.h:
 * "auto" is the projector's own); NULL-terminated. */
extern const char *const cli_image_resize_names[];
#define CLI_IMAGE_RESIZE_HELP                                                                                       \
    "how images become tiles: transformers (Pillow LANCZOS, as SmolVLM was trained), llamacpp (llama-mtmd-cli's " \
    "pixels), auto (the projector's: transformers for published SmolVLM files)"

/* The --vision-weights names, indexed by vision_weights (vision/mmproj.h:
 * "stored" VISION_WEIGHTS_STORED, "bf16" VISION_WEIGHTS_BF16); NULL-terminated. */
extern const char *const cli_vision_weights_names[];
#define CLI_VISION_WEIGHTS_HELP                                                                                     \
    "how the projector's matrices are multiplied: stored (as the file has them, llama.cpp's products), bf16 (f16 " \
    "matrices converted at load: ~1.6x faster tiles on CPUs with AVX512_BF16, slower without; activations rounded to bf16)"

/* A note on stderr (prog: "ember run") when --vision-weights bf16 (weights
 * == VISION_WEIGHTS_BF16) runs on a CPU without AVX512_BF16: there the bf16
 * products take the AVX2 kernel and are slower than the f16 ones. */
void cli_vision_weights_note(const em_backend *be, int weights, const char *prog);

/* llama.cpp's defaults (those of `ember generate`): n_predict 128, temp 0.8,
 * top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1 (off) over 64 tokens,
 * f16 KV cache, all cores, backend $EMBER_BACKEND or auto. */
void cli_model_opts_init(cli_model_opts *o);
/* Fill specs[0..CLI_MODEL_OPTS_N) with the group's table (OPT_END last),
 * pointing into o: splice it into a command's table with OPT_GROUP(specs). */
void cli_model_opts_specs(cli_model_opts *o, opt_spec *specs);
/* After opt_parse: set backend and kv_type from what was parsed, refuse
 * a bad EMBER_BACKEND that no --backend overrode, and a --grammar-file that
 * cannot be read or parsed (its line and column). OPT_OK, or OPT_ERROR with
 * "PROG: ..." in err (OPT_ERR_LEN bytes; a usage error, exit 2). */
int cli_model_opts_finish(cli_model_opts *o, const char *prog, char *err);

/* What a command that runs a language model holds: the backend, the model,
 * one context and its generator, opened as the options say. */
typedef struct cli_model {
    em_backend *be;
    lm_model *m;
    lm_ctx *ctx;
    lm_gen *gen;
    char desc[EM_BACKEND_DESC_LEN]; /* the backend, for the summary line */
    cli_progress prog;              /* weight-upload progress (must stay put while loading) */
    double load_ms;                 /* model load and context creation */
    char *grammar_text;             /* --grammar-file's text, NULL without one */
    lm_grammar *grammar;            /* and compiled, with its matcher over the model's vocabulary */
    lm_grammar_vocab *gvocab;
    lm_grammar_matcher *gm;
} cli_model;

/* Open the backend (saying on stderr why Vulkan was not used, unless quiet),
 * load o->model and create its context and generator. Warns (unless quiet)
 * of more threads than cores and a context past the model's training
 * length. On failure everything opened is closed again and err (EM_ERR_LEN
 * bytes) says why. */
ember_status cli_model_open(const cli_model_opts *o, bool quiet, cli_model *cm, char *err);
void cli_model_close(cli_model *cm);

/* The user's text as one chat turn (o->system, o->chat_template) in *out
 * (malloc'd). Returns 0, or the exit code with the message printed as
 * "PROG: ...": 2 for an unknown --chat-template, 1 otherwise. */
int cli_model_chat(const cli_model *cm, const cli_model_opts *o, const char *prog, const char *user, char **out);

/* Prefill p and generate as o says (budget, sampling, stop strings, the
 * grammar from the start),
 * streaming the text to stdout and a newline after it; a full context is
 * said on stderr with the flag to raise it. on_token/user: as
 * lm_gen_params's (may be NULL). The tokens are lm_gen_tokens(cm->gen). */
ember_status cli_model_answer(cli_model *cm, const cli_model_opts *o, const char *prog, const lm_prompt *p,
                              int (*on_token)(void *user, int32_t tok, const float *logits, int n_vocab), void *user,
                              lm_gen_result *res, char *err);

/* " seed=N" when the options sample (temp > 0), else "" (written into buf):
 * for a command's timings line, so a sampled run can be repeated with --seed. */
const char *cli_seed_field(const cli_model_opts *o, char buf[32]);

#endif
