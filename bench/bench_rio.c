/* bench_rio.c - what the robot link (robot_io/) costs over real sockets: a
 * controller (rio_ctrl) in one thread, an agent (rio_agent) in the main
 * thread, each handle used by its own thread only, talking over tcp:// or
 * ipc:// exactly as `ember sim` and `ember act` do.
 *
 *   bench_rio latency    [--n 2000] [--warmup 200] [--endpoint EP] [--poll-ms -1]
 *       One step in flight: the agent sends a step (plan "lat", skill "noop")
 *       and times send -> the "accepted" feedback (the controller library
 *       sends it with the ack, before the vendor sees the step) and send ->
 *       "done" (the controller thread reports done as soon as it is handed
 *       the step). The next step goes after done. Median, p90, p99, max, us.
 *   bench_rio throughput [--seconds 10] [--window 32] [--endpoint EP]
 *       Up to WINDOW steps in flight: steps done per second (each second and
 *       over the run) and messages per second on the command channel, from
 *       both sides' rio_stats (sent; received is printed beside it).
 *   bench_rio frames     [--seconds 10] [--fps 30] [--size 640x480] [--slow-ms 0] [--endpoint EP]
 *       The controller renders the sim's camera (sim_render_rgb: real
 *       content) and publishes rgb8 frames at FPS; the agent subscribes and
 *       measures delivered fps and lag = receive time - frame_ts_us (stamped
 *       after rendering, so the lag is the link's). --slow-ms makes the
 *       consumer sleep that long per frame: with latest-only delivery its lag
 *       must stay about one frame period, not grow.
 *
 * Endpoints: tcp://127.0.0.1:PORT (state and frames on PORT+1, PORT+2) or
 * ipc://PATH (PATH.state, PATH.frames). Default tcp://127.0.0.1:5755.
 * Output: one human line per figure, then one `bench_rio: key=value ...`. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/opt.h"
#include "robot_io/rio_agent.h"
#include "robot_io/rio_ctrl.h"
#include "sim/sim.h"

typedef enum bench_mode { MODE_LATENCY, MODE_THROUGHPUT, MODE_FRAMES } bench_mode;

typedef struct bench_opts {
    bench_mode mode;
    const char *mode_name;
    char endpoint[RIO_ENDPOINT_LEN];
    int n, warmup, window, poll_ms;
    double seconds, fps;
    int width, height, slow_ms;
} bench_opts;

/* What the two threads share: set up before the controller thread starts,
 * then only the fields under mu (or the atomic stop flag) change. */
typedef struct ctrl_thread {
    const bench_opts *o;
    pthread_t tid;
    atomic_int stop;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;          /* 1 = bound, -1 = failed (err says why) */
    char err[EM_ERR_LEN];
    rio_stats stats;    /* the controller's counters, copied after each poll */
    long steps_done;
    long frames_published;
    double render_ms_sum, render_ms_max;
    int rc;
} ctrl_thread;

/* ---- small helpers ------------------------------------------------------ */

