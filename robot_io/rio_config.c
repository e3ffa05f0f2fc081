/* rio_config.c - the link's configuration: defaults, a JSON config file,
 * the fault-injection spec, derived telemetry endpoints, CurveZMQ keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "robot_io/rio.h"

void rio_config_defaults(rio_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->heartbeat_ms = 250;
    cfg->peer_timeout_ms = 2000;
    cfg->resend_ms = 100;
    cfg->state_hwm = 1000;
    cfg->frame_hwm = 2;
    cfg->max_msg_bytes = RIO_MAX_BLOB + 64 * 1024;
}

static ember_status copy_str(char *dst, size_t cap, const char *src, const char *what, char *err) {
    size_t n = strlen(src);
    if (n >= cap) return em_err(err, EM_ERR_ARG, "rio_config: %s: longer than %zu bytes", what, cap - 1);
    memcpy(dst, src, n + 1);
    return EM_OK;
}

/* tcp://HOST:PORT -> tcp://HOST:PORT+k; ipc://PATH -> ipc://PATH.suffix */
static ember_status derive(const char *ep, int k, const char *suffix, char *out, char *err) {
    if (!strncmp(ep, "ipc://", 6)) {
        if (strlen(ep) + strlen(suffix) + 1 >= RIO_ENDPOINT_LEN)
            return em_err(err, EM_ERR_ARG, "rio_config: endpoint %s: too long to derive %s from", ep, suffix);
        size_t n = strlen(ep);
        memcpy(out, ep, n);
        out[n] = '.';
        strcpy(out + n + 1, suffix);
        return EM_OK;
    }
    const char *colon = strrchr(ep, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon - ep < 6 || !end || *end || port <= 0 || port > 65535)
        return em_err(err, EM_ERR_ARG,
                      "rio_config: endpoint %s: expected tcp://HOST:PORT with a numeric port 1..65535 (or give the %s "
                      "endpoint)", ep, suffix);
    /* cli_rio_advice matches "past 65535" */
    if (port + k > 65535)
        return em_err(err, EM_ERR_ARG,
                      "rio_config: endpoint %s: the %s socket takes the command port + %d, %ld, past 65535 (the "
                      "command port can be at most 65533, or give the %s endpoint)", ep, suffix, k, port + k, suffix);
    snprintf(out, RIO_ENDPOINT_LEN, "%.*s:%ld", (int)(colon - ep), ep, port + k);
    return EM_OK;
}

static ember_status check_endpoint(const char *ep, const char *what, char *err) {
    if (strncmp(ep, "tcp://", 6) && strncmp(ep, "ipc://", 6) && strncmp(ep, "inproc://", 9))
        return em_err(err, EM_ERR_ARG, "rio_config: %s endpoint '%s': expected tcp://HOST:PORT or ipc://PATH", what,
                      ep);
    return EM_OK;
}

ember_status rio_config_finish(rio_config *cfg, char *err) {
    ember_status st;
    /* These messages name rio_config's fields, not a program's flags; the
     * command line adds its flags (cli/cli_rio.c, cli_rio_advice, matches
     * "no command endpoint" and "without an own keypair"). */
    if (!cfg->endpoint[0])
        return em_err(err, EM_ERR_ARG, "rio_config: no command endpoint given (endpoint, or \"endpoint\" in a config file)");
    if ((st = check_endpoint(cfg->endpoint, "command", err))) return st;
    if (!cfg->state_endpoint[0] && (st = derive(cfg->endpoint, 1, "state", cfg->state_endpoint, err))) return st;
    if (!cfg->frame_endpoint[0] && (st = derive(cfg->endpoint, 2, "frames", cfg->frame_endpoint, err))) return st;
    if ((st = check_endpoint(cfg->state_endpoint, "state", err))) return st;
    if ((st = check_endpoint(cfg->frame_endpoint, "frame", err))) return st;
    /* Three sockets cannot share an endpoint; said here, before a bind
     * meets its own other socket and blames "another controller".
     * cli_rio_advice matches "is also the". */
    const char *eps[3] = {cfg->endpoint, cfg->state_endpoint, cfg->frame_endpoint};
    static const char *const names[3] = {"command", "state", "frame"};
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (!strcmp(eps[a], eps[b]))
                return em_err(err, EM_ERR_ARG, "rio_config: the %s endpoint %s is also the %s endpoint: each of the "
                              "three sockets needs its own", names[b], eps[b], names[a]);
    if (cfg->heartbeat_ms < 10 || cfg->peer_timeout_ms < 2 * cfg->heartbeat_ms)
        return em_err(err, EM_ERR_ARG, "rio_config: heartbeat %d ms / peer timeout %d ms: need heartbeat >= 10 ms and timeout >= 2 heartbeats",
                      cfg->heartbeat_ms, cfg->peer_timeout_ms);
    if (cfg->resend_ms < 1 || cfg->state_hwm < 1 || cfg->frame_hwm < 1)
        return em_err(err, EM_ERR_ARG, "rio_config: resend_ms, state_hwm and frame_hwm must be >= 1");
    if (!cfg->curve && (cfg->n_allowed || cfg->server_key[0]))
        return em_err(err, EM_ERR_ARG, "rio_config: %s given without an own keypair (curve off, no public_key/secret_key): "
                      "the link would run unencrypted and open to anyone", cfg->n_allowed ? "allowed agent keys" : "a server key");
    if (!cfg->name[0]) strcpy(cfg->name, "ember");
    return EM_OK;
}

