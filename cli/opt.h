/* opt.h - command-line options from a table: one parser and one message
 * style for the `ember` commands, tools/ and bench/.
 *
 * A command describes its options as an array of opt_spec (built with the
 * OPT_* macros below, ended by OPT_END) and calls opt_parse once:
 *
 *     bool quiet = false; int n = 128; uint64_t seed = 1; const char *model = NULL;
 *     const opt_spec specs[] = {
 *         OPT_STR("-m", "--model", "FILE", &model, "the model"),
 *         OPT_INT("-n", "--n-predict", "N", &n, -1, 1 << 24, "tokens to generate"),
 *         OPT_U64(NULL, "--seed", "N", &seed, 0, UINT64_MAX, "sampling seed"),
 *         OPT_FLAG("-q", "--quiet", &quiet, "no summary"),
 *         OPT_END};
 *     char err[OPT_ERR_LEN];
 *     int rc = opt_parse("ember generate", specs, argc, argv, NULL, 0, NULL, err);
 *     if (rc == OPT_HELP) { usage(stdout); return 0; }      -- usage calls opt_usage
 *     if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
 *
 * Destinations hold the defaults before the call and the values after it;
 * --help lists options with those defaults (opt_usage), so a command states
 * a default once, where it sets it. Numbers are whole arguments in range,
 * parsed one way everywhere, and every refusal reads
 *     "PROG: --top-k 'abc': expected an integer in 0..1073741824"
 *     "PROG: --temp '-1': expected a number in 0..100"
 *     "PROG: --kv-type 'q4': expected f16 or f32"
 *     "PROG: --temp needs a value (see --help)"
 *     "PROG: unknown option '--bogus' (see --help)"
 * Seeds take the full uint64 range (OPT_U64).
 *
 * Syntax: "-m FILE", "--model FILE", "--model=FILE"; a value may start with
 * '-' ("--temp -1" is refused for its range, not taken for an option). "--"
 * ends the options; "-" alone is a positional argument. -h and --help are
 * answered before any option is applied (so --help shows the defaults even
 * after other options). Short options do not combine ("-qv" is unknown).
 * Options may repeat: the last one wins, except OPT_LIST (appends) and
 * OPT_CALL (the callback sees each).
 *
 * Groups: OPT_GROUP(table) splices another table in place, so options shared
 * by several commands (model and sampling: cli/cli_model_opts.h; the robot link:
 * cli/cli_rio.h) are written once and spelled, ranged and described alike.
 *
 * No allocation, no global state; prints only in opt_usage. Depends on libc
 * alone (the static library ember_opt), so tools and benchmarks link it
 * without the runtime. */
#ifndef EMBER_CLI_OPT_H
#define EMBER_CLI_OPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OPT_ERR_LEN 512

/* opt_parse's results. */
enum { OPT_OK = 0, OPT_HELP = 1, OPT_ERROR = -1 };

enum opt_kind {
    OPT_KIND_END = 0, /* ends a table */
    OPT_KIND_FLAG,    /* no value: *(bool *)dest = true */
    OPT_KIND_STR,     /* *(const char **)dest = the argument (argv outlives it) */
    OPT_KIND_LIST,    /* repeatable: appended to (const char **)dest, *count of at most max */
    OPT_KIND_INT,     /* int in lo..hi */
    OPT_KIND_I64,     /* int64_t in lo..hi */
    OPT_KIND_U64,     /* uint64_t in ulo..uhi */
    OPT_KIND_FLOAT,   /* float; the double value in dlo..dhi */
    OPT_KIND_DOUBLE,  /* double in dlo..dhi */
    OPT_KIND_CHOICE,  /* one of choices[] (NULL-terminated): *(int *)dest = its index */
    OPT_KIND_SIZE,    /* "WxH": int dest[2] = {W, H}, each in lo..hi */
    OPT_KIND_CALL,    /* fn(user, spec, value, err): for values with side effects (load a key file) */
    OPT_KIND_GROUP,   /* dest: another table, spliced in here */
};

/* flags */
#define OPT_NO_DEFAULT 1u     /* opt_usage shows no "(default ...)": help says it (e.g. "from the clock") */
#define OPT_VALUE_OPTIONAL 2u /* OPT_CALL, OPT_STR: takes the next argument only if it does not start with '-' */

typedef struct opt_spec opt_spec;
/* An OPT_CALL option: value is NULL for one without a value (meta NULL, or
 * an optional value absent). Return 0, or -1 with a message in err
 * (OPT_ERR_LEN bytes; opt_parse puts "PROG: " before it). */
typedef int (*opt_fn)(void *user, const opt_spec *spec, const char *value, char *err);

