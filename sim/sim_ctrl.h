/* sim_ctrl.h - the simulated robot as a crash-safe controller: joins the
 * world (sim.h) to the controller side of the robot link (robot_io/
 * rio_ctrl.h) and to a journal (sim_journal.h), so that the table and
 * every step's fate survive a restart of the process, SIGKILL included.
 * `ember sim` is argument parsing and a call of this module.
 *
 * The journal protocol. Records are JSON lines, each on disk (fdatasync)
 * before anything that depends on it is said on the wire:
 *   {"rec":"init","seed":S,"world":{...}}             first start
 *   {"rec":"accept","plan":P,"msg":{step message}}     before the step is acked
 *   {"rec":"start"|"resume","plan":P,"step":ID,"us":T} before its motion starts
 *   {"rec":"commit","plan":P,"step":ID,"status":"done"|"failed",
 *    "reason":..,"text":..,"world":{...},"us":T}      its effect, exactly once
 *   {"rec":"settled","plan":P,"msg":{...},"reason":..}  failed by the library
 *   {"rec":"estop","sent_us":..,"received_us":..,"halted_us":..}, {"rec":"reset"}
 *   {"rec":"goal","goal":[...]}
 * A step's effect on the world is applied only at its commit, and the commit
 * carries the whole world, so replay is: the last world in the journal, plus
 * each step's last known fate handed to rio_ctrl_restore. A step that was
 * moving when the process died is resumed (re-run from the start of its
 * motion) and commits once; a committed step is never run again; a torn
 * last record (a crash inside a write) is cut away at open. If a journal
 * write fails the controller stops rather than say on the wire what is not
 * on disk.
 *
 * Life: sim_ctrl_open (journal, replay, world) -> sim_ctrl_set_goal
 * (optional) -> sim_ctrl_bind (the link) -> sim_ctrl_poll or sim_ctrl_run
 * -> sim_ctrl_free. Freeing writes nothing: to the journal a free is the
 * same as a crash, which is what makes the protocol testable in process.
 *
 * Ownership: the caller frees a sim_ctrl with sim_ctrl_free (NULL is a
 * no-op); every string in sim_ctrl_config is copied or used only during
 * the call that takes it. Log lines (steps, estops, peers) go to cfg->log.
 * Threads: one thread uses a sim_ctrl; distinct sim_ctrls (with distinct
 * journals and endpoints) may run in distinct threads. Steady state
 * allocates a journal line per record, a state vector per state message and
 * a PNG per frame. */
#ifndef EMBER_SIM_CTRL_H
#define EMBER_SIM_CTRL_H

#include <stdio.h>

#include "robot_io/rio.h"
#include "sim/sim.h"
#include "sim/sim_journal.h"

typedef struct sim_ctrl sim_ctrl;

typedef struct sim_ctrl_config {
    const char *journal_path; /* created if absent, replayed if present (sim_ctrl_default_journal) */
    int fresh;                /* 1: start a new world, discarding the journal's records (a journal only) */
    sim_config world;         /* world.seed is used only for a new journal (sim_ctrl_seed says which) */
    double fps;               /* camera frames per second, 0 = none */
    int frame_w, frame_h;     /* 16..4096 */
    int png;                  /* 1: png frames, 0: rgb8 */
    double state_hz;          /* state messages per second, > 0 */
    int quiet;                /* 1: no per-step log lines */
    FILE *log;                /* NULL = stderr */
} sim_ctrl_config;

/* Defaults of `ember sim`: seed 1, 10 fps of 640x480 PNG, 10 Hz state; no
 * journal path (the caller names one, or asks sim_ctrl_default_journal). */
void sim_ctrl_config_defaults(sim_ctrl_config *cfg);

/* Where a journal lives when none is named, so that sims started in one
 * folder neither share one nor litter it: one per endpoint, in
 * $XDG_STATE_HOME/ember/ (an absolute XDG_STATE_HOME), else
 * $HOME/.local/state/ember/, named sim-ENDPOINT.journal with every character
 * of the endpoint but letters, digits and '.' as '-' ("tcp://127.0.0.1:5555"
 * -> sim-tcp-127.0.0.1-5555.journal). Creates the missing folders (mode
 * 0700, as XDG asks) and writes the path into path (cap bytes). */
ember_status sim_ctrl_default_journal(const char *endpoint, char *path, size_t cap, char *err);

/* Lock and open (or create) the journal, replay it, build the world from it
 * (or from cfg->world on a first start, journaling the init record). The
 * journal stays locked until sim_ctrl_free: a second controller on it is
 * refused. NULL on failure with the reason in err, and *why (may be NULL)
 * says whether the journal was the trouble and how (SIM_JOURNAL_DAMAGED:
 * damaged records or a world that does not restore, which cfg->fresh
 * discards; SIM_JOURNAL_FINE: something else, e.g. the world config). */
sim_ctrl *sim_ctrl_open(const sim_ctrl_config *cfg, sim_journal_trouble *why, char *err);
void sim_ctrl_free(sim_ctrl *s); /* NULL is a no-op */

/* Set a goal (JSON predicates, sim.h) and journal it; random = 1 draws a
 * feasible one from the seed instead, unless the journal already holds a
 * goal. goal_json NULL and random 0 do nothing. */
ember_status sim_ctrl_set_goal(sim_ctrl *s, const char *goal_json, int random, char *err);

/* Bind the robot link (link is copied) and hand the controller library
 * every step the journal knows, and the estop. On failure err says why (an
 * endpoint in use, keys) and s is left unbound. */
ember_status sim_ctrl_bind(sim_ctrl *s, const rio_config *link, char *err);

/* One round of the controller loop: wait for the next event at most until
 * the next motion tick (10 ms), state or frame is due, handle it, advance
 * motion, publish what is due. A failure of the link, or a journal record
 * that cannot be written (the controller must stop then), returns a
 * negative status with the message in sim_ctrl_errmsg. */
ember_status sim_ctrl_poll(sim_ctrl *s);

/* sim_ctrl_poll until stop(user) answers non-zero (stop may be NULL),
 * duration_s passes (<= 0: no limit), or a poll fails. */
ember_status sim_ctrl_run(sim_ctrl *s, double duration_s, int (*stop)(void *user), void *user);

/* What this controller has done since it was opened. */
typedef struct sim_ctrl_counts {
    long done, failed, resumed; /* steps committed done / failed; steps resumed after a restart */
    int replayed_steps;         /* steps the journal knew at open */
    size_t torn_bytes;          /* a torn last record cut away at open (0: none) */
    int from_journal;           /* 1: the world came from the journal */
    int estop;                  /* the estop is on */
} sim_ctrl_counts;
sim_ctrl_counts sim_ctrl_get_counts(const sim_ctrl *s);

const sim_world *sim_ctrl_world(const sim_ctrl *s);
uint64_t sim_ctrl_seed(const sim_ctrl *s);                /* the world's seed (the journal's, on a restart) */
const rio_stats *sim_ctrl_link_stats(const sim_ctrl *s); /* NULL before sim_ctrl_bind */
const char *sim_ctrl_errmsg(const sim_ctrl *s);

#endif