ember_status rio_config_faults(rio_config *cfg, const char *spec, char *err) {
    char buf[256];
    if (strlen(spec) >= sizeof buf) return em_err(err, EM_ERR_ARG, "rio_config_faults: spec too long");
    strcpy(buf, spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return em_err(err, EM_ERR_ARG, "rio_config_faults: '%s': expected NAME=VALUE (drop, dup, reorder, seed)", tok);
        *eq = 0;
        char *end;
        errno = 0;
        double v = strtod(eq + 1, &end);
        if (*end || errno || eq[1] == 0)
            return em_err(err, EM_ERR_ARG, "rio_config_faults: %s: '%s' is not a number", tok, eq + 1);
        if (!strcmp(tok, "seed")) { cfg->fault_seed = (uint64_t)v; continue; }
        if (v < 0 || v > 1) return em_err(err, EM_ERR_ARG, "rio_config_faults: %s=%g: expected a probability 0..1", tok, v);
        if (!strcmp(tok, "drop")) cfg->fault_drop = v;
        else if (!strcmp(tok, "dup")) cfg->fault_dup = v;
        else if (!strcmp(tok, "reorder")) cfg->fault_reorder = v;
        else return em_err(err, EM_ERR_ARG, "rio_config_faults: unknown fault '%s' (drop, dup, reorder, seed)", tok);
    }
    if (cfg->fault_drop + cfg->fault_dup + cfg->fault_reorder > 1)
        return em_err(err, EM_ERR_ARG, "rio_config_faults: drop + dup + reorder must not exceed 1");
    return EM_OK;
}

/* ---- key files ---------------------------------------------------------- */

static char *read_small_file(const char *path, const char *fn, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { em_err(err, EM_ERR_IO, "%s: %s: %s", fn, path, strerror(errno)); return NULL; }
    char *buf = malloc(65537);
    if (!buf) { fclose(f); em_err(err, EM_ERR_NOMEM, "%s: out of memory", fn); return NULL; }
    size_t n = fread(buf, 1, 65537, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > 65536) {
        free(buf);
        em_err(err, EM_ERR_FORMAT, "%s: %s: %s", fn, path, bad ? "read error" : "larger than 64 KiB");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static int valid_z85_key(const char *s) {
    uint8_t bin[32];
    return s && strlen(s) == 40 && zmq_z85_decode(bin, s) != NULL;
}

ember_status rio_key_load(const char *path, char *public_key, char *secret_key, char *err) {
    char *text = read_small_file(path, "rio_key_load", err);
    if (!text) return EM_ERR_IO;
    cJSON *j = cJSON_Parse(text);
    free(text);
    ember_status st = EM_OK;
    if (!cJSON_IsObject(j)) {
        st = em_err(err, EM_ERR_FORMAT, "rio_key_load: %s: not a key file (expected JSON {\"public\": ..., \"secret\": ...}; `ember keygen` writes one)", path);
        goto done;
    }
    const char *pub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "public"));
    const char *sec = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "secret"));
    if (!valid_z85_key(pub)) {
        st = em_err(err, EM_ERR_FORMAT, "rio_key_load: %s: \"public\" is not a 40-character Z85 CurveZMQ key", path);
        goto done;
    }
    if (secret_key) {
        if (!sec) { st = em_err(err, EM_ERR_FORMAT, "rio_key_load: %s: no \"secret\" key (a .pub file? give the .key file)", path); goto done; }
        if (!valid_z85_key(sec)) { st = em_err(err, EM_ERR_FORMAT, "rio_key_load: %s: \"secret\" is not a 40-character Z85 key", path); goto done; }
        strcpy(secret_key, sec);
    }
    if (public_key) strcpy(public_key, pub);
done:
    cJSON_Delete(j);
    return st;
}

static ember_status write_key_file(const char *path, const char *text, mode_t mode, char *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return em_err(err, EM_ERR_IO, "rio_keygen: %s: %s%s", path, strerror(errno),
                      errno == EEXIST ? " (refusing to overwrite a key; remove it first)" : "");
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int bad = w != (ssize_t)n || fsync(fd) != 0;
    close(fd);
    if (bad) return em_err(err, EM_ERR_IO, "rio_keygen: write %s: %s", path, strerror(errno));
    return EM_OK;
}