static double mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (q in 0..1). */
static double pct(const double *v, int n, double q) {
    if (n <= 0) return NAN;
    int k = (int)ceil(q * n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

static void sleep_us(double us) {
    if (us <= 0) return;
    struct timespec ts = {(time_t)(us / 1e6), (long)(fmod(us, 1e6) * 1e3)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void ctrl_publish_stats(ctrl_thread *t, const rio_ctrl *c) {
    pthread_mutex_lock(&t->mu);
    t->stats = *rio_ctrl_stats(c);
    pthread_mutex_unlock(&t->mu);
}

static rio_stats ctrl_stats_snapshot(ctrl_thread *t) {
    pthread_mutex_lock(&t->mu);
    rio_stats s = t->stats;
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* ---- the controller thread ---------------------------------------------- */

static void *ctrl_main(void *arg) {
    ctrl_thread *t = arg;
    const bench_opts *o = t->o;
    char err[EM_ERR_LEN] = "";
    rio_ctrl *c = NULL;
    sim_world *w = NULL;
    uint8_t *rgb = NULL;
    int rc = 1;

    rio_config cfg;
    rio_config_defaults(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "bench-ctrl");
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", o->endpoint);

    rio_skill noop;
    memset(&noop, 0, sizeof noop);
    snprintf(noop.name, sizeof noop.name, "noop");
    snprintf(noop.doc, sizeof noop.doc, "does nothing; done at once");
    rio_hello hello;
    memset(&hello, 0, sizeof hello);
    hello.n_skills = 1;
    hello.skills = &noop;
    hello.n_cameras = 1;
    snprintf(hello.cameras[0], sizeof hello.cameras[0], "top");

    if (o->mode == MODE_FRAMES) {
        sim_config scfg;
        sim_config_defaults(&scfg);
        if (!(w = sim_create(&scfg, err))) goto done;
        if (!(rgb = malloc((size_t)o->width * o->height * 3))) {
            snprintf(err, sizeof err, "bench_rio: out of memory for a %dx%d frame", o->width, o->height);
            goto done;
        }
    }
    rio_ctrl_hooks hooks = {.log = stderr};
    if (!(c = rio_ctrl_create(&cfg, &hello, &hooks, err))) goto done;

    pthread_mutex_lock(&t->mu);
    t->ready = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);

    double period_us = o->mode == MODE_FRAMES ? 1e6 / o->fps : 0;
    double next_frame = mono_us();
    long done_count = 0, published = 0;
    double render_sum = 0, render_max = 0;
    while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
        int timeout = 50; /* to see the stop flag; a socket event wakes poll at once */
        if (period_us > 0) {
            double until = next_frame - mono_us();
            timeout = until <= 0 ? 0 : (int)(until / 1000.0);
            if (timeout > 50) timeout = 50;
        }
        rio_event ev;
        int r = rio_ctrl_poll(c, &ev, timeout);
        if (r < 0) { snprintf(err, sizeof err, "%s", rio_ctrl_errmsg(c)); goto done; }
        if (r == 1 && ev.type == RIO_EV_STEP) {
            if (rio_ctrl_feedback(c, ev.step.step_id, RIO_FB_DONE, NULL, NULL)) {
                snprintf(err, sizeof err, "%s", rio_ctrl_errmsg(c));
                goto done;
            }
            done_count++;
        }
        if (period_us > 0 && mono_us() >= next_frame) {
            next_frame += period_us;
            if (next_frame < mono_us()) next_frame = mono_us() + period_us; /* fell behind: skip, no burst */
            double t0 = mono_us();
            if (sim_render_rgb(w, o->width, o->height, rgb, err)) goto done;
            double ms = (mono_us() - t0) / 1000.0;
            render_sum += ms;
            if (ms > render_max) render_max = ms;
            rio_frame fr;
            memset(&fr, 0, sizeof fr);
            snprintf(fr.camera, sizeof fr.camera, "top");
            snprintf(fr.encoding, sizeof fr.encoding, "rgb8");
            fr.width = o->width;
            fr.height = o->height;
            fr.frame_ts_us = rio_now_us(); /* after rendering: the image exists now */
            fr.data = rgb;
            fr.size = (size_t)o->width * o->height * 3;
            if (rio_ctrl_publish_frame(c, &fr)) { snprintf(err, sizeof err, "%s", rio_ctrl_errmsg(c)); goto done; }
            published++;
        }
        pthread_mutex_lock(&t->mu);
        t->stats = *rio_ctrl_stats(c);
        t->steps_done = done_count;
        t->frames_published = published;
        t->render_ms_sum = render_sum;
        t->render_ms_max = render_max;
        pthread_mutex_unlock(&t->mu);
    }
    rc = 0;
done:
    if (c) ctrl_publish_stats(t, c);
    pthread_mutex_lock(&t->mu);
    if (rc) {
        snprintf(t->err, sizeof t->err, "%s", err[0] ? err : "controller failed");
        t->ready = -1;
        pthread_cond_signal(&t->cv);
    }
    t->rc = rc;
    pthread_mutex_unlock(&t->mu);
    rio_ctrl_free(c);
    sim_free(w);
    free(rgb);
    return NULL;
}

static int ctrl_start(ctrl_thread *t, const bench_opts *o) {
    memset(t, 0, sizeof *t);
    t->o = o;
    atomic_init(&t->stop, 0);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (pthread_create(&t->tid, NULL, ctrl_main, t) != 0) {
        fprintf(stderr, "bench_rio: pthread_create: %s\n", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->ready) pthread_cond_wait(&t->cv, &t->mu);
    int ok = t->ready > 0;
    pthread_mutex_unlock(&t->mu);
    if (!ok) {
        pthread_join(t->tid, NULL);
        fprintf(stderr, "bench_rio: controller: %s\n", t->err);
        return -1;
    }
    return 0;
}

static int ctrl_stop(ctrl_thread *t) {
    atomic_store(&t->stop, 1);
    pthread_join(t->tid, NULL);
    if (t->rc) fprintf(stderr, "bench_rio: controller: %s\n", t->err);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    return t->rc;
}

static const char *transport(const char *ep) { return strncmp(ep, "ipc://", 6) ? "tcp" : "ipc"; }

static rio_agent *agent_connect(const bench_opts *o, int subscribe) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "bench-agent");
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "%s", o->endpoint);
    char err[EM_ERR_LEN];
    rio_agent *a = rio_agent_create(&cfg, "agent", subscribe, stderr, err);
    if (!a) { fprintf(stderr, "bench_rio: %s\n", err); return NULL; }
    if (rio_agent_wait_ready(a, 10000)) {
        fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a));
        rio_agent_free(a);
        return NULL;
    }
    return a;
}

