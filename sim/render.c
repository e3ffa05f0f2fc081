/* render.c - the top camera: the table seen from straight above, drawn
 * with cairo; labels in DejaVu Sans Bold through cairo's font API (which
 * finds Debian's DejaVu through fontconfig and draws with FreeType).
 *
 * Frames train a vision model later, so legibility wins over realism: flat
 * distinct colours, dark outlines, text in a contrasting colour, a soft
 * shadow that grows with height so stacks and the held block read as
 * raised, and an arm drawn half transparent so it never hides a label.
 * Everything is a function of the world: the same world gives the same
 * bytes. Cost: a few dozen fills and at most a dozen short strings; the
 * image surface is allocated per call (640x480: 1.2 MB), which is cheap
 * next to the drawing and keeps the world free of cairo state. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "sim/world_internal.h"

#define FONT "DejaVu Sans"
#define VIEW_W 112.0 /* cm across the image */
#define VIEW_H 84.0
#define VIEW_CY 35.0 /* table point at the image centre (x = 0) */

typedef struct view {
    cairo_t *cr;
    double s;      /* pixels per cm */
    double ox, oy; /* pixel of the table point (0, VIEW_CY) */
} view;

static double px(const view *v, double x) { return v->ox + x * v->s; }
static double py(const view *v, double y) { return v->oy - (y - VIEW_CY) * v->s; }

static void set_rgb(cairo_t *cr, const sim_color *c, double f) {
    cairo_set_source_rgb(cr, fmin(1, c->r * f), fmin(1, c->g * f), fmin(1, c->b * f));
}

static int is_light(const sim_color *c) { return 0.299 * c->r + 0.587 * c->g + 0.114 * c->b > 0.55; }

/* Centred text, shrunk to fit max_w pixels. */
static void text_centered(const view *v, const char *s, double cx, double cy, double size, double max_w, const sim_color *bg) {
    cairo_t *cr = v->cr;
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    if (e.width > max_w && e.width > 0) {
        size *= max_w / e.width;
        cairo_set_font_size(cr, size);
        cairo_text_extents(cr, s, &e);
    }
    if (is_light(bg)) cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
    else cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, cx - e.x_bearing - e.width / 2, cy - e.y_bearing - e.height / 2);
    cairo_show_text(cr, s);
}

static void rounded_rect(cairo_t *cr, double x, double y, double w, double h, double r) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

/* ------------------------------------------------------------- scenery */

static void draw_table(const view *v) {
    cairo_t *cr = v->cr;
    cairo_set_source_rgb(cr, 0.24, 0.26, 0.30); /* floor */
    cairo_paint(cr);
    double x0 = px(v, SIM_TABLE_X0), x1 = px(v, SIM_TABLE_X1), y0 = py(v, SIM_TABLE_Y1), y1 = py(v, SIM_TABLE_Y0);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_set_source_rgb(cr, 0.78, 0.62, 0.43);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.45, 0.33, 0.20);
    cairo_set_line_width(cr, fmax(1, 0.4 * v->s));
    cairo_stroke(cr);
    /* Planks every 10 cm. */
    cairo_set_source_rgba(cr, 0.55, 0.40, 0.25, 0.35);
    cairo_set_line_width(cr, fmax(1, 0.15 * v->s));
    for (double y = SIM_TABLE_Y0 + 10; y < SIM_TABLE_Y1; y += 10) {
        cairo_move_to(cr, x0, py(v, y));
        cairo_line_to(cr, x1, py(v, y));
    }
    cairo_stroke(cr);
    /* The arm's reach, dashed, on the table only. */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_clip(cr);
    double dash = 1.5 * v->s;
    cairo_set_dash(cr, &dash, 1, 0);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.45);
    cairo_set_line_width(cr, fmax(1, 0.25 * v->s));
    cairo_arc(cr, px(v, 0), py(v, 0), SIM_REACH_CM * v->s, 0, 2 * M_PI);
    cairo_stroke(cr);
    cairo_restore(cr);
    /* The arm's base. */
    cairo_arc(cr, px(v, 0), py(v, 0), 7 * v->s, 0, 2 * M_PI);
    cairo_set_source_rgb(cr, 0.30, 0.31, 0.34);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.12, 0.12, 0.14);
    cairo_set_line_width(cr, fmax(1, 0.3 * v->s));
    cairo_stroke(cr);
}

static void shadow_offset(const view *v, double z, double *dx, double *dy) {
    /* Light from the upper left; higher things cast farther. */
    double d = (0.5 + 0.12 * z) * v->s;
    *dx = d, *dy = d;
}

