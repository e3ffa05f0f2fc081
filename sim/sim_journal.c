/* sim_journal.c - append-only JSON-lines journal (see sim_journal.h). */
#include "sim/sim_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sim_journal {
    int fd;
    size_t records;
    char path[256];
};

static ember_status write_all(int fd, const char *p, size_t n, const char *path, char *err) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return em_err(err, EM_ERR_IO, "sim_journal: write %s: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return EM_OK;
}

sim_journal *sim_journal_open(const char *path, sim_journal_fn fn, void *user, size_t *torn, char *err) {
    if (torn) *torn = 0;
    if (strlen(path) >= sizeof(((sim_journal *)0)->path)) {
        em_err(err, EM_ERR_ARG, "sim_journal_open: path longer than 255 bytes: %s", path);
        return NULL;
    }
    sim_journal *j = calloc(1, sizeof *j);
    char *buf = NULL;
    if (!j) { em_err(err, EM_ERR_NOMEM, "sim_journal_open: out of memory"); return NULL; }
    strcpy(j->path, path);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        em_err(err, EM_ERR_IO, "sim_journal_open: open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(j->fd, &sb) < 0) {
        em_err(err, EM_ERR_IO, "sim_journal_open: stat %s: %s", path, strerror(errno));
        goto fail;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    buf = malloc(size + 1);
    if (!buf) { em_err(err, EM_ERR_NOMEM, "sim_journal_open: %s: out of memory for %zu bytes", path, size); goto fail; }
    while (got < size) {
        ssize_t r = pread(j->fd, buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            em_err(err, EM_ERR_IO, "sim_journal_open: read %s: %s", path, r < 0 ? strerror(errno) : "file shrank");
            goto fail;
        }
        got += (size_t)r;
    }
    /* Replay complete lines; whatever follows the last newline is torn. */
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] != '\n') continue;
        if (i > start) {
            if (fn && fn(user, buf + start, i - start, err) != 0) goto fail;
            j->records++;
        }
        start = i + 1;
    }
    if (start < size) {
        if (torn) *torn = size - start;
        if (ftruncate(j->fd, (off_t)start) < 0) {
            em_err(err, EM_ERR_IO, "sim_journal_open: cutting the torn tail of %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (lseek(j->fd, (off_t)start, SEEK_SET) < 0) {
        em_err(err, EM_ERR_IO, "sim_journal_open: seek %s: %s", path, strerror(errno));
        goto fail;
    }
    free(buf);
    return j;
fail:
    free(buf);
    if (j->fd >= 0) close(j->fd);
    free(j);
    return NULL;
}

ember_status sim_journal_append(sim_journal *j, const char *line, int sync, char *err) {
    size_t n = strlen(line);
    if (memchr(line, '\n', n))
        return em_err(err, EM_ERR_ARG, "sim_journal_append: %s: a record must be one line", j->path);
    /* One write of line + newline, so a crash tears at most this record. */
    char stackbuf[4096], *p = n + 1 <= sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!p) return em_err(err, EM_ERR_NOMEM, "sim_journal_append: out of memory for %zu bytes", n + 1);
    memcpy(p, line, n);
    p[n] = '\n';
    ember_status st = write_all(j->fd, p, n + 1, j->path, err);
    if (p != stackbuf) free(p);
    if (st) return st;
    if (sync && fdatasync(j->fd) < 0)
        return em_err(err, EM_ERR_IO, "sim_journal_append: fdatasync %s: %s", j->path, strerror(errno));
    j->records++;
    return EM_OK;
}

size_t sim_journal_records(const sim_journal *j) { return j->records; }

void sim_journal_close(sim_journal *j) {
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    free(j);
}
