/* cmd_monitor.c - `ember monitor`: print every message a controller
 * publishes (its hello, state, frames' envelopes, and the copies of the
 * commands it took and the feedback it gave) as one JSON line each, and
 * optionally save the frames as PNG files. Read-only: a monitor cannot
 * command (the controller refuses it).
 *
 * Saved frames never replace a file: numbering goes on after the highest
 * NNNNNN already in the folder (an earlier run's), and each file is created
 * with O_EXCL (a second monitor writing there meanwhile moves us on).
 * A controller silent for the peer timeout ends the monitor (exit 1)
 * unless --keep-waiting: a monitor left running unattended must not look
 * alive while it hears nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>

#include "cli_rio.h"
#include "cli_util.h"
#include "commands.h"
#include "opt.h"
#include "robot_io/rio_agent.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember monitor --connect EP [options]\n\n"
            "Prints each message the controller at EP publishes as one JSON line on stdout\n"
            "(frames: the envelope; the image bytes go to --save-frames).\n\n"
            "options:\n");
    opt_usage(f, specs);
}

/* The highest NNNNNN among DIR's "NAME-NNNNNN.png|.jpg" files, or -1. */
static long highest_frame(const char *dir) {
    long hi = -1;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) {
        const char *dot = strrchr(e->d_name, '.'), *dash = strrchr(e->d_name, '-');
        if (!dot || !dash || dash > dot || (strcmp(dot, ".png") && strcmp(dot, ".jpg"))) continue;
        char *end;
        long v = strtol(dash + 1, &end, 10);
        if (end == dot && dot > dash + 1 && v > hi) hi = v;
    }
    closedir(d);
    return hi;
}

/* A new file DIR/CAMERA-NNNNNN.EXT, never an existing one: *next is the
 * number to try; taken numbers are skipped (bounded: a folder filling up
 * under us is an error, not a loop). */
static FILE *create_frame(const char *dir, const char *camera, const char *ext, long *next, char *path, size_t cap,
                          char *err) {
    for (int tries = 0; tries < 1000; tries++, (*next)++) {
        snprintf(path, cap, "%s/%s-%06ld.%s", dir, camera, *next, ext);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 && errno == EEXIST) continue;
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!f) {
            em_err(err, EM_ERR_IO, "%s: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            return NULL;
        }
        (*next)++;
        return f;
    }
    em_err(err, EM_ERR_IO, "%s: 1000 frame numbers from %ld on are taken", dir, *next - 1000);
    return NULL;
}

