/* test_opt.c - the option parser (cli/opt.h) and the shared model/sampling
 * group (cli/cli_model_opts.h): ranges at both ends, full 64-bit seeds,
 * garbage, missing values, unknown flags, repeated options, --help before
 * anything is applied, positional arguments, presets that explicit options
 * override wherever they stand, and the one message style. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/cli_model_opts.h"
#include "cli/opt.h"

/* argv from a space-separated line ("" words not supported; fine here). */
typedef struct args {
    char buf[512];
    char *v[32];
    int n;
} args;

static char **mk(args *a, const char *line) {
    snprintf(a->buf, sizeof a->buf, "prog %s", line);
    a->n = 0;
    for (char *t = strtok(a->buf, " "); t && a->n < 31; t = strtok(NULL, " ")) a->v[a->n++] = t;
    a->v[a->n] = NULL;
    return a->v;
}

typedef struct vals {
    bool quiet;
    const char *model;
    const char *images[3];
    int n_images;
    int n;
    int64_t big;
    uint64_t seed;
    float temp;
    double tol;
    int kv;
    int size[2];
    int calls;
    const char *last_call;
    bool seed_seen;
} vals;

static int on_call(void *user, const opt_spec *spec, const char *value, char *err) {
    vals *v = user;
    v->calls++;
    v->last_call = value;
    if (value && !strcmp(value, "bad")) {
        snprintf(err, OPT_ERR_LEN, "%s: 'bad' refused by the callback", spec->lng);
        return -1;
    }
    return 0;
}

static const char *const kv_names[] = {"f16", "f32", NULL};

/* Parse `line` into a fresh vals with defaults; returns opt_parse's result. */
static int parse(const char *line, vals *v, const char **pos, int max_pos, int *n_pos, char *err) {
    *v = (vals){.n = 7, .temp = 0.8f, .tol = 1e-3, .size = {640, 480}};
    const opt_spec sub[] = {
        OPT_CALL(NULL, "--call", "X", on_call, v, "a callback"),
        {.kind = OPT_KIND_CALL, .lng = "--opt", .meta = "R", .fn = on_call, .user = v, .flags = OPT_VALUE_OPTIONAL,
         .help = "an optional value"},
        OPT_END};
    const opt_spec specs[] = {
        OPT_FLAG("-q", "--quiet", &v->quiet, "quiet"),
        OPT_STR("-m", "--model", "FILE", &v->model, "model"),
        OPT_LIST(NULL, "--image", "FILE", v->images, &v->n_images, 3, "an image"),
        OPT_INT("-n", "--n-predict", "N", &v->n, -1, 1 << 24, "count"),
        OPT_I64(NULL, "--big", "N", &v->big, INT64_MIN, INT64_MAX, "any int64"),
        {.kind = OPT_KIND_U64, .lng = "--seed", .meta = "N", .dest = &v->seed, .ulo = 0, .uhi = UINT64_MAX,
         .seen = &v->seed_seen, .help = "seed"},
        OPT_FLOAT(NULL, "--temp", "T", &v->temp, 0, 100, "temperature"),
        OPT_DOUBLE(NULL, "--tol", "X", &v->tol, 0, 1, "tolerance"),
        OPT_CHOICE(NULL, "--kv-type", "T", &v->kv, kv_names, "kv type"),
        OPT_SIZE(NULL, "--size", "WxH", v->size, 16, 4096, "size"),
        OPT_GROUP(sub),
        OPT_END};
    args a;
    char **argv = mk(&a, line);
    return opt_parse("ember test", specs, a.n, argv, pos, max_pos, n_pos, err);
}

/* Expect OPT_ERROR with exactly `msg`. */
static void refuse(const char *line, const char *msg) {
    vals v;
    char err[OPT_ERR_LEN] = "";
    int rc = parse(line, &v, NULL, 0, NULL, err);
    CHECK(rc == OPT_ERROR && !strcmp(err, msg), "'%s': rc %d, message '%s', expected '%s'", line, rc, err, msg);
}