static void make_step(rio_step *st, const char *prefix, long i) {
    memset(st, 0, sizeof *st);
    snprintf(st->step_id, sizeof st->step_id, "%s%ld", prefix, i);
    st->index = (int)i;
    snprintf(st->skill, sizeof st->skill, "noop");
}

/* Bytes of one step envelope as it goes on the wire (for the pyzmq peer). */
static size_t step_bytes(void) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_STEP);
    m.seq = 1000;
    m.ts_us = rio_now_us();
    snprintf(m.from, sizeof m.from, "bench-agent");
    snprintf(m.session, sizeof m.session, "0123456789abcdef");
    snprintf(m.plan_id, sizeof m.plan_id, "lat");
    make_step(&m.u.step, "s", 1000);
    snprintf(m.step_id, sizeof m.step_id, "%s", m.u.step.step_id);
    char *json = NULL, err[EM_ERR_LEN];
    size_t len = 0;
    if (rio_msg_encode(&m, &json, &len, err)) len = 0;
    free(json);
    return len;
}

/* ---- latency ------------------------------------------------------------ */

/* Wait for the feedback of step_id with status `want`; the time it came. */
static int wait_fb(rio_agent *a, const char *step_id, int want, int poll_ms, double *t_acc, double *t_done) {
    double deadline = mono_us() + 10e6;
    for (;;) {
        rio_event ev;
        int r = rio_agent_poll(a, &ev, poll_ms);
        double now = mono_us();
        if (r < 0) { fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a)); return -1; }
        if (r == 1 && ev.type == RIO_EV_FEEDBACK && !strcmp(ev.msg->step_id, step_id)) {
            rio_fb_status s = ev.msg->u.feedback.status;
            if (s == RIO_FB_ACCEPTED) *t_acc = now;
            if (s == RIO_FB_FAILED) {
                fprintf(stderr, "bench_rio: step %s failed: %s: %s\n", step_id, ev.msg->u.feedback.reason,
                        ev.msg->u.feedback.text);
                return -1;
            }
            if ((int)s >= want) { if (s == RIO_FB_DONE) *t_done = now; return 0; }
        }
        if (now > deadline) {
            fprintf(stderr, "bench_rio: no feedback for step %s within 10 s\n", step_id);
            return -1;
        }
    }
}

