/* mm_prompt.c - interleaved multimodal prompts (mm_prompt.h). */
#include "agent/mm_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/vlm_prompt.h"

struct agent_mm_spec {
    char *text;
    int n_cams;
    char cams[AGENT_MM_MAX_CAMERAS][32];
    char first_cam[32]; /* what <img> stands for */
    int has_state;
};

/* A placeholder at s: 1 image (camera name into cam, "" for <img>), 2
 * state, 0 none; *len its length. */
static int placeholder(const char *s, char cam[32], size_t *len) {
    if (!strncmp(s, "<state>", 7)) return *len = 7, 2;
    if (!strncmp(s, "<img>", 5)) return cam[0] = 0, *len = 5, 1;
    if (strncmp(s, "<img:", 5)) return 0;
    size_t n = 0;
    for (const char *c = s + 5; *c && *c != '>'; c++, n++) {
        const char ch = *c;
        if (n >= 31 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("_.:-", ch)))
            return 0;
    }
    if (!n || s[5 + n] != '>') return 0;
    memcpy(cam, s + 5, n);
    cam[n] = 0;
    *len = 5 + n + 1;
    return 1;
}

agent_mm_spec *agent_mm_spec_parse(const char *text, const char *const *cams, int n_cams, int have_vision,
                                   int have_state, char *err) {
    agent_mm_spec *s = calloc(1, sizeof *s);
    if (!s || !(s->text = strdup(text))) {
        free(s);
        em_err(err, EM_ERR_NOMEM, "prompt: out of memory");
        return NULL;
    }
    char offered[256] = "";
    for (int i = 0; i < n_cams; i++)
        snprintf(offered + strlen(offered), sizeof offered - strlen(offered), "%s\"%s\"", i ? ", " : "", cams[i]);
    for (const char *c = strchr(text, '<'); c; c = strchr(c + 1, '<')) {
        char cam[32];
        size_t len;
        int kind = placeholder(c, cam, &len);
        if (kind == 2) {
            if (!have_state) {
                em_err(err, EM_ERR_ARG, "the prompt has <state> but no state encoder is loaded (--state-encoder FILE)");
                goto fail;
            }
            s->has_state = 1;
        } else if (kind == 1) {
            if (!have_vision) {
                em_err(err, EM_ERR_ARG, "the prompt has %.*s but no vision projector is loaded (--mmproj FILE)", (int)len, c);
                goto fail;
            }
            if (!n_cams) {
                em_err(err, EM_ERR_ARG, "the prompt has %.*s but the controller offers no camera", (int)len, c);
                goto fail;
            }
            const char *name = cam[0] ? cam : cams[0];
            int known = 0;
            for (int i = 0; i < n_cams; i++) known |= !strcmp(cams[i], name);
            if (!known) {
                em_err(err, EM_ERR_ARG, "the prompt names camera \"%s\", which the controller does not offer (it offers %s)",
                       name, offered);
                goto fail;
            }
            int seen = 0;
            for (int i = 0; i < s->n_cams; i++) seen |= !strcmp(s->cams[i], name);
            if (!seen && s->n_cams < AGENT_MM_MAX_CAMERAS) snprintf(s->cams[s->n_cams++], 32, "%s", name);
        }
    }
    if (n_cams) snprintf(s->first_cam, sizeof s->first_cam, "%s", cams[0]);
    return s;
fail:
    agent_mm_spec_free(s);
    return NULL;
}

void agent_mm_spec_free(agent_mm_spec *s) {
    if (!s) return;
    free(s->text);
    free(s);
}

const char *agent_mm_spec_text(const agent_mm_spec *s) { return s->text; }
int agent_mm_spec_n_cameras(const agent_mm_spec *s) { return s->n_cams; }
const char *agent_mm_spec_camera(const agent_mm_spec *s, int i) { return i >= 0 && i < s->n_cams ? s->cams[i] : NULL; }
int agent_mm_spec_has_state(const agent_mm_spec *s) { return s->has_state; }

static ember_status add_text(lm_prompt *p, const lm_model *m, const char *s, size_t n, char *err) {
    if (!n && p->n) return EM_OK;
    return lm_prompt_add_text(p, m->vocab, s, n, p->n == 0, err);
}

ember_status agent_mm_build(lm_prompt *p, const lm_model *m, const agent_mm_spec *spec, const char *formatted,
                            vision_encoder *vision, state_enc *state, const agent_mm_inputs *in, char *err) {
    ember_status st;
    agent_vlm_layout lt;
    int have_layout = 0;
    const char *text = formatted;
    for (const char *c = strchr(text, '<'); c; c = strchr(c, '<')) {
        char cam[32];
        size_t len;
        const int kind = placeholder(c, cam, &len);
        if (!kind) {
            c++;
            continue;
        }
        if ((st = add_text(p, m, text, (size_t)(c - text), err))) return st;
        if (kind == 2) {
            if (!state || !in->state) return em_err(err, EM_ERR_ARG, "prompt: <state> without a state encoder or a state");
            const int k = state_enc_tokens(state), d = state_enc_n_embd(state);
            if (d != p->n_embd)
                return em_err(err, EM_ERR_ARG, "the state encoder's width is %d, the model's %d", d, p->n_embd);
            const int64_t row0 = p->n_rows;
            if ((st = lm_prompt_add_embd(p, NULL, k, -1, err))) return st;
            if ((st = state_enc_encode(state, in->state, in->n_state, p->embd + row0 * p->n_embd, err))) return st;
        } else {
            const char *name = cam[0] ? cam : spec->first_cam;
            int ci = -1;
            for (int i = 0; i < spec->n_cams; i++)
                if (!strcmp(spec->cams[i], name)) ci = i;
            if (ci < 0 || ci >= in->n_images || !in->images[ci] || !vision)
                return em_err(err, EM_ERR_ARG, "prompt: no frame of camera \"%s\"", name);
            if (!have_layout && (st = agent_vlm_layout_find(m->vocab, &lt, err))) return st;
            have_layout = 1;
            const vision_embd *e;
            if ((st = vision_encode_image(vision, in->images[ci], &e, err))) return st;
            agent_vlm_image im = {e->grid_x, e->grid_y, e->n_tiles, e->tokens_per_tile, e->data, 0};
            if ((st = agent_vlm_add_image(p, m->vocab, &lt, &im, err))) return st;
        }
        text = c + len;
        c = text;
    }
    return add_text(p, m, text, strlen(text), err);
}