ember_status rio_keygen(const char *base, char *public_key, char *err) {
    char pub[RIO_KEY_LEN], sec[RIO_KEY_LEN], path[4096], text[256];
    if (zmq_curve_keypair(pub, sec) != 0)
        return em_err(err, EM_ERR_UNSUPPORTED, "rio_keygen: zmq_curve_keypair: %s (libzmq built without CURVE?)",
                      zmq_strerror(zmq_errno()));
    if (strlen(base) + 5 >= sizeof path) return em_err(err, EM_ERR_ARG, "rio_keygen: name too long");
    snprintf(path, sizeof path, "%s.key", base);
    snprintf(text, sizeof text, "{\"public\": \"%s\", \"secret\": \"%s\"}\n", pub, sec);
    ember_status st = write_key_file(path, text, 0600, err);
    if (st) return st;
    snprintf(path, sizeof path, "%s.pub", base);
    snprintf(text, sizeof text, "{\"public\": \"%s\"}\n", pub);
    if ((st = write_key_file(path, text, 0644, err))) return st;
    if (public_key) strcpy(public_key, pub);
    return EM_OK;
}

/* ---- config file -------------------------------------------------------- */

ember_status rio_config_load(rio_config *cfg, const char *path, char *err) {
    char *text = read_small_file(path, "rio_config_load", err);
    if (!text) return EM_ERR_IO;
    cJSON *j = cJSON_Parse(text);
    free(text);
    ember_status st = EM_OK;
    if (!cJSON_IsObject(j)) {
        st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: not a JSON object", path);
        goto done;
    }
    cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const char *k = it->string;
        struct { const char *name; char *dst; size_t cap; } strs[] = {
            {"name", cfg->name, sizeof cfg->name},
            {"endpoint", cfg->endpoint, sizeof cfg->endpoint},
            {"state_endpoint", cfg->state_endpoint, sizeof cfg->state_endpoint},
            {"frame_endpoint", cfg->frame_endpoint, sizeof cfg->frame_endpoint},
        };
        struct { const char *name; int *dst; } ints[] = {
            {"heartbeat_ms", &cfg->heartbeat_ms}, {"peer_timeout_ms", &cfg->peer_timeout_ms},
            {"resend_ms", &cfg->resend_ms},       {"state_hwm", &cfg->state_hwm},
            {"frame_hwm", &cfg->frame_hwm},
        };
        int done_key = 0;
        for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !done_key; i++) {
            if (strcmp(k, strs[i].name)) continue;
            if (!cJSON_IsString(it)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"%s\" must be a string", path, k); goto done; }
            if ((st = copy_str(strs[i].dst, strs[i].cap, it->valuestring, k, err))) goto done;
            done_key = 1;
        }
        for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !done_key; i++) {
            if (strcmp(k, ints[i].name)) continue;
            if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e9 ||
                it->valuedouble != (double)(int)it->valuedouble) {
                st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"%s\" must be a positive integer", path, k);
                goto done;
            }
            *ints[i].dst = (int)it->valuedouble;
            done_key = 1;
        }
        if (done_key) continue;
        if (!strcmp(k, "faults")) {
            if (!cJSON_IsString(it)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"faults\" must be a string like \"drop=0.1\"", path); goto done; }
            if ((st = rio_config_faults(cfg, it->valuestring, err))) goto done;
        } else if (!strcmp(k, "key")) { /* own keypair file: turns CurveZMQ on */
            if (!cJSON_IsString(it)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"key\" must be a file name", path); goto done; }
            if ((st = rio_key_load(it->valuestring, cfg->public_key, cfg->secret_key, err))) goto done;
            cfg->curve = 1;
        } else if (!strcmp(k, "server_key")) { /* client side: the controller's .pub file */
            if (!cJSON_IsString(it)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"server_key\" must be a file name", path); goto done; }
            if ((st = rio_key_load(it->valuestring, cfg->server_key, NULL, err))) goto done;
        } else if (!strcmp(k, "allow")) { /* server side: agents' .pub files */
            if (!cJSON_IsArray(it)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"allow\" must be an array of .pub file names", path); goto done; }
            cJSON *f;
            cJSON_ArrayForEach(f, it) {
                if (!cJSON_IsString(f)) { st = em_err(err, EM_ERR_FORMAT, "rio_config_load: %s: \"allow\" entries must be file names", path); goto done; }
                if (cfg->n_allowed >= RIO_MAX_ALLOWED) { st = em_err(err, EM_ERR_RANGE, "rio_config_load: %s: more than %d allowed keys", path, RIO_MAX_ALLOWED); goto done; }
                if ((st = rio_key_load(f->valuestring, cfg->allowed[cfg->n_allowed], NULL, err))) goto done;
                cfg->n_allowed++;
            }
        } else {
            st = em_err(err, EM_ERR_FORMAT,
                        "rio_config_load: %s: unknown key \"%s\" (known: name, endpoint, state_endpoint, frame_endpoint, "
                        "heartbeat_ms, peer_timeout_ms, resend_ms, state_hwm, frame_hwm, faults, key, server_key, allow)",
                        path, k);
            goto done;
        }
    }
done:
    cJSON_Delete(j);
    return st;
}