static void test_values(void) {
    vals v;
    char err[OPT_ERR_LEN];
    CHECK(parse("-q -m a.gguf -n -1 --temp 0 --tol 1 --kv-type f32 --size 16x4096", &v, NULL, 0, NULL, err) == OPT_OK,
          "%s", err);
    CHECK(v.quiet && !strcmp(v.model, "a.gguf") && v.n == -1 && v.temp == 0 && v.tol == 1 && v.kv == 1 &&
              v.size[0] == 16 && v.size[1] == 4096, "values");
    /* defaults stay when not given */
    CHECK(parse("", &v, NULL, 0, NULL, err) == OPT_OK && v.n == 7 && v.temp == 0.8f && !v.quiet && !v.model &&
              !v.seed_seen, "defaults");
    /* --name=value, last one wins, range ends */
    CHECK(parse("--n-predict=16777216 -n 3 -n 5", &v, NULL, 0, NULL, err) == OPT_OK && v.n == 5, "last wins: %d", v.n);
    CHECK(parse("--big -9223372036854775808", &v, NULL, 0, NULL, err) == OPT_OK && v.big == INT64_MIN, "int64 min");
    CHECK(parse("--big 9223372036854775807", &v, NULL, 0, NULL, err) == OPT_OK && v.big == INT64_MAX, "int64 max");
    /* seeds: the full 64 bits */
    CHECK(parse("--seed 18446744073709551615", &v, NULL, 0, NULL, err) == OPT_OK && v.seed == UINT64_MAX &&
              v.seed_seen, "u64 max: %s", err);
    CHECK(parse("--seed 0", &v, NULL, 0, NULL, err) == OPT_OK && v.seed == 0 && v.seed_seen, "seed 0");
    /* choices match without regard to case (mkmodel --type q4_K or q4_k) */
    CHECK(parse("--kv-type F32", &v, NULL, 0, NULL, err) == OPT_OK && v.kv == 1, "choice case: %d", v.kv);
    /* a value may start with '-' */
    CHECK(parse("-m -x.gguf", &v, NULL, 0, NULL, err) == OPT_OK && !strcmp(v.model, "-x.gguf"), "dash value");
}

static void test_refusals(void) {
    refuse("--n-predict abc", "ember test: --n-predict 'abc': expected an integer in -1..16777216");
    refuse("-n 16777217", "ember test: -n '16777217': expected an integer in -1..16777216");
    refuse("-n -2", "ember test: -n '-2': expected an integer in -1..16777216");
    refuse("-n 5x", "ember test: -n '5x': expected an integer in -1..16777216");
    refuse("-n 1.5", "ember test: -n '1.5': expected an integer in -1..16777216");
    refuse("--big 9223372036854775808", "ember test: --big '9223372036854775808': expected an integer in "
                                        "-9223372036854775808..9223372036854775807");
    refuse("--seed 18446744073709551616",
           "ember test: --seed '18446744073709551616': expected an integer in 0..18446744073709551615");
    refuse("--seed -1", "ember test: --seed '-1': expected an integer in 0..18446744073709551615");
    refuse("--seed +1", "ember test: --seed '+1': expected an integer in 0..18446744073709551615");
    refuse("--temp -1", "ember test: --temp '-1': expected a number in 0..100");
    refuse("--temp nan", "ember test: --temp 'nan': expected a number in 0..100");
    refuse("--temp inf", "ember test: --temp 'inf': expected a number in 0..100");
    refuse("--tol 1e-3x", "ember test: --tol '1e-3x': expected a number in 0..1");
    refuse("--kv-type q4", "ember test: --kv-type 'q4': expected f16 or f32");
    refuse("--size 640", "ember test: --size '640': expected WxH, 16..4096 each");
    refuse("--size 8x8", "ember test: --size '8x8': expected WxH, 16..4096 each");
    refuse("--size 64x64x", "ember test: --size '64x64x': expected WxH, 16..4096 each");
    refuse("--bogus", "ember test: unknown option '--bogus' (see --help)");
    refuse("-qn", "ember test: unknown option '-qn' (see --help)");
    refuse("-m", "ember test: -m needs a value (see --help)");
    refuse("--quiet=1", "ember test: --quiet takes no value");
    refuse("stray", "ember test: unexpected argument 'stray' (see --help)");
    refuse("--call bad", "ember test: --call: 'bad' refused by the callback");
    refuse("--image a --image b --image c --image d", "ember test: --image 'd': at most 3 given");
}

