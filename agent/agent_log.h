/* agent_log.h - the agent loop's decision log: one JSON object per line,
 * appended and flushed to disk (fsync) before the action it records is
 * taken, so a run can be replayed, inspected, and resumed after the agent
 * itself restarts.
 *
 * Records (every one has "type", "run" and "t_ms", milliseconds since the
 * epoch); agent/README.md documents each field:
 *   run      a run starts: the instruction, the model files, the budgets
 *   plan     a planning cycle's decision, written before its steps go out:
 *            what it saw (frame ids, saved frame paths, the state vector),
 *            the prompt's positions, the plan text and steps, the votes,
 *            the instance id the steps are sent under, timings
 *   fate     a step's final fate (done / failed with reason), and running
 *   outcome  how a cycle's plan ended (finished, timed out, ...) and the
 *            feedback line that goes into the next prompt
 *   end      the run's end: "success" or why not
 *
 * Resume: agent_log_load reads a log back and says where its last run
 * stands: ended, or open with the counts so far and, when its last plan
 * has no outcome, that plan's instance id and steps, which the agent sends
 * again under the same instance: the controller answers finished steps from
 * its memory and runs nothing twice.
 *
 * Ownership: agent_log_open returns a log the caller closes; records are
 * built by the caller as cJSON objects and consumed by agent_log_write. */
#ifndef EMBER_AGENT_LOG_H
#define EMBER_AGENT_LOG_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "robot_io/rio_msg.h"

typedef struct agent_log agent_log;

/* Open path for appending (created when missing). A last line cut short
 * by a crash is terminated first, so the next record starts a line (the
 * reader skips the cut one). */
agent_log *agent_log_open(const char *path, char *err);
void agent_log_close(agent_log *l); /* NULL is a no-op */

/* Add "type", "run" and "t_ms" to rec, append it as one line, fsync; rec
 * is deleted in every case. EM_ERR_IO when the disk refuses. */
ember_status agent_log_write(agent_log *l, const char *type, const char *run, cJSON *rec, char *err);

/* Steps as the log (and the schema's plan files) write them:
 * [{"id":"s1","skill":"pick","args":{"object":"red_cube"}}, ...]. */
cJSON *agent_log_steps_json(const rio_step *steps, int n_steps);

#define AGENT_LOG_HISTORY 16 /* feedback lines a resumed run gets back */

/* Where the last run in a log stands. */
typedef struct agent_log_run {
    int found;                   /* 0: the log holds no run */
    int ended;                   /* 1: it has its end record */
    char end[32];                /* ended: "success", "step_budget", ... */
    char run[RIO_ID_LEN];
    char *instruction;           /* heap */
    int cycles;                  /* plan records */
    int replans;                 /* cycles after the first */
    int steps_sent;              /* steps of all plans sent */
    int n_history;               /* feedback lines of the outcomes, oldest first */
    char *history[AGENT_LOG_HISTORY]; /* heap */
    /* the last plan, when it has no outcome record (it may still run) */
    int open_plan;
    char instance[RIO_ID_LEN];
    rio_step *steps;             /* heap */
    int n_steps;
} agent_log_run;

/* Read path (missing: found = 0). Lines that do not parse are skipped (a
 * cut last line); EM_ERR_FORMAT only when a plan record's steps do not. */
ember_status agent_log_load(const char *path, agent_log_run *out, char *err);
void agent_log_run_free(agent_log_run *r);

#endif
