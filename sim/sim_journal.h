/* sim_journal.h - an append-only journal of JSON lines, so that the
 * simulated robot's world and the fate of every step survive its own
 * restart, as a real table would.
 *
 * Workload: a handful of records per step (accepted, started, committed),
 * a few per second; each is one write(2) of one line. A record appended
 * with sync=1 is on disk (fdatasync) before the call returns: the
 * controller journals a step before acknowledging it, so nothing it
 * accepted is lost. A crash can leave a torn last line; opening the journal
 * replays every complete line, reports the torn tail through *torn, and cuts
 * it away so later appends start on a clean line.
 *
 * Ownership: sim_journal_open returns a journal the caller closes with
 * sim_journal_close (NULL is a no-op). One thread at a time. */
#ifndef EMBER_SIM_JOURNAL_H
#define EMBER_SIM_JOURNAL_H

#include <stddef.h>

#include "core/status.h"

typedef struct sim_journal sim_journal;

/* Called once per complete line found at open, in order; the line is not
 * NUL-terminated past len and excludes the newline. A non-zero return stops
 * the replay and fails the open (the callback writes its reason into err). */
typedef int (*sim_journal_fn)(void *user, const char *line, size_t len, char *err);

/* Open (creating it) and replay. *torn (may be NULL) gets the number of
 * bytes of a torn tail that was cut away. */
sim_journal *sim_journal_open(const char *path, sim_journal_fn fn, void *user, size_t *torn, char *err);

/* Append one line (no newline inside; it is added). */
ember_status sim_journal_append(sim_journal *j, const char *line, int sync, char *err);

/* Records replayed at open plus appended since. */
size_t sim_journal_records(const sim_journal *j);

void sim_journal_close(sim_journal *j);

#endif