static int write_file(FILE *f, const char *path, const void *data, size_t n, char *err) {
    int bad = fwrite(data, 1, n, f) != n;
    if (fclose(f) != 0 || bad) {
        em_err(err, EM_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static cairo_status_t png_to_file(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

/* rgb8 -> PNG through cairo (the same kept library that drew it), into f
 * (closed here). */
static int save_rgb_png(FILE *f, const char *path, const rio_frame *fr, char *err) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, fr->width, fr->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        em_err(err, EM_ERR_IO, "%s: cairo: %s", path, cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s);
        fclose(f);
        return -1;
    }
    cairo_surface_flush(s);
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *src = fr->data;
    for (int y = 0; y < fr->height; y++)
        for (int x = 0; x < fr->width; x++) {
            const unsigned char *p = src + ((size_t)y * fr->width + x) * 3;
            uint32_t v = 0xff000000u | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            memcpy(dst + (size_t)y * stride + (size_t)x * 4, &v, 4);
        }
    cairo_surface_mark_dirty(s);
    cairo_status_t cs = cairo_surface_write_to_png_stream(s, png_to_file, f);
    cairo_surface_destroy(s);
    if (fclose(f) != 0 && cs == CAIRO_STATUS_SUCCESS) cs = CAIRO_STATUS_WRITE_ERROR;
    if (cs != CAIRO_STATUS_SUCCESS) {
        em_err(err, EM_ERR_IO, "%s: %s", path, cs == CAIRO_STATUS_WRITE_ERROR ? strerror(errno) : cairo_status_to_string(cs));
        return -1;
    }
    return 0;
}

int ember_cmd_monitor(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "monitor");
    char err[EM_ERR_LEN];
    const char *dir = NULL;
    int64_t count = -1;
    double duration = -1, wait_s = 10;
    bool no_frames = false, keep_waiting = false;
    opt_spec link[CLI_RIO_OPTS_N];
    cli_rio_specs(&cfg, "--connect", link);
    const opt_spec specs[] = {
        OPT_GROUP(link),
        OPT_STR(NULL, "--save-frames", "DIR", &dir, "write frames as DIR/CAMERA-NNNNNN.png (jpeg: .jpg as sent), numbered on after the highest there; never overwrites"),
        {.kind = OPT_KIND_I64, .lng = "--count", .meta = "N", .dest = OPT_DEST_(&count, int64_t), .lo = 1,
         .hi = INT64_MAX, .flags = OPT_NO_DEFAULT, .help = "exit after N messages"},
        {.kind = OPT_KIND_DOUBLE, .lng = "--duration", .meta = "S", .dest = OPT_DEST_(&duration, double), .dlo = 0.001,
         .dhi = 1e7, .flags = OPT_NO_DEFAULT, .help = "exit after S seconds"},
        OPT_FLAG(NULL, "--no-frames", &no_frames, "do not subscribe to frames"),
        OPT_DOUBLE(NULL, "--wait", "S", &wait_s, 0.001, 1e7, "wait S seconds for the controller"),
        OPT_FLAG(NULL, "--keep-waiting", &keep_waiting,
                 "when the controller goes silent (--peer-timeout-ms), wait for it instead of exiting 1"),
        OPT_END};
    int prc = opt_parse("ember monitor", specs, argc, argv, NULL, 0, NULL, err);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    const int frames = !no_frames;
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember monitor: --connect EP is required\n"); usage(stderr, specs); return 2; }
    { /* a malformed endpoint or timing is the command line's fault: usage */
        rio_config chk = cfg;
        if (rio_config_finish(&chk, err)) {
            fprintf(stderr, "ember monitor: %s%s\n", err, cli_rio_advice("--connect", err));
            return 2;
        }
    }
    if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ember monitor: --save-frames %s: %s\n", dir, strerror(errno));
        return 1;
    }
    cli_block_stop_signals();

    rio_agent *a = rio_agent_create(&cfg, "monitor", RIO_SUB_STATE | (frames ? RIO_SUB_FRAMES : 0), stderr, err);
    if (!a) { fprintf(stderr, "ember monitor: %s%s\n", err, cli_rio_advice("--connect", err)); return 1; }
    int rc = 0;
    if (rio_agent_wait_ready(a, (int)(wait_s * 1000))) {
        fprintf(stderr, "ember monitor: %s%s\n", rio_agent_errmsg(a), cli_rio_advice("--connect", rio_agent_errmsg(a)));
        rio_agent_free(a);
        return 1;
    }
    int64_t t0 = rio_mono_ms();
    long printed = 0, saved = 0, next_frame = dir ? highest_frame(dir) + 1 : 0;
    while (count < 0 || printed < count) {
        if (duration > 0 && rio_mono_ms() - t0 > (int64_t)(duration * 1000)) break;
        if (cli_stop_requested()) break;
        rio_event ev;
        int r = rio_agent_poll(a, &ev, 100);
        if (r < 0) { fprintf(stderr, "ember monitor: %s\n", rio_agent_errmsg(a)); rc = 1; break; }
        if (r == 0) continue;
        if (ev.type == RIO_EV_PEER_LOST && !keep_waiting) {
            fprintf(stderr, "ember monitor: controller lost: silent for %d ms; exiting (--keep-waiting waits for it)\n",
                    cfg.peer_timeout_ms);
            rc = 1;
            break;
        }
        if (ev.type == RIO_EV_PEER_LOST || ev.type == RIO_EV_PEER_BACK) {
            if (ev.type == RIO_EV_PEER_LOST)
                fprintf(stderr, "ember monitor: controller lost: silent for %d ms; waiting for it\n", cfg.peer_timeout_ms);
            else
                fprintf(stderr, "ember monitor: controller back%s\n", ev.restarted ? " (restarted)" : "");
            continue;
        }
        if (!ev.msg) continue;
        char *json = NULL;
        size_t len;
        if (rio_msg_encode(ev.msg, &json, &len, err) == EM_OK) {
            fwrite(json, 1, len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            free(json);
            printed++;
        }
        if (ev.type == RIO_EV_FRAME && dir) {
            const rio_frame *fr = &ev.msg->u.frame;
            char path[4096];
            int is_jpeg = !strcmp(fr->encoding, "jpeg");
            FILE *out = create_frame(dir, fr->camera, is_jpeg ? "jpg" : "png", &next_frame, path, sizeof path, err);
            int bad = !out || (!strcmp(fr->encoding, "rgb8") ? save_rgb_png(out, path, fr, err)
                                                             : write_file(out, path, fr->data, fr->size, err));
            if (bad) { fprintf(stderr, "ember monitor: %s\n", err); rc = 1; break; }
            saved++;
        }
    }
    const rio_stats *s = rio_agent_stats(a);
    fprintf(stderr, "ember monitor: %ld messages, %ld frames saved, %llu frames skipped (latest only), %llu refused\n",
            printed, saved, (unsigned long long)s->frames_skipped,
            (unsigned long long)(s->malformed + s->oversized + s->version_refused + s->refused));
    rio_agent_free(a);
    return rc;
}