static int run_latency(const bench_opts *o) {
    ctrl_thread t;
    if (ctrl_start(&t, o)) return 1;
    rio_agent *a = agent_connect(o, 0);
    double *acc = calloc((size_t)o->n, sizeof *acc), *done = calloc((size_t)o->n, sizeof *done);
    int rc = 1, n = 0;
    if (!a || !acc || !done) goto out;
    for (long i = 0; i < o->warmup + o->n; i++) {
        rio_step st;
        make_step(&st, "s", i);
        double t_acc = 0, t_done = 0, t0 = mono_us();
        if (rio_agent_send_step(a, "lat", &st)) { fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a)); goto out; }
        if (wait_fb(a, st.step_id, RIO_FB_DONE, o->poll_ms, &t_acc, &t_done)) goto out;
        if (i < o->warmup) continue;
        acc[n] = (t_acc ? t_acc : t_done) - t0;
        done[n] = t_done - t0;
        n++;
    }
    rc = 0;
out:
    if (a) {
        rio_event ev; /* our last acks reach the controller before we go */
        for (double t0 = mono_us(); rio_agent_pending(a) && mono_us() - t0 < 500e3;) rio_agent_poll(a, &ev, 10);
    }
    rio_agent_free(a);
    if (ctrl_stop(&t)) rc = 1;
    if (!rc) {
        qsort(acc, (size_t)n, sizeof *acc, cmp_double);
        qsort(done, (size_t)n, sizeof *done, cmp_double);
        printf("latency %s %s: step -> accepted (ack): median %.1f us  p90 %.1f  p99 %.1f  max %.1f  (n=%d, poll %d ms)\n",
               transport(o->endpoint), o->endpoint, pct(acc, n, .5), pct(acc, n, .9), pct(acc, n, .99), acc[n - 1], n,
               o->poll_ms);
        printf("latency %s %s: step -> done:           median %.1f us  p90 %.1f  p99 %.1f  max %.1f\n",
               transport(o->endpoint), o->endpoint, pct(done, n, .5), pct(done, n, .9), pct(done, n, .99), done[n - 1]);
        printf("bench_rio: mode=latency transport=%s n=%d step_bytes=%zu acc_p50_us=%.1f acc_p90_us=%.1f acc_p99_us=%.1f "
               "acc_max_us=%.1f done_p50_us=%.1f done_p90_us=%.1f done_p99_us=%.1f done_max_us=%.1f\n",
               transport(o->endpoint), n, step_bytes(), pct(acc, n, .5), pct(acc, n, .9), pct(acc, n, .99), acc[n - 1],
               pct(done, n, .5), pct(done, n, .9), pct(done, n, .99), done[n - 1]);
    }
    free(acc);
    free(done);
    return rc;
}

/* ---- throughput --------------------------------------------------------- */

#define PLAN_STEPS 10000