static void draw_container(const view *v, const sim_object *o) {
    cairo_t *cr = v->cr;
    const sim_color *c = &sim_palette[o->color];
    double cx = px(v, o->x), cy = py(v, o->y), lw = fmax(1, 0.3 * v->s), sx, sy;
    shadow_offset(v, 3, &sx, &sy);
    cairo_set_line_width(cr, lw);
    if (o->kind == SIM_BOWL) {
        double r = SIM_BOWL_CM / 2 * v->s;
        cairo_arc(cr, cx + sx, cy + sy, r, 0, 2 * M_PI);
        cairo_set_source_rgba(cr, 0, 0, 0, 0.25);
        cairo_fill(cr);
        cairo_arc(cr, cx, cy, r, 0, 2 * M_PI);
        set_rgb(cr, c, 1.0);
        cairo_fill_preserve(cr);
        set_rgb(cr, c, 0.45);
        cairo_stroke(cr);
        /* The inside, darker, with a highlight on the far rim. */
        cairo_pattern_t *p = cairo_pattern_create_radial(cx - 0.25 * r, cy - 0.25 * r, 0.1 * r, cx, cy, 0.8 * r);
        cairo_pattern_add_color_stop_rgb(p, 0, fmin(1, c->r * 0.95), fmin(1, c->g * 0.95), fmin(1, c->b * 0.95));
        cairo_pattern_add_color_stop_rgb(p, 1, c->r * 0.62, c->g * 0.62, c->b * 0.62);
        cairo_arc(cr, cx, cy, 0.8 * r, 0, 2 * M_PI);
        cairo_set_source(cr, p);
        cairo_fill(cr);
        cairo_pattern_destroy(p);
    } else {
        double w = SIM_TRAY_W * v->s, h = SIM_TRAY_H * v->s, r = 1.2 * v->s, in = 1.4 * v->s;
        rounded_rect(cr, cx - w / 2 + sx, cy - h / 2 + sy, w, h, r);
        cairo_set_source_rgba(cr, 0, 0, 0, 0.25);
        cairo_fill(cr);
        rounded_rect(cr, cx - w / 2, cy - h / 2, w, h, r);
        set_rgb(cr, c, 1.0);
        cairo_fill_preserve(cr);
        set_rgb(cr, c, 0.45);
        cairo_stroke(cr);
        rounded_rect(cr, cx - w / 2 + in, cy - h / 2 + in, w - 2 * in, h - 2 * in, r * 0.6);
        set_rgb(cr, c, 0.78);
        cairo_fill(cr);
    }
}

static void draw_sign(const view *v, const sim_object *o) {
    cairo_t *cr = v->cr;
    const sim_color *c = &sim_palette[o->color];
    double w = SIM_SIGN_W * v->s, h = SIM_SIGN_H * v->s, cx = px(v, o->x), cy = py(v, o->y), sx, sy;
    shadow_offset(v, 8, &sx, &sy);
    /* A standing card: its foot, then its face. */
    cairo_rectangle(cr, cx - w / 2 + sx, cy - h / 2 + sy, w, h);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.28);
    cairo_fill(cr);
    cairo_rectangle(cr, cx - 0.35 * w, cy + h / 2 - 0.1 * h, 0.7 * w, 0.25 * h);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.27);
    cairo_fill(cr);
    rounded_rect(cr, cx - w / 2, cy - h / 2, w, h, 0.6 * v->s);
    set_rgb(cr, c, 1.0);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_line_width(cr, fmax(1, 0.35 * v->s));
    cairo_stroke(cr);
    text_centered(v, o->label, cx, cy, 0.62 * h, 0.86 * w, c);
}

