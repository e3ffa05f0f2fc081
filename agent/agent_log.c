/* agent_log.c - the agent loop's JSON-lines decision log (agent_log.h). */
#include "agent/agent_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "robot_io/rio.h"

struct agent_log {
    int fd;
    char path[1024];
};

agent_log *agent_log_open(const char *path, char *err) {
    agent_log *l = calloc(1, sizeof *l);
    if (!l) {
        em_err(err, EM_ERR_NOMEM, "agent log: out of memory");
        return NULL;
    }
    snprintf(l->path, sizeof l->path, "%s", path);
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        em_err(err, EM_ERR_IO, "--log %s: %s", path, strerror(errno));
        free(l);
        return NULL;
    }
    /* A crash mid-line leaves no newline at the end: end that line, so the
     * next record is a line of its own (the reader skips the cut one). */
    off_t end = lseek(l->fd, 0, SEEK_END);
    if (end > 0) {
        char c = '\n';
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (pread(rfd, &c, 1, end - 1) != 1) c = '\n';
            close(rfd);
        }
        if (c != '\n' && write(l->fd, "\n", 1) != 1) {
            em_err(err, EM_ERR_IO, "--log %s: %s", path, strerror(errno));
            agent_log_close(l);
            return NULL;
        }
    }
    return l;
}

void agent_log_close(agent_log *l) {
    if (!l) return;
    close(l->fd);
    free(l);
}

ember_status agent_log_write(agent_log *l, const char *type, const char *run, cJSON *rec, char *err) {
    ember_status st = EM_OK;
    char *s = NULL;
    /* type, run and time first: a person reading the file sees them first.
     * Milliseconds: 13 digits, which a JSON number (a double printed to 15
     * digits by cJSON) keeps exactly; microseconds would not. */
    cJSON *head = cJSON_CreateObject();
    if (!head || !rec || !cJSON_AddStringToObject(head, "type", type) || !cJSON_AddStringToObject(head, "run", run) ||
        !cJSON_AddNumberToObject(head, "t_ms", (double)(rio_now_us() / 1000))) {
        st = em_err(err, EM_ERR_NOMEM, "agent log: out of memory");
        goto done;
    }
    while (rec->child) {
        cJSON *it = cJSON_DetachItemViaPointer(rec, rec->child);
        cJSON_AddItemToObject(head, it->string, it); /* keeps the key it has */
    }
    if (!(s = cJSON_PrintUnformatted(head))) {
        st = em_err(err, EM_ERR_NOMEM, "agent log: out of memory");
        goto done;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the terminator: written by length */
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(l->fd, s + off, n + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = em_err(err, EM_ERR_IO, "--log %s: %s", l->path, strerror(errno));
            goto done;
        }
        off += (size_t)w;
    }
    if (fsync(l->fd) != 0 && errno != EINVAL) st = em_err(err, EM_ERR_IO, "--log %s: fsync: %s", l->path, strerror(errno));
done:
    free(s);
    cJSON_Delete(head);
    cJSON_Delete(rec);
    return st;
}

cJSON *agent_log_steps_json(const rio_step *steps, int n_steps) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n_steps; i++) {
        cJSON *o = cJSON_CreateObject(), *args = o ? cJSON_AddObjectToObject(o, "args") : NULL;
        if (!args || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddStringToObject(o, "id", steps[i].step_id);
        cJSON_AddStringToObject(o, "skill", steps[i].skill);
        for (int k = 0; k < steps[i].n_args; k++) {
            const rio_arg *a = &steps[i].args[k];
            switch (a->type) {
            case RIO_ARG_NUMBER:
            case RIO_ARG_INTEGER: cJSON_AddNumberToObject(args, a->name, a->num); break;
            case RIO_ARG_STRING: cJSON_AddStringToObject(args, a->name, a->str); break;
            case RIO_ARG_BOOL: cJSON_AddBoolToObject(args, a->name, a->boolean); break;
            }
        }
    }
    return arr;
}

void agent_log_run_free(agent_log_run *r) {
    free(r->instruction);
    for (int i = 0; i < r->n_history; i++) free(r->history[i]);
    free(r->steps);
    memset(r, 0, sizeof *r);
}

static const char *jstr(const cJSON *o, const char *k) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return s ? s : "";
}

/* A plan record's steps back into rio_steps, through the schema's own plan
 * parser (the same checks as a plan file). */
static ember_status load_steps(const cJSON *steps, const char *instance, agent_log_run *r, char *err) {
    if (!cJSON_IsArray(steps)) return em_err(err, EM_ERR_FORMAT, "a plan record without a steps array");
    cJSON *doc = cJSON_CreateObject(), *copy = cJSON_Duplicate(steps, 1);
    char *s = NULL;
    if (doc && copy && cJSON_AddItemToObject(doc, "steps", copy)) copy = NULL; /* doc owns it now */
    if (doc && !copy && cJSON_AddStringToObject(doc, "plan", instance[0] ? instance : "p"))
        s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(copy);
    cJSON_Delete(doc);
    if (!s) return em_err(err, EM_ERR_NOMEM, "out of memory");
    char plan_id[RIO_ID_LEN];
    free(r->steps);
    r->steps = NULL;
    r->n_steps = 0;
    ember_status st = rio_plan_parse(s, strlen(s), plan_id, &r->steps, &r->n_steps, err);
    free(s);
    return st;
}

static void add_history(agent_log_run *r, const char *line) {
    if (!line[0]) return;
    char *c = strdup(line);
    if (!c) return;
    if (r->n_history == AGENT_LOG_HISTORY) {
        free(r->history[0]);
        memmove(r->history, r->history + 1, (AGENT_LOG_HISTORY - 1) * sizeof *r->history);
        r->n_history--;
    }
    r->history[r->n_history++] = c;
}

ember_status agent_log_load(const char *path, agent_log_run *r, char *err) {
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return EM_OK;
        return em_err(err, EM_ERR_IO, "--log %s: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    ember_status st = EM_OK;
    long lineno = 0;
    while (st == EM_OK && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        const char *type = jstr(o, "type");
        if (!strcmp(type, "run")) {
            agent_log_run_free(r);
            r->found = 1;
            snprintf(r->run, sizeof r->run, "%s", jstr(o, "run"));
            if (!(r->instruction = strdup(jstr(o, "instruction")))) st = em_err(err, EM_ERR_NOMEM, "out of memory");
        } else if (r->found && !strcmp(jstr(o, "run"), r->run)) {
            if (!strcmp(type, "plan")) {
                r->cycles++;
                r->replans = r->cycles - 1;
                snprintf(r->instance, sizeof r->instance, "%s", jstr(o, "instance"));
                if ((st = load_steps(cJSON_GetObjectItemCaseSensitive(o, "steps"), r->instance, r, err))) {
                    char e[EM_ERR_LEN];
                    snprintf(e, sizeof e, "%s", err);
                    em_err(err, st, "--log %s:%ld: %s", path, lineno, e);
                }
                r->steps_sent += r->n_steps;
                r->open_plan = 1;
            } else if (!strcmp(type, "outcome")) {
                r->open_plan = 0;
                add_history(r, jstr(o, "feedback"));
            } else if (!strcmp(type, "end")) {
                r->ended = 1;
                r->open_plan = 0;
                snprintf(r->end, sizeof r->end, "%s", jstr(o, "result"));
            }
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (st) agent_log_run_free(r);
    return st;
}
