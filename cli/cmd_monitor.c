/* cmd_monitor.c - `ember monitor`: print every message a controller
 * publishes (its hello, state, frames' envelopes, and the copies of the
 * commands it took and the feedback it gave) as one JSON line each, and
 * optionally save the frames as PNG files. Read-only: a monitor cannot
 * command (the controller refuses it). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cairo.h>

#include "cli_rio.h"
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

static int write_file(const char *path, const void *data, size_t n, char *err) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        em_err(err, EM_ERR_IO, "%s: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    return 0;
}

/* rgb8 -> PNG through cairo (the same kept library that drew it). */
static int save_rgb_png(const char *path, const rio_frame *fr, char *err) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, fr->width, fr->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        em_err(err, EM_ERR_IO, "%s: cairo: %s", path, cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s);
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
    cairo_status_t cs = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        em_err(err, EM_ERR_IO, "%s: %s", path, cairo_status_to_string(cs));
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
    bool no_frames = false;
    opt_spec link[CLI_RIO_OPTS_N];
    cli_rio_specs(&cfg, "--connect", link);
    const opt_spec specs[] = {
        OPT_GROUP(link),
        OPT_STR(NULL, "--save-frames", "DIR", &dir, "write frames as DIR/CAMERA-NNNNNN.png (jpeg frames: .jpg as sent)"),
        {.kind = OPT_KIND_I64, .lng = "--count", .meta = "N", .dest = OPT_DEST_(&count, int64_t), .lo = 1,
         .hi = INT64_MAX, .flags = OPT_NO_DEFAULT, .help = "exit after N messages"},
        {.kind = OPT_KIND_DOUBLE, .lng = "--duration", .meta = "S", .dest = OPT_DEST_(&duration, double), .dlo = 0.001,
         .dhi = 1e7, .flags = OPT_NO_DEFAULT, .help = "exit after S seconds"},
        OPT_FLAG(NULL, "--no-frames", &no_frames, "do not subscribe to frames"),
        OPT_DOUBLE(NULL, "--wait", "S", &wait_s, 0.001, 1e7, "wait S seconds for the controller"),
        OPT_END};
    int prc = opt_parse("ember monitor", specs, argc, argv, NULL, 0, NULL, err);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    const int frames = !no_frames;
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember monitor: --connect EP is required\n"); usage(stderr, specs); return 2; }
    if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ember monitor: --save-frames %s: %s\n", dir, strerror(errno));
        return 1;
    }
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);

    rio_agent *a = rio_agent_create(&cfg, "monitor", RIO_SUB_STATE | (frames ? RIO_SUB_FRAMES : 0), stderr, err);
    if (!a) { fprintf(stderr, "ember monitor: %s%s\n", err, cli_rio_advice("--connect", err)); return 1; }
    int rc = 0;
    if (rio_agent_wait_ready(a, (int)(wait_s * 1000))) {
        fprintf(stderr, "ember monitor: %s\n", rio_agent_errmsg(a));
        rio_agent_free(a);
        return 1;
    }
    int64_t t0 = rio_mono_ms();
    long printed = 0, saved = 0;
    while (count < 0 || printed < count) {
        if (duration > 0 && rio_mono_ms() - t0 > (int64_t)(duration * 1000)) break;
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) break;
        rio_event ev;
        int r = rio_agent_poll(a, &ev, 100);
        if (r < 0) { fprintf(stderr, "ember monitor: %s\n", rio_agent_errmsg(a)); rc = 1; break; }
        if (r == 0) continue;
        if (ev.type == RIO_EV_PEER_LOST || ev.type == RIO_EV_PEER_BACK) {
            fprintf(stderr, "ember monitor: controller %s\n", ev.type == RIO_EV_PEER_LOST ? "lost" : "back");
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
            snprintf(path, sizeof path, "%s/%s-%06ld.%s", dir, fr->camera, saved, is_jpeg ? "jpg" : "png");
            int bad = !strcmp(fr->encoding, "rgb8") ? save_rgb_png(path, fr, err) : write_file(path, fr->data, fr->size, err);
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