static int run_throughput(const bench_opts *o) {
    ctrl_thread t;
    if (ctrl_start(&t, o)) return 1;
    rio_agent *a = agent_connect(o, 0);
    int rc = 1, secs = (int)ceil(o->seconds);
    long *per_sec = calloc((size_t)secs + 1, sizeof *per_sec);
    long sent = 0, done = 0;
    rio_stats a0 = {0}, c0 = {0}, a1 = {0}, c1 = {0};
    double t0 = 0, t1 = 0;
    if (!a || !per_sec) goto out;
    a0 = *rio_agent_stats(a);
    c0 = ctrl_stats_snapshot(&t);
    t0 = mono_us();
    double end = t0 + o->seconds * 1e6, last_progress = t0;
    while (mono_us() < end) {
        while (sent - done < o->window) {
            /* a new plan every PLAN_STEPS steps: a step index is at most 65535 */
            rio_step st;
            char plan[RIO_ID_LEN];
            make_step(&st, "t", sent);
            st.index = (int)(sent % PLAN_STEPS);
            snprintf(plan, sizeof plan, "tp%ld", sent / PLAN_STEPS);
            if (rio_agent_send_step(a, plan, &st)) { fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a)); goto out; }
            sent++;
        }
        rio_event ev;
        int r = rio_agent_poll(a, &ev, 100);
        if (r < 0) { fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a)); goto out; }
        double now = mono_us();
        if (r == 1 && ev.type == RIO_EV_FEEDBACK) {
            if (ev.msg->u.feedback.status == RIO_FB_FAILED) {
                fprintf(stderr, "bench_rio: step %s failed: %s: %s\n", ev.msg->step_id, ev.msg->u.feedback.reason,
                        ev.msg->u.feedback.text);
                goto out;
            }
            if (ev.msg->u.feedback.status == RIO_FB_DONE) {
                done++;
                last_progress = now;
                int s = (int)((now - t0) / 1e6);
                if (s <= secs) per_sec[s]++;
            }
        }
        if (now - last_progress > 3e6) {
            fprintf(stderr, "bench_rio: throughput: no step done for 3 s after %ld done (%ld sent); stalled\n", done, sent);
            goto out;
        }
    }
    t1 = mono_us();
    a1 = *rio_agent_stats(a);
    c1 = ctrl_stats_snapshot(&t);
    rc = 0;
out:
    rio_agent_free(a);
    if (ctrl_stop(&t)) rc = 1;
    if (!rc) {
        double dt = (t1 - t0) / 1e6;
        double sent_msgs = (double)(a1.sent - a0.sent + c1.sent - c0.sent);
        double recv_msgs = (double)(a1.received - a0.received + c1.received - c0.received);
        long lo = -1, hi = 0;
        int full = (int)floor(o->seconds);
        for (int s = 0; s < full; s++) {
            if (lo < 0 || per_sec[s] < lo) lo = per_sec[s];
            if (per_sec[s] > hi) hi = per_sec[s];
        }
        printf("throughput %s %s: %.0f steps/s done (window %d, %.1f s; per second min %ld max %ld first %ld last %ld)\n",
               transport(o->endpoint), o->endpoint, done / dt, o->window, dt, lo, hi, per_sec[0],
               full ? per_sec[full - 1] : 0);
        printf("throughput %s %s: %.0f messages/s sent on the command channel (%.0f received; %.1f per step; resent %llu)\n",
               transport(o->endpoint), o->endpoint, sent_msgs / dt, recv_msgs / dt, done ? sent_msgs / done : 0,
               (unsigned long long)(a1.resent - a0.resent + c1.resent - c0.resent));
        printf("throughput %s: steps done per second:", transport(o->endpoint));
        for (int s = 0; s < full; s++) printf(" %ld", per_sec[s]);
        printf("\n");
        printf("bench_rio: mode=throughput transport=%s seconds=%.1f window=%d steps=%ld steps_per_s=%.0f "
               "steps_per_s_first=%ld steps_per_s_last=%ld steps_per_s_min=%ld msgs_per_s=%.0f msgs_recv_per_s=%.0f "
               "resent=%llu\n",
               transport(o->endpoint), dt, o->window, done, done / dt, per_sec[0], full ? per_sec[full - 1] : 0, lo,
               sent_msgs / dt, recv_msgs / dt, (unsigned long long)(a1.resent - a0.resent + c1.resent - c0.resent));
    }
    free(per_sec);
    return rc;
}

/* ---- frames ------------------------------------------------------------- */

