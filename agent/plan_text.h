/* plan_text.h - plans as text: the format a language model writes a plan
 * in (agent/PLAN_FORMAT.md), the GBNF grammar compiled from a skill
 * registry (agent/skills.h) that holds a sampler to it, the parser from
 * that text to the robot link's steps (rio_step), the renderer back, and
 * the skills described for a prompt.
 *
 * The format, in short: one step per line, `skill(name=value, ...)`, the
 * arguments in the skill's declared order (optional ones may be left out),
 * strings JSON-quoted, integers in decimal, numbers in fixed point with the
 * registry's decimals, booleans true/false; an empty line ends the plan:
 *     pick(object="red_block")\n
 *     place_at(x=-12.50, y=40.00)\n
 *     \n
 *
 * The promise: every text the grammar accepts parses (agent_plan_parse)
 * into steps that pass rio_step_check against the registry's skills, and
 * the parser accepts nothing else (the same language, with max_steps). The
 * grammar is regular (no rule refers to itself, directly or not), so an
 * engine can compile it into a small automaton.
 *
 * Ownership: every char ** and rio_step ** result is malloc'd and the
 * caller frees it. Nothing here keeps state between calls; all functions
 * may be called from any thread on an immutable registry. */
#ifndef EMBER_AGENT_PLAN_TEXT_H
#define EMBER_AGENT_PLAN_TEXT_H

#include <stddef.h>

#include "agent/skills.h"
#include "core/status.h"
#include "robot_io/rio_msg.h"

/* ---------------------------------------------------------------------------
 * The plan grammar, parser and renderer */

/* The GBNF (llama.cpp's grammars/README.md syntax) of plans of 1..max_steps
 * (<= RIO_MAX_STEPS) steps over the registry's usable skills; its start
 * rule is `root`. */
ember_status agent_plan_grammar(const agent_skills *reg, int max_steps, char **gbnf, char *err);

/* Parse a whole plan (1..max_steps step lines, then an empty line; len
 * bytes, nothing may follow the empty line). Step i gets index i and the id
 * "<id_prefix><i+1>" (id_prefix NULL: "s"). Errors name the line and the
 * column (1-based, in bytes): "agent_plan_parse: line 2, column 6: ...". */
ember_status agent_plan_parse(const agent_skills *reg, const char *text, size_t len, int max_steps,
                              const char *id_prefix, rio_step **steps, int *n_steps, char *err);

/* Parse one step line of len bytes, without its newline (as a caller that
 * streams a plan sees each line end). st's id and index are left as they
 * were; errors name the column. */
ember_status agent_plan_parse_step(const agent_skills *reg, const char *line, size_t len, rio_step *st, char *err);

/* One step as a plan line without the newline: `pick(object="red_block")`.
 * With a registry (may be NULL) the arguments follow the skill's declared
 * order and types; a step the parser produced renders to the text it came
 * from. A value the format cannot hold (a number off the grid, a string
 * with other characters) is still written faithfully (%.17g, JSON
 * escapes), for logs. Returns the length it needed (as snprintf; out is
 * always NUL-terminated when n > 0), -1 when out of memory (out is ""). */
int agent_step_render(const agent_skills *reg, const rio_step *st, char *out, size_t n);

/* Steps as plan text: each line, then the empty line. */
ember_status agent_plan_render(const agent_skills *reg, const rio_step *steps, int n_steps, char **text, char *err);

/* The feedback line for a prompt (Inner Monologue): "step 3
 * pick(object=\"red_block\") failed: grasp_slipped" (number is 1-based);
 * reason only for failed. Returns as agent_step_render. */
int agent_step_fate_line(const agent_skills *reg, int number, const rio_step *st, rio_fb_status status,
                         const char *reason, char *out, size_t n);

/* The feedback line after a plan that ran to its end with the goal not met
 * (goal_text: the controller's goal sentence, may be empty): "the plan
 * ended but the goal is not met: put the red cube in the bowl". */
void agent_goal_unmet_line(const char *goal_text, char *out, size_t n);

/* The usable skills for a prompt, one line each, as a plan writes them:
 *     pick(object: "red_block" | "blue_block")  Grasp a block and lift it.
 *     place_at(x: number -50.00..50.00, y: number 10.00..70.00)  Put ...
 *     wait(ticks: integer 1..1000, quiet?: bool)
 * `?` marks an optional argument. */
ember_status agent_skills_describe(const agent_skills *reg, char **text, char *err);

/* s JSON-quoted as the plan text writes strings: ASCII only, `"` and `\`
 * escaped, every other byte outside 0x20..0x7e as \uXXXX of its code point
 * (a surrogate pair past U+FFFF, lower-case hex). Returns the length, or -1
 * when s is not valid UTF-8 (out then holds a rendering with each bad byte
 * as \u00XX, for logs). out needs AGENT_PLAN_QUOTED_LEN bytes for a string
 * of up to RIO_STR_LEN - 1 bytes; a longer result is cut (as snprintf). */
#define AGENT_PLAN_QUOTED_LEN (6 * RIO_STR_LEN + 3)
int agent_json_quote(const char *s, char *out, size_t n);

/* ---------------------------------------------------------------------------
 * Fixed-point numbers and their patterns (agent/plan_range.c) */

/* The text of n / 10^decimals: "-12.50" (decimals 2), "7" (decimals 0); no
 * leading zeros, "0." before a pure fraction, never "-0". |n| <
 * 10^AGENT_PLAN_MAX_DIGITS. Returns the length (buf needs 20 bytes). */
int agent_fixed_format(long long n, int decimals, char *buf);
/* The double that text reads as (strtod), which is what the parser gives. */
double agent_fixed_value(long long n, int decimals);
/* The scaled bounds of the grid points n / 10^decimals inside [min, max]
 * (has_range 0: no bounds) and within AGENT_PLAN_MAX_DIGITS digits. 0 when
 * there is at least one (*lo <= *hi), -1 when none. */
int agent_fixed_bounds(int has_range, double min, double max, int decimals, long long *lo, long long *hi);

typedef enum agent_pattern_syntax {
    AGENT_PATTERN_GBNF = 0, /* the right-hand side of a GBNF rule */
    AGENT_PATTERN_ERE,      /* a whole anchored POSIX extended regex, ^(...)$ */
} agent_pattern_syntax;

/* A pattern that matches exactly the texts agent_fixed_format writes for
 * lo <= n <= hi (lo <= hi, both below 10^AGENT_PLAN_MAX_DIGITS in size):
 * alternatives of fixed-length sequences of digit classes, split by sign
 * and digit count. */
ember_status agent_fixed_pattern(long long lo, long long hi, int decimals, agent_pattern_syntax syntax, char **out,
                                 char *err);

#endif