/* A block whose base is at height z, centred at (x, y) in cm. */
static void draw_block(const view *v, const sim_object *o, double x, double y, double z) {
    cairo_t *cr = v->cr;
    const sim_color *c = &sim_palette[o->color];
    double k = 1 + 0.015 * (z + SIM_BLOCK_CM); /* nearer the camera, a little larger */
    double a = SIM_BLOCK_CM * v->s * k, cx = px(v, x), cy = py(v, y), sx, sy;
    shadow_offset(v, z + SIM_BLOCK_CM, &sx, &sy);
    for (int pass = 0; pass < 2; pass++) {
        double ox = pass ? 0 : sx, oy = pass ? 0 : sy;
        cairo_new_path(cr);
        switch (o->shape) {
        case SIM_CYLINDER: cairo_arc(cr, cx + ox, cy + oy, a / 2, 0, 2 * M_PI); break;
        case SIM_PRISM: {
            /* Equilateral triangle of side a, centred on its centroid. */
            double hgt = a * sqrt(3) / 2;
            cairo_move_to(cr, cx + ox, cy + oy - 2 * hgt / 3);
            cairo_line_to(cr, cx + ox + a / 2, cy + oy + hgt / 3);
            cairo_line_to(cr, cx + ox - a / 2, cy + oy + hgt / 3);
            cairo_close_path(cr);
            break;
        }
        default: rounded_rect(cr, cx + ox - a / 2, cy + oy - a / 2, a, a, 0.08 * a); break;
        }
        if (!pass) {
            cairo_set_source_rgba(cr, 0, 0, 0, 0.3);
            cairo_fill(cr);
            continue;
        }
        cairo_pattern_t *p = cairo_pattern_create_linear(cx - a / 2, cy - a / 2, cx + a / 2, cy + a / 2);
        cairo_pattern_add_color_stop_rgb(p, 0, fmin(1, c->r * 1.12 + 0.06), fmin(1, c->g * 1.12 + 0.06), fmin(1, c->b * 1.12 + 0.06));
        cairo_pattern_add_color_stop_rgb(p, 1, c->r * 0.8, c->g * 0.8, c->b * 0.8);
        cairo_set_source(cr, p);
        cairo_fill_preserve(cr);
        cairo_pattern_destroy(p);
        if (c->r + c->g + c->b < 0.6) cairo_set_source_rgb(cr, 0.5, 0.5, 0.52); /* black blocks: a light edge */
        else set_rgb(cr, c, 0.4);
        cairo_set_line_width(cr, fmax(1, 0.3 * v->s));
        cairo_stroke(cr);
    }
    if (o->label[0]) {
        double ty = o->shape == SIM_PRISM ? cy + 0.1 * a : cy;
        text_centered(v, o->label, cx, ty, 0.42 * a, o->shape == SIM_PRISM ? 0.5 * a : 0.8 * a, c);
    }
}

static void draw_arm(const view *v, const sim_world *w) {
    cairo_t *cr = v->cr;
    const sim_gripper *g = &w->g;
    double k = 1 + 0.015 * g->z, gx = px(v, g->x), gy = py(v, g->y);
    double fw = 1.3 * v->s * k, fl = 4.2 * v->s * k;
    /* The arm, half transparent, ends at the fingers' bar on the near side
     * so neither crosses the label of a held or gripped block. */
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_width(cr, 2.2 * v->s);
    cairo_set_source_rgba(cr, 0.20, 0.21, 0.24, 0.45);
    cairo_move_to(cr, px(v, 0), py(v, 0));
    cairo_line_to(cr, gx, gy + fl / 2);
    cairo_stroke(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    /* Finger gap: open, closed on a block, or shut; animated while an
     * open/close step runs. */
    double open_gap = 9.5, shut_gap = g->holding >= 0 ? SIM_BLOCK_CM + 0.6 : 2.0;
    double gap = g->open ? open_gap : shut_gap;
    if (w->m.active && (w->m.skill == SIM_SK_OPEN || w->m.skill == SIM_SK_CLOSE)) {
        double u = sim_progress(w), a = g->open ? 1.0 : 0.0, b = w->m.skill == SIM_SK_OPEN ? 1.0 : 0.0;
        double f = a + (b - a) * u;
        gap = shut_gap + (open_gap - shut_gap) * f;
    }
    double half = gap / 2 * v->s * k;
    cairo_set_source_rgba(cr, 0.15, 0.15, 0.17, 0.9);
    cairo_set_line_width(cr, 0.7 * v->s * k);
    cairo_move_to(cr, gx - half, gy + fl / 2);
    cairo_line_to(cr, gx + half, gy + fl / 2);
    cairo_stroke(cr);
    for (int side = -1; side <= 1; side += 2) {
        rounded_rect(cr, gx + side * half - fw / 2, gy - fl / 2, fw, fl, 0.3 * fw);
        cairo_set_source_rgb(cr, 0.18, 0.19, 0.22);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.75, 0.76, 0.8);
        cairo_set_line_width(cr, fmax(1, 0.15 * v->s));
        cairo_stroke(cr);
    }
}

static void draw_caption(const view *v, const sim_world *w, int width) {
    cairo_t *cr = v->cr;
    char cap[128];
    if (w->m.active)
        snprintf(cap, sizeof cap, "top  %s %d%%", sim_skill_name(w->m.skill), (int)(sim_progress(w) * 100));
    else snprintf(cap, sizeof cap, "top  idle");
    double size = fmax(8, 2.0 * v->s);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, cap, &e);
    double pad = 0.4 * size;
    cairo_rectangle(cr, pad, pad, fmin(width - 2 * pad, e.x_advance + 2 * pad), size + 2 * pad);
    cairo_set_source_rgba(cr, 0, 0, 0, 0.55);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, 2 * pad, pad + pad + size * 0.8);
    cairo_show_text(cr, cap);
}

/* ------------------------------------------------------------- drawing */

