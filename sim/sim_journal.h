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
 * One process at a time: open takes an exclusive lock on PATH.lock
 * (core/lockfile.h), held until close, so a second controller on the same
 * journal is refused with the holder's pid instead of interleaving its
 * records with the first one's. Starting fresh happens under that lock and
 * only to a file that is a journal (empty, or beginning with the records'
 * magic bytes): a notes file named by mistake is refused, never emptied.
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

/* Why an open failed, for a caller that advises what to do about it. */
typedef enum sim_journal_trouble {
    SIM_JOURNAL_FINE = 0,
    SIM_JOURNAL_DAMAGED = 1,   /* a journal whose records do not replay: starting fresh discards it */
    SIM_JOURNAL_NOT_JOURNAL,   /* a file that is not a journal: refused, fresh or not */
    SIM_JOURNAL_IN_USE,        /* another process (or sim_journal) holds its lock */
    SIM_JOURNAL_NO_FOLDER,     /* the folder it would be in does not exist */
    SIM_JOURNAL_IS_FOLDER,     /* the path names a folder */
    SIM_JOURNAL_NO_PERMISSION, /* it (or its lock file) cannot be created or written */
    SIM_JOURNAL_IO,            /* another system error (the message has it) */
} sim_journal_trouble;

typedef struct sim_journal_opts {
    sim_journal_fn replay; /* may be NULL */
    void *user;            /* replay's */
    const char *magic;     /* the bytes every record begins with; NULL: any file is a journal */
    int fresh;             /* 1: discard the records (of an empty file or a journal only) */
} sim_journal_opts;

/* Lock, open (creating it) and replay. *torn (may be NULL) gets the number
 * of bytes of a torn tail that was cut away; *why (may be NULL) the kind of
 * failure. */
sim_journal *sim_journal_open(const char *path, const sim_journal_opts *opts, size_t *torn, sim_journal_trouble *why,
                              char *err);

/* Append one line (no newline inside; it is added). */
ember_status sim_journal_append(sim_journal *j, const char *line, int sync, char *err);

/* Records replayed at open plus appended since. */
size_t sim_journal_records(const sim_journal *j);

void sim_journal_close(sim_journal *j);

#endif