static int run_frames(const bench_opts *o) {
    ctrl_thread t;
    if (ctrl_start(&t, o)) return 1;
    rio_agent *a = agent_connect(o, RIO_SUB_FRAMES);
    int rc = 1, n = 0, cap = (int)(o->seconds * o->fps * 2) + 64, bad = 0;
    double *lag = calloc((size_t)cap, sizeof *lag);
    long pub0 = 0, pub1 = 0;
    uint64_t skipped0 = 0, skipped1 = 0;
    double t0 = 0, t1 = 0;
    if (!a || !lag) goto out;
    /* start with a fresh frame: drop whatever came during the handshake */
    for (rio_event ev; rio_agent_poll(a, &ev, 0) == 1;) {}
    pthread_mutex_lock(&t.mu);
    pub0 = t.frames_published;
    pthread_mutex_unlock(&t.mu);
    skipped0 = rio_agent_stats(a)->frames_skipped;
    t0 = mono_us();
    double end = t0 + o->seconds * 1e6;
    while (mono_us() < end) {
        rio_event ev;
        int r = rio_agent_poll(a, &ev, 100);
        if (r < 0) { fprintf(stderr, "bench_rio: %s\n", rio_agent_errmsg(a)); goto out; }
        if (r == 0 || ev.type != RIO_EV_FRAME) continue;
        uint64_t now = rio_now_us();
        const rio_frame *fr = &ev.msg->u.frame;
        if (fr->width != o->width || fr->height != o->height || strcmp(fr->encoding, "rgb8") ||
            fr->size != (size_t)o->width * o->height * 3)
            bad++;
        else if (n == 0) { /* real content, not a blank buffer */
            const uint8_t *p = fr->data;
            size_t diff = 0;
            for (size_t k = 3; k < fr->size; k += 3) diff += p[k] != p[0];
            if (diff < fr->size / 300) bad++;
        }
        if (n < cap) lag[n++] = (double)((int64_t)(now - fr->frame_ts_us)) / 1000.0;
        sleep_us(o->slow_ms * 1000.0);
    }
    t1 = mono_us();
    pthread_mutex_lock(&t.mu);
    pub1 = t.frames_published;
    double render_avg = t.frames_published ? t.render_ms_sum / t.frames_published : 0, render_max = t.render_ms_max;
    pthread_mutex_unlock(&t.mu);
    skipped1 = rio_agent_stats(a)->frames_skipped;
    rc = bad ? 1 : 0;
    if (bad) fprintf(stderr, "bench_rio: %d frames had the wrong size, encoding or a blank image\n", bad);
    double dt = (t1 - t0) / 1e6;
    long published = pub1 - pub0;
    long lib_skipped = (long)(skipped1 - skipped0);
    /* lag trend: the first and last third of the run, to show it does not grow */
    int third = n / 3;
    double *first = malloc(sizeof(double) * (third ? third : 1)), *last = malloc(sizeof(double) * (third ? third : 1));
    double first_med = NAN, last_med = NAN;
    if (first && last && third) {
        memcpy(first, lag, sizeof(double) * third);
        memcpy(last, lag + n - third, sizeof(double) * third);
        qsort(first, (size_t)third, sizeof *first, cmp_double);
        qsort(last, (size_t)third, sizeof *last, cmp_double);
        first_med = pct(first, third, .5);
        last_med = pct(last, third, .5);
    }
    free(first);
    free(last);
    qsort(lag, (size_t)n, sizeof *lag, cmp_double);
    double period = 1000.0 / o->fps;
    printf("frames %s %s: %dx%d rgb8 at %.0f Hz, consumer sleeps %d ms: delivered %.1f fps (%d of %ld published, %.1f s)\n",
           transport(o->endpoint), o->endpoint, o->width, o->height, o->fps, o->slow_ms, n / dt, n, published, dt);
    printf("frames %s: lag median %.2f ms  p99 %.2f  max %.2f  (first third median %.2f, last third %.2f; period %.1f ms)\n",
           transport(o->endpoint), pct(lag, n, .5), pct(lag, n, .99), n ? lag[n - 1] : NAN, first_med, last_med, period);
    printf("frames %s: not delivered %ld (skipped by the agent's latest-only slot %ld, dropped at the HWM %ld); "
           "render %.1f ms avg, %.1f max\n",
           transport(o->endpoint), published - n, lib_skipped, published - n - lib_skipped, render_avg, render_max);
    printf("bench_rio: mode=frames transport=%s size=%dx%d fps=%.0f slow_ms=%d seconds=%.1f published=%ld delivered=%d "
           "delivered_fps=%.1f lag_p50_ms=%.2f lag_p99_ms=%.2f lag_max_ms=%.2f lag_first_p50_ms=%.2f "
           "lag_last_p50_ms=%.2f skipped_agent=%ld dropped_hwm=%ld render_ms=%.1f\n",
           transport(o->endpoint), o->width, o->height, o->fps, o->slow_ms, dt, published, n, n / dt, pct(lag, n, .5),
           pct(lag, n, .99), n ? lag[n - 1] : NAN, first_med, last_med, lib_skipped, published - n - lib_skipped,
           render_avg);
out:
    rio_agent_free(a);
    if (ctrl_stop(&t)) rc = 1;
    free(lag);
    return rc;
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: bench_rio latency    [--n 2000] [--warmup 200] [--endpoint EP] [--poll-ms -1]\n"
            "       bench_rio throughput [--seconds 10] [--window 32] [--endpoint EP]\n"
            "       bench_rio frames     [--seconds 10] [--fps 30] [--size 640x480] [--slow-ms 0] [--endpoint EP]\n"
            "EP: tcp://127.0.0.1:PORT (uses PORT..PORT+2) or ipc://PATH\n\n");
    opt_usage(f, specs);
}

