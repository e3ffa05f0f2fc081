/* skills.h - the skill registry: the skills a controller offers (from its
 * hello, or from a skills file in the hello's shape), with what a plan can
 * write for each argument worked out once, so that the plan grammar, the
 * prompt's description, the plan parser and the renderer
 * (agent/plan_text.h) all agree on it.
 *
 * What can be written ("domains"):
 *  - number: fixed point with exactly `decimals` digits after the point
 *    (the registry's, AGENT_PLAN_DECIMALS by default), as the scaled
 *    integers lo..hi (value = n / 10^decimals); with a declared range only
 *    the grid points inside it (by the same double comparison
 *    rio_step_check makes), without one at most AGENT_PLAN_MAX_DIGITS
 *    digits;
 *  - integer: the same with 0 decimals;
 *  - string with allowed values: those values (each written JSON-quoted;
 *    values that are not valid UTF-8, or repeat an earlier one, are left
 *    out); without allowed values: 0..63 bytes of AGENT_PLAN_STR_CHARS;
 *  - bool: true, false.
 * An argument with nothing writable (a range holding no grid point, no
 * valid allowed value) cannot appear in a plan: when it is optional it is
 * left out of the plan format; when required its skill is left out. Each
 * such decision is one line of the registry's notes (agent_skills_notes),
 * for the caller's log. A registry that leaves no skill usable is refused.
 *
 * Ownership: agent_skills_create and friends return a registry the caller
 * frees with agent_skills_free (NULL is a no-op); the skills given are
 * copied. A registry is immutable once made: any number of threads may
 * read it. */
#ifndef EMBER_AGENT_SKILLS_H
#define EMBER_AGENT_SKILLS_H

#include "core/status.h"
#include "robot_io/rio_msg.h"

#define AGENT_PLAN_DECIMALS 2      /* default digits after a number's point */
#define AGENT_PLAN_MAX_DECIMALS 6
/* Digits of a number's scaled integer (integer and fraction digits
 * together): below 10^15 every such value and its n / 10^d are exact or
 * correctly rounded in a double, and integers stay below JSON's 2^53. */
#define AGENT_PLAN_MAX_DIGITS 15
/* What a free string argument (one without allowed values) may hold: no
 * quote, no backslash, so it never needs an escape. As a regex class body. */
#define AGENT_PLAN_STR_CHARS "A-Za-z0-9 _.:/-"
#define AGENT_PLAN_STR_MAX (RIO_STR_LEN - 1) /* bytes of a free string */

typedef struct agent_skills agent_skills;

/* What a plan may write for one declared argument. */
typedef struct agent_arg_dom {
    int usable;       /* 0: nothing can be written; the argument is left out (optional) or its skill is */
    int decimals;     /* number: the registry's decimals; integer: 0 */
    long long lo, hi; /* number, integer: the scaled bounds, lo <= hi when usable */
    int n_enum;       /* string with allowed values: how many can be written */
    int enum_idx[RIO_MAX_ENUM]; /* ... their indices into the spec's enums, in declared order */
} agent_arg_dom;

/* A registry over n_skills skills (1..RIO_MAX_SKILLS; names unique, as a
 * decoded hello has them). decimals: digits after a number's point,
 * 0..AGENT_PLAN_MAX_DECIMALS, or -1 for AGENT_PLAN_DECIMALS. */
agent_skills *agent_skills_create(const rio_skill *skills, int n_skills, int decimals, char *err);
/* The same from a controller's hello (its skills). */
agent_skills *agent_skills_from_hello(const rio_hello *hello, int decimals, char *err);
/* The same from a skills file (rio_skills_parse: {"skills": [...]}, a whole
 * hello, or the bare list). */
agent_skills *agent_skills_load(const char *path, int decimals, char *err);
void agent_skills_free(agent_skills *reg);

/* Every skill as declared (usable or not), for rio_step_check. */
const rio_skill *agent_skills_all(const agent_skills *reg);
int agent_skills_count(const agent_skills *reg);
/* 1 when skill i can appear in a plan. */
int agent_skills_usable(const agent_skills *reg, int i);
int agent_skills_n_usable(const agent_skills *reg);
/* Index of the skill named name, or -1. */
int agent_skills_find(const agent_skills *reg, const char *name);
/* What can be written for argument a of skill i. */
const agent_arg_dom *agent_skills_dom(const agent_skills *reg, int i, int a);
int agent_skills_decimals(const agent_skills *reg);
/* What was left out and why, one line each ("" when nothing); owned by reg. */
const char *agent_skills_notes(const agent_skills *reg);

#endif
