/* lockfile.c - exclusive lock files that name their holder (lockfile.h). */
#include "core/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct em_lockfile {
    int fd;
    char *path;
};

/* The pid a holder wrote, or -1 (not written yet, or not a number). */
static long read_holder(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == 0) ? pid : -1;
}

em_lockfile *em_lockfile_take(const char *path, long *holder, int *sys_errno, char *err) {
    *holder = 0;
    *sys_errno = 0;
    /* A few rounds: each lost race is a holder that released (and
     * unlinked) between our open and our flock; more in a row means a
     * livelock, which is a bug elsewhere. */
    for (int round = 0; round < 16; round++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            *sys_errno = errno;
            em_err(err, EM_ERR_IO, "em_lockfile_take: open %s: %s", path, strerror(errno));
            return NULL;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            if (e == EWOULDBLOCK) {
                *holder = read_holder(fd);
                if (*holder > 0) em_err(err, EM_ERR_IO, "em_lockfile_take: %s: held by process %ld", path, *holder);
                else em_err(err, EM_ERR_IO, "em_lockfile_take: %s: held by another process", path);
            } else {
                *sys_errno = e;
                em_err(err, EM_ERR_IO, "em_lockfile_take: flock %s: %s", path, strerror(e));
            }
            close(fd);
            return NULL;
        }
        struct stat held, now;
        if (fstat(fd, &held) != 0 || stat(path, &now) != 0 || held.st_dev != now.st_dev || held.st_ino != now.st_ino) {
            close(fd); /* we locked a file its last holder had unlinked: try the one at path now */
            continue;
        }
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
            *sys_errno = errno;
            em_err(err, EM_ERR_IO, "em_lockfile_take: writing the pid into %s: %s", path, strerror(errno));
            unlink(path);
            close(fd);
            return NULL;
        }
        em_lockfile *lk = malloc(sizeof *lk);
        char *copy = strdup(path);
        if (!lk || !copy) {
            free(lk);
            free(copy);
            unlink(path);
            close(fd);
            *sys_errno = ENOMEM;
            em_err(err, EM_ERR_NOMEM, "em_lockfile_take: out of memory");
            return NULL;
        }
        lk->fd = fd;
        lk->path = copy;
        return lk;
    }
    em_err(err, EM_ERR_IO, "em_lockfile_take: %s: replaced 16 times while being locked", path);
    return NULL;
}

void em_lockfile_release(em_lockfile *lk) {
    if (!lk) return;
    unlink(lk->path); /* before the unlock: a taker that saw this file retries on the new one */
    close(lk->fd);
    free(lk->path);
    free(lk);
}