int main(int argc, char **argv) {
    bench_opts o = {.n = 2000, .warmup = 200, .window = 32, .poll_ms = -1, .seconds = 10, .fps = 30,
                    .width = 640, .height = 480};
    const char *endpoint = "tcp://127.0.0.1:5755", *mode = NULL;
    int size[2] = {o.width, o.height};
    const opt_spec specs[] = {
        OPT_STR(NULL, "--endpoint", "EP", &endpoint, "the link's command endpoint"),
        OPT_INT(NULL, "--n", "N", &o.n, 1, 10000000, "latency: steps measured"),
        OPT_INT(NULL, "--warmup", "N", &o.warmup, 0, 1000000, "latency: steps before measuring"),
        OPT_INT(NULL, "--window", "N", &o.window, 1, 4000, "throughput: steps in flight"),
        OPT_INT(NULL, "--poll-ms", "N", &o.poll_ms, -1, 10000, "latency: the agent's poll timeout (-1: block)"),
        OPT_INT(NULL, "--slow-ms", "N", &o.slow_ms, 0, 10000, "frames: the agent's extra work per frame"),
        OPT_DOUBLE(NULL, "--seconds", "S", &o.seconds, 0.1, 1e6, "throughput, frames: how long"),
        OPT_DOUBLE(NULL, "--fps", "N", &o.fps, 0.1, 1000, "frames: frames per second"),
        OPT_SIZE(NULL, "--size", "WxH", size, 16, 4096, "frames: frame size"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int n_pos = 0, rc = opt_parse("bench_rio", specs, argc, argv, &mode, 1, &n_pos, err);
    if (rc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    if (!mode) { usage(stderr, specs); return 2; }
    o.mode_name = mode;
    if (!strcmp(mode, "latency")) o.mode = MODE_LATENCY;
    else if (!strcmp(mode, "throughput")) o.mode = MODE_THROUGHPUT;
    else if (!strcmp(mode, "frames")) o.mode = MODE_FRAMES;
    else { fprintf(stderr, "bench_rio: unknown subcommand '%s'\n", mode); usage(stderr, specs); return 2; }
    if (strlen(endpoint) >= sizeof o.endpoint) {
        fprintf(stderr, "bench_rio: --endpoint: longer than %zu bytes\n", sizeof o.endpoint - 1);
        return 2;
    }
    snprintf(o.endpoint, sizeof o.endpoint, "%s", endpoint);
    o.width = size[0];
    o.height = size[1];
    switch (o.mode) {
    case MODE_LATENCY: return run_latency(&o);
    case MODE_THROUGHPUT: return run_throughput(&o);
    case MODE_FRAMES: return run_frames(&o);
    }
    return 2;
}