struct opt_spec {
    enum opt_kind kind;
    const char *shrt;  /* "-m", or NULL */
    const char *lng;   /* "--model", or NULL */
    const char *meta;  /* the value's name in help ("FILE"); NULL: the option takes no value */
    void *dest;
    int64_t lo, hi;    /* INT, I64, SIZE */
    uint64_t ulo, uhi; /* U64 */
    double dlo, dhi;   /* FLOAT, DOUBLE */
    const char *const *choices; /* CHOICE */
    int *count;        /* LIST */
    int max;           /* LIST */
    opt_fn fn;         /* CALL */
    void *user;        /* CALL */
    unsigned flags;
    bool *seen;        /* optional: set true when the option is given (a default that depends on it) */
    const char *help;  /* one line, or several separated by '\n'; NULL: not listed by opt_usage */
};

/* Type-checked destinations: a wrong pointer type is a compile error
 * (-Werror), not a silent overwrite. */
#define OPT_DEST_(p, T) ((void *)(1 ? (p) : (T *)0))

#define OPT_END {.kind = OPT_KIND_END}
#define OPT_FLAG(s, l, d, h) {.kind = OPT_KIND_FLAG, .shrt = s, .lng = l, .dest = OPT_DEST_(d, bool), .help = h}
#define OPT_STR(s, l, m, d, h) \
    {.kind = OPT_KIND_STR, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, const char *), .help = h}
#define OPT_LIST(s, l, m, d, n, mx, h)                                                                     \
    {.kind = OPT_KIND_LIST, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, const char *), .count = n, \
     .max = mx, .help = h}
#define OPT_INT(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_INT, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, int), .lo = a, .hi = b, .help = h}
#define OPT_I64(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_I64, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, int64_t), .lo = a, .hi = b, .help = h}
#define OPT_U64(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_U64, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, uint64_t), .ulo = a, .uhi = b, .help = h}
#define OPT_FLOAT(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_FLOAT, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, float), .dlo = a, .dhi = b, .help = h}
#define OPT_DOUBLE(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_DOUBLE, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, double), .dlo = a, .dhi = b, .help = h}
#define OPT_CHOICE(s, l, m, d, c, h) \
    {.kind = OPT_KIND_CHOICE, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, int), .choices = c, .help = h}
#define OPT_SIZE(s, l, m, d, a, b, h) \
    {.kind = OPT_KIND_SIZE, .shrt = s, .lng = l, .meta = m, .dest = OPT_DEST_(d, int), .lo = a, .hi = b, .help = h}
#define OPT_CALL(s, l, m, f, u, h) {.kind = OPT_KIND_CALL, .shrt = s, .lng = l, .meta = m, .fn = f, .user = u, .help = h}
#define OPT_GROUP(t) {.kind = OPT_KIND_GROUP, .dest = (void *)(t)}

/* Parse argv[1..argc) (argv[0] is the command's name) against specs.
 * prog starts every message ("ember run", "mkmodel"). Arguments that are not
 * options go to pos[0..max_pos) in order, their number in *n_pos (pos and
 * n_pos may be NULL when max_pos is 0); one more is an error.
 * Returns OPT_OK; OPT_HELP when -h/--help is given (nothing applied: print
 * usage to stdout, exit 0); OPT_ERROR with "PROG: ..." in err (OPT_ERR_LEN
 * bytes; exit 2). On OPT_ERROR the options before the bad one are applied. */
int opt_parse(const char *prog, const opt_spec *specs, int argc, char *const *argv, const char **pos, int max_pos,
              int *n_pos, char *err);

/* Presets: an option (an OPT_CHOICE whose destination is *preset, -1 when
 * not given) that sets defaults wherever it stands, while explicit options
 * win whatever their place ("--layers 2 --preset big" keeps 2 layers).
 * reset(user, p) sets every destination back to its default (-1 into
 * *preset) and then to preset p's values (p -1: none). The arguments are
 * parsed twice over the same destinations: once, from the defaults, to find
 * the preset and any error; then over the preset's values. No positional
 * arguments. Returns as opt_parse; on OPT_HELP the destinations hold the
 * defaults, for opt_usage. (preset is not const: it points into storage that
 * reset initializes, which a compiler would take for a read of it.) */
typedef void (*opt_reset_fn)(void *user, int preset);
int opt_parse_preset(const char *prog, const opt_spec *specs, int *preset, opt_reset_fn reset, void *user,
                     int argc, char *const *argv, char *err);

/* One line per option, "  -m, --model FILE        help (default X)", the
 * defaults read from the destinations. */
void opt_usage(FILE *f, const opt_spec *specs);

/* The number parsers behind the table, for positional arguments and values
 * parsed by hand: the whole of s, in lo..hi, or -1 with
 * "PROG: NAME 'S': expected ..." in err. */
int opt_i64(const char *prog, const char *name, const char *s, int64_t lo, int64_t hi, int64_t *out, char *err);
int opt_u64(const char *prog, const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out, char *err);
int opt_double(const char *prog, const char *name, const char *s, double lo, double hi, double *out, char *err);

#endif
