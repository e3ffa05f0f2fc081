/* lockfile.h - an exclusive lock on a file that names its holder, so that
 * two processes never share what one of them must own alone (a sim's
 * journal, an ipc:// socket path) and the second can say who holds it.
 *
 * The lock is flock(2) on PATH: the kernel drops it when its holder exits,
 * SIGKILL included, so a lock file left behind by a crash is no obstacle.
 * flock locks belong to an open file description, not a process, so two
 * takes in one process conflict too (tests take both sides in process).
 * The holder writes its pid into PATH for the refusal to name; release
 * unlinks PATH while still holding the lock, and a take checks that the file
 * it locked is still the one at PATH, so a release racing a take never
 * leaves two holders.
 *
 * Ownership: em_lockfile_take returns a lock the caller releases with
 * em_lockfile_release (NULL is a no-op). One thread per lock. */
#ifndef EMBER_LOCKFILE_H
#define EMBER_LOCKFILE_H

#include "core/status.h"

typedef struct em_lockfile em_lockfile;

/* Take PATH's lock (creating PATH). On failure NULL, err says why, and
 *   *holder: the holder's pid when another holds the lock, -1 when one does
 *            but has not written its pid yet, 0 when the failure is another;
 *   *sys_errno: then the errno of the failing call (ENOENT: no such folder,
 *            EACCES: no permission, ...). */
em_lockfile *em_lockfile_take(const char *path, long *holder, int *sys_errno, char *err);

/* Unlink PATH and drop the lock. */
void em_lockfile_release(em_lockfile *lk);

#endif