static void test_lists_calls_positionals(void) {
    vals v;
    char err[OPT_ERR_LEN];
    CHECK(parse("--image a.png --image b.jpg", &v, NULL, 0, NULL, err) == OPT_OK && v.n_images == 2 &&
              !strcmp(v.images[0], "a.png") && !strcmp(v.images[1], "b.jpg"), "repeated --image");
    CHECK(parse("--call x --call y", &v, NULL, 0, NULL, err) == OPT_OK && v.calls == 2 && !strcmp(v.last_call, "y"),
          "callbacks see each");
    /* an optional value: taken unless the next argument is an option */
    CHECK(parse("--opt -q", &v, NULL, 0, NULL, err) == OPT_OK && v.calls == 1 && !v.last_call && v.quiet, "no value");
    CHECK(parse("--opt why", &v, NULL, 0, NULL, err) == OPT_OK && v.last_call && !strcmp(v.last_call, "why"), "value");
    const char *pos[2] = {NULL, NULL};
    int n = -1;
    CHECK(parse("a.bin -q b.bin", &v, pos, 2, &n, err) == OPT_OK && n == 2 && !strcmp(pos[0], "a.bin") &&
              !strcmp(pos[1], "b.bin") && v.quiet, "positionals");
    CHECK(parse("a - -- -q", &v, pos, 2, &n, err) == OPT_ERROR, "'--' ends options: one too many");
    const char *pos3[3];
    CHECK(parse("a - -- -q", &v, pos3, 3, &n, err) == OPT_OK && n == 3 && !strcmp(pos3[1], "-") &&
              !strcmp(pos3[2], "-q") && !v.quiet, "'-' and '--'");
    /* --help wins, before anything is applied, even after a bad value */
    CHECK(parse("-n 3 --temp x --help", &v, NULL, 0, NULL, err) == OPT_HELP && v.n == 7, "help first");
    CHECK(parse("-m -h", &v, NULL, 0, NULL, err) == OPT_OK && !strcmp(v.model, "-h"), "-h as a value");
}

static void test_numbers(void) {
    char err[OPT_ERR_LEN];
    int64_t i;
    uint64_t u;
    double d;
    CHECK(opt_i64("bench_pool", "threads", "4", 1, 1024, &i, err) == 0 && i == 4, "i64");
    CHECK(opt_i64("bench_pool", "threads", " 4", 1, 1024, &i, err) == -1 &&
              !strcmp(err, "bench_pool: threads ' 4': expected an integer in 1..1024"), "%s", err);
    CHECK(opt_u64("x", "--seed", "12345678901234567890", 0, UINT64_MAX, &u, err) == 0 && u == 12345678901234567890ull,
          "u64");
    CHECK(opt_double("x", "--tol", ".5", 0, 1, &d, err) == 0 && d == 0.5, "leading point");
    CHECK(opt_double("x", "--tol", "", 0, 1, &d, err) == -1, "empty");
    CHECK(opt_i64("x", "-n", "", 0, 1, &i, err) == -1, "empty int");
}

