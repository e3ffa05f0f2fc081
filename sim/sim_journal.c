/* sim_journal.c - append-only JSON-lines journal (see sim_journal.h). */
#include "sim/sim_journal.h"

#include "core/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sim_journal {
    int fd;
    em_lockfile *lock; /* PATH.lock, held from open to close */
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

/* The kind of trouble an errno from opening or locking means. */
static sim_journal_trouble trouble_of(int e) {
    if (e == ENOENT || e == ENOTDIR) return SIM_JOURNAL_NO_FOLDER;
    if (e == EISDIR) return SIM_JOURNAL_IS_FOLDER;
    if (e == EACCES || e == EPERM || e == EROFS) return SIM_JOURNAL_NO_PERMISSION;
    return SIM_JOURNAL_IO;
}

/* The first line of buf, printable and short, for a message. */
static void first_line(const char *buf, size_t n, char *out, size_t cap) {
    size_t k = 0, i = 0;
    for (; i < n && buf[i] != '\n' && k + 4 < cap; i++)
        out[k++] = (unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f ? buf[i] : '?';
    if (i < n && buf[i] != '\n') {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = 0;
}

sim_journal *sim_journal_open(const char *path, const sim_journal_opts *opts, size_t *torn, sim_journal_trouble *why,
                              char *err) {
    static const sim_journal_opts none = {0};
    sim_journal_trouble trouble_v, *trouble = why ? why : &trouble_v;
    if (!opts) opts = &none;
    *trouble = SIM_JOURNAL_IO;
    if (torn) *torn = 0;
    if (strlen(path) >= sizeof(((sim_journal *)0)->path)) {
        em_err(err, EM_ERR_ARG, "sim_journal_open: path longer than %zu bytes: %s", sizeof(((sim_journal *)0)->path) - 1,
               path);
        return NULL;
    }
    sim_journal *j = calloc(1, sizeof *j);
    char *buf = NULL;
    if (!j) { em_err(err, EM_ERR_NOMEM, "sim_journal_open: out of memory"); return NULL; }
    j->fd = -1;
    strcpy(j->path, path);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        *trouble = SIM_JOURNAL_IS_FOLDER;
        em_err(err, EM_ERR_ARG, "sim_journal_open: %s is a folder, not a journal file", path);
        goto fail;
    }
    /* The lock first: nothing below (reading, cutting a torn tail, starting
     * fresh) may happen while another process appends. */
    char lock_path[sizeof j->path + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    long holder;
    int e;
    if (!(j->lock = em_lockfile_take(lock_path, &holder, &e, err))) {
        if (holder) {
            *trouble = SIM_JOURNAL_IN_USE;
            if (holder > 0)
                em_err(err, EM_ERR_IO, "sim_journal_open: %s is in use by process %ld (which holds %s)", path, holder,
                       lock_path);
            else
                em_err(err, EM_ERR_IO, "sim_journal_open: %s is in use by another process (which holds %s)", path,
                       lock_path);
        } else {
            *trouble = trouble_of(e);
            em_err(err, EM_ERR_IO, "sim_journal_open: cannot create the lock file %s: %s", lock_path, strerror(e));
        }
        goto fail;
    }
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        *trouble = trouble_of(errno);
        em_err(err, EM_ERR_IO, "sim_journal_open: open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(j->fd, &sb) < 0) {
        em_err(err, EM_ERR_IO, "sim_journal_open: stat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        *trouble = SIM_JOURNAL_NOT_JOURNAL;
        em_err(err, EM_ERR_FORMAT, "sim_journal_open: %s is not a regular file", path);
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
    /* A journal begins with the magic (a torn first record with part of
     * it); anything else is someone's file, which no flag may destroy. */
    size_t nm = opts->magic ? strlen(opts->magic) : 0;
    if (size > 0 && memcmp(buf, opts->magic ? opts->magic : "", size < nm ? size : nm)) {
        char head[64];
        first_line(buf, size, head, sizeof head);
        *trouble = SIM_JOURNAL_NOT_JOURNAL;
        em_err(err, EM_ERR_FORMAT, "sim_journal_open: %s is not a sim journal (it begins \"%s\"); left as it is", path,
               head);
        goto fail;
    }
    if (opts->fresh && size > 0) {
        if (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0) {
            *trouble = trouble_of(errno);
            em_err(err, EM_ERR_IO, "sim_journal_open: emptying %s: %s", path, strerror(errno));
            goto fail;
        }
        size = 0;
    }
    /* Replay complete lines; whatever follows the last newline is torn. */
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] != '\n') continue;
        if (i > start) {
            if (opts->replay && opts->replay(opts->user, buf + start, i - start, err) != 0) {
                *trouble = SIM_JOURNAL_DAMAGED;
                goto fail;
            }
            j->records++;
        }
        start = i + 1;
    }
    if (start < size) {
        if (torn) *torn = size - start;
        if (ftruncate(j->fd, (off_t)start) < 0) {
            *trouble = trouble_of(errno);
            em_err(err, EM_ERR_IO, "sim_journal_open: cutting the torn tail of %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (lseek(j->fd, (off_t)start, SEEK_SET) < 0) {
        em_err(err, EM_ERR_IO, "sim_journal_open: seek %s: %s", path, strerror(errno));
        goto fail;
    }
    free(buf);
    *trouble = SIM_JOURNAL_FINE;
    return j;
fail:
    free(buf);
    sim_journal_close(j);
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
    em_lockfile_release(j->lock); /* after the close: no write can follow the unlock */
    free(j);
}