static cairo_surface_t *render(const sim_world *w, int width, int height, const char *fn, ember_status *rc, char *err) {
    if (width < 16 || height < 16 || width > 4096 || height > 4096) {
        *rc = em_err(err, EM_ERR_ARG, "%s: %dx%d: width and height must be 16..4096", fn, width, height);
        return NULL;
    }
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        *rc = em_err(err, EM_ERR_NOMEM, "%s: cairo_image_surface_create %dx%d: %s", fn, width, height,
               cairo_status_to_string(cairo_surface_status(sf)));
        cairo_surface_destroy(sf);
        return NULL;
    }
    cairo_t *cr = cairo_create(sf);
    view v = {cr, fmin(width / VIEW_W, height / VIEW_H), width / 2.0, height / 2.0};
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);

    draw_table(&v);
    for (int i = 0; i < w->n; i++)
        if (sim_is_container(w, i)) draw_container(&v, &w->obj[i]);
    for (int i = 0; i < w->n; i++)
        if (w->obj[i].kind == SIM_SIGN) draw_sign(&v, &w->obj[i]);
    /* Blocks from low to high so a stack's top is drawn last. */
    int order[SIM_MAX_OBJECTS], n = 0;
    double zs[SIM_MAX_OBJECTS];
    for (int i = 0; i < w->n; i++) {
        if (w->obj[i].kind != SIM_BLOCK || w->g.holding == i) continue;
        double x, y, z;
        sim_obj_pos(w, i, &x, &y, &z);
        int k = n++;
        while (k > 0 && zs[k - 1] > z) order[k] = order[k - 1], zs[k] = zs[k - 1], k--;
        order[k] = i, zs[k] = z;
    }
    for (int k = 0; k < n; k++) {
        double x, y, z;
        sim_obj_pos(w, order[k], &x, &y, &z);
        draw_block(&v, &w->obj[order[k]], x, y, z);
    }
    if (w->g.holding >= 0) {
        double x, y, z;
        sim_obj_pos(w, w->g.holding, &x, &y, &z);
        draw_block(&v, &w->obj[w->g.holding], x, y, z);
    }
    draw_arm(&v, w);
    draw_caption(&v, w, width);

    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(sf);
    if (cs != CAIRO_STATUS_SUCCESS) {
        *rc = em_err(err, cs == CAIRO_STATUS_NO_MEMORY ? EM_ERR_NOMEM : EM_ERR_INTERNAL, "%s: drawing %dx%d: %s", fn, width, height,
               cairo_status_to_string(cs));
        cairo_surface_destroy(sf);
        return NULL;
    }
    return sf;
}

ember_status sim_render_rgb(const sim_world *w, int width, int height, uint8_t *rgb, char *err) {
    ember_status rc = EM_OK;
    cairo_surface_t *sf = render(w, width, height, "sim_render_rgb", &rc, err);
    if (!sf) return rc;
    /* RGB24 keeps each pixel in a native-endian uint32 as 0x00RRGGBB. */
    const uint8_t *data = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf);
    for (int y = 0; y < height; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * (size_t)stride);
        uint8_t *out = rgb + (size_t)y * (size_t)width * 3;
        for (int x = 0; x < width; x++) {
            uint32_t p = row[x];
            out[3 * x] = (uint8_t)(p >> 16), out[3 * x + 1] = (uint8_t)(p >> 8), out[3 * x + 2] = (uint8_t)p;
        }
    }
    cairo_surface_destroy(sf);
    return EM_OK;
}

typedef struct png_buf {
    uint8_t *p;
    size_t n, cap;
} png_buf;

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int len) {
    png_buf *b = closure;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->n + len) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return CAIRO_STATUS_NO_MEMORY;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

ember_status sim_render_png(const sim_world *w, int width, int height, uint8_t **png, size_t *size, char *err) {
    *png = NULL, *size = 0;
    ember_status rc = EM_OK;
    cairo_surface_t *sf = render(w, width, height, "sim_render_png", &rc, err);
    if (!sf) return rc;
    png_buf b = {0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(sf, png_write, &b);
    cairo_surface_destroy(sf);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(b.p);
        return em_err(err, cs == CAIRO_STATUS_NO_MEMORY ? EM_ERR_NOMEM : EM_ERR_INTERNAL,
                      "sim_render_png: cairo_surface_write_to_png_stream %dx%d: %s", width, height, cairo_status_to_string(cs));
    }
    *png = b.p, *size = b.n;
    return EM_OK;
}

void sim_render_shutdown(void) {
    /* cairo and fontconfig keep font caches for the life of the process;
     * releasing them at exit lets LeakSanitizer see only our allocations.
     * FcFini is looked up at run time: Ember does not link fontconfig
     * itself, cairo does. */
    cairo_debug_reset_static_data();
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
}