static void test_model_group(void) {
    cli_model_opts m;
    char err[OPT_ERR_LEN];
    unsetenv("EMBER_BACKEND");
    cli_model_opts_init(&m);
    m.sp.temp = 0.0f; /* a command's own default (run: greedy) */
    opt_spec group[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&m, group);
    CHECK(group[CLI_MODEL_OPTS_N - 1].kind == OPT_KIND_END, "the group ends with OPT_END");
    bool quiet = false;
    const opt_spec specs[] = {OPT_GROUP(group), OPT_FLAG("-q", "--quiet", &quiet, "quiet"), OPT_END};
    args a;
    char **argv = mk(&a, "-m m.gguf --backend cpu -t 3 -c 64 -b 8 --kv-type f32 -n 5 --top-k 7 --top-p 0.5 "
                         "--min-p 0.1 --repeat-penalty 1.1 --repeat-last-n 32 --seed 18446744073709551615 "
                         "--ignore-eos -q");
    int rc = opt_parse("ember run", specs, a.n, argv, NULL, 0, NULL, err);
    if (rc == OPT_OK) rc = cli_model_opts_finish(&m, "ember run", err);
    CHECK(rc == OPT_OK, "%s", err);
    CHECK(!strcmp(m.model, "m.gguf") && !strcmp(m.backend, "cpu") && m.threads == 3 && m.n_ctx == 64 &&
              m.n_batch == 8 && m.kv_type == EM_TYPE_F32 && m.n_predict == 5 && m.sp.top_k == 7 &&
              m.sp.top_p == 0.5f && m.sp.min_p == 0.1f && m.sp.repeat_penalty == 1.1f && m.sp.repeat_last_n == 32 &&
              m.sp.seed == UINT64_MAX && m.ignore_eos && quiet && m.sp.temp == 0.0f,
          "group values");

    /* defaults: generate's, f16, auto; a bad EMBER_BACKEND is named unless --backend overrides it */
    cli_model_opts_init(&m);
    CHECK(m.n_predict == 128 && m.sp.temp == 0.8f && m.sp.top_k == 40 && m.device == -1 && m.threads >= 1,
          "defaults");
    cli_model_opts_specs(&m, group);
    argv = mk(&a, "");
    rc = opt_parse("ember generate", group, a.n, argv, NULL, 0, NULL, err);
    CHECK(rc == OPT_OK && cli_model_opts_finish(&m, "ember generate", err) == OPT_OK && !strcmp(m.backend, "auto") &&
              m.kv_type == EM_TYPE_F16, "default backend/kv");
    setenv("EMBER_BACKEND", "gpu", 1);
    cli_model_opts_init(&m);
    cli_model_opts_specs(&m, group);
    rc = opt_parse("ember generate", group, a.n, argv, NULL, 0, NULL, err);
    CHECK(rc == OPT_OK && cli_model_opts_finish(&m, "ember generate", err) == OPT_ERROR &&
              !strcmp(err, "ember generate: EMBER_BACKEND 'gpu': expected auto, vulkan or cpu"), "%s", err);
    cli_model_opts_init(&m);
    cli_model_opts_specs(&m, group);
    argv = mk(&a, "--backend vulkan");
    rc = opt_parse("ember generate", group, a.n, argv, NULL, 0, NULL, err);
    CHECK(rc == OPT_OK && cli_model_opts_finish(&m, "ember generate", err) == OPT_OK && !strcmp(m.backend, "vulkan"),
          "--backend overrides a bad EMBER_BACKEND");
    setenv("EMBER_BACKEND", "cpu", 1);
    cli_model_opts_init(&m);
    cli_model_opts_specs(&m, group);
    argv = mk(&a, "");
    rc = opt_parse("ember generate", group, a.n, argv, NULL, 0, NULL, err);
    CHECK(rc == OPT_OK && cli_model_opts_finish(&m, "ember generate", err) == OPT_OK && !strcmp(m.backend, "cpu"),
          "EMBER_BACKEND as the default");
    unsetenv("EMBER_BACKEND");

    /* the group's ranges and messages */
    static const struct { const char *line, *msg; } bad[] = {
        {"--top-k abc", "ember run: --top-k 'abc': expected an integer in 0..1073741824"},
        {"--seed 18446744073709551616", "ember run: --seed '18446744073709551616': expected an integer in 0..18446744073709551615"},
        {"-t 0", "ember run: -t '0': expected an integer in 1..1024"},
        {"--threads 0", "ember run: --threads '0': expected an integer in 1..1024"},
        {"--temp -1", "ember run: --temp '-1': expected a number in 0..100"},
        {"--repeat-penalty 0", "ember run: --repeat-penalty '0': expected a number in 0.001..1000"},
        {"--kv-type q4", "ember run: --kv-type 'q4': expected f16 or f32"},
        {"--backend gpu", "ember run: --backend 'gpu': expected auto, vulkan or cpu"},
        {"--device 65", "ember run: --device '65': expected an integer in 0..64"},
        {"-n ten", "ember run: -n 'ten': expected an integer in -1..16777216"},
        {"-m", "ember run: -m needs a value (see --help)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_model_opts_init(&m);
        cli_model_opts_specs(&m, group);
        argv = mk(&a, bad[i].line);
        rc = opt_parse("ember run", group, a.n, argv, NULL, 0, NULL, err);
        CHECK(rc == OPT_ERROR && !strcmp(err, bad[i].msg), "'%s': '%s'", bad[i].line, err);
    }

    /* help lists every option once, with this command's defaults */
    cli_model_opts_init(&m);
    m.sp.temp = 0.0f;
    cli_model_opts_specs(&m, group);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    if (!f) return;
    opt_usage(f, specs);
    fclose(f);
    CHECK(strstr(buf, "--temp T") && strstr(buf, "(default 0)") && strstr(buf, "--repeat-last-n N") &&
              strstr(buf, "(default 64)") && strstr(buf, "-m, --model FILE") && strstr(buf, "(default: from the clock)") &&
              !strstr(buf, "0..2^64-1 (default 1"),
          "usage:\n%s", buf);
    free(buf);
}

/* opt_parse_preset: a preset sets defaults wherever it stands; explicit
 * options win before or after it. */
typedef struct shape {
    int layers, dim;
    const char *name;
    int preset;
    int resets;
} shape;

static const char *const shape_presets[] = {"small", "big", NULL};

static void shape_reset(void *user, int preset) {
    shape *s = user;
    *s = (shape){.layers = 2, .dim = 64, .name = "plain", .preset = -1, .resets = s->resets};
    if (preset == 0) { s->layers = 1; s->dim = 32; s->name = "small"; }
    if (preset == 1) { s->layers = 30; s->dim = 576; s->name = "big"; }
    s->resets++;
}

static int parse_shape(const char *line, shape *s, char *err) {
    const opt_spec specs[] = {
        OPT_CHOICE(NULL, "--preset", "NAME", &s->preset, shape_presets, "shape"),
        OPT_INT(NULL, "--layers", "L", &s->layers, 1, 1024, "blocks"),
        OPT_INT(NULL, "--dim", "D", &s->dim, 1, 1 << 16, "width"),
        OPT_STR(NULL, "--name", "S", &s->name, "name"),
        OPT_END};
    args a;
    char **argv = mk(&a, line);
    *s = (shape){.layers = -7, .dim = -7}; /* garbage: the reset must set every field */
    return opt_parse_preset("mkx", specs, &s->preset, shape_reset, s, a.n, argv, err);
}

static void test_preset(void) {
    shape s;
    char err[OPT_ERR_LEN];
    CHECK(parse_shape("", &s, err) == OPT_OK && s.layers == 2 && s.dim == 64 && !strcmp(s.name, "plain") &&
              s.preset == -1 && s.resets == 2, "defaults: %d %d %s %d", s.layers, s.dim, s.name, s.resets);
    CHECK(parse_shape("--preset big", &s, err) == OPT_OK && s.layers == 30 && s.dim == 576 && !strcmp(s.name, "big") &&
              s.preset == 1, "preset");
    CHECK(parse_shape("--layers 3 --preset big", &s, err) == OPT_OK && s.layers == 3 && s.dim == 576, "before");
    CHECK(parse_shape("--preset big --layers 3 --name x", &s, err) == OPT_OK && s.layers == 3 && s.dim == 576 &&
              !strcmp(s.name, "x"), "after");
    CHECK(parse_shape("--preset big --preset small", &s, err) == OPT_OK && s.layers == 1 && s.preset == 0, "last wins");
    CHECK(parse_shape("--preset huge --layers 3", &s, err) == OPT_ERROR &&
              !strcmp(err, "mkx: --preset 'huge': expected small or big"), "%s", err);
    CHECK(parse_shape("--preset big --dim 0", &s, err) == OPT_ERROR &&
              !strcmp(err, "mkx: --dim '0': expected an integer in 1..65536"), "%s", err);
    /* help: nothing applied, the destinations hold the defaults (not the preset's) for opt_usage */
    CHECK(parse_shape("--preset big --help", &s, err) == OPT_HELP && s.layers == 2 && s.dim == 64 && s.preset == -1,
          "help shows the defaults");
}

int main(void) {
    test_values();
    test_refusals();
    test_lists_calls_positionals();
    test_numbers();
    test_model_group();
    test_preset();
    return CHECK_DONE();
}
