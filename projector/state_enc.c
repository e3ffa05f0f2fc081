/* state_enc.c - the sensor-state encoder (state_enc.h, STATE_FORMAT.md). */
#include "state_enc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/gguf.h"
#include "../core/gguf_bind.h"

#define SE_MAX_LAYERS 8

struct state_enc {
    em_backend *be;
    gguf_ctx *gguf;
    em_binder *bind;
    int n_in, n_hidden, n_layers, k, n_embd;
    char **fields;
    float *mean, *scale;
    int *idx;          /* per field: its index in the bound layout, -1 before a bind */
    int bound, layout_n;
    em_tensor w[SE_MAX_LAYERS], b[SE_MAX_LAYERS], w_out, b_out;
    em_tensor x, h[2], out; /* activations */
    float *host_x;
    char path[512];
};

void state_enc_free(state_enc *se) {
    if (!se) return;
    em_tensor *acts[] = {&se->x, &se->h[0], &se->h[1], &se->out};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i]->data || acts[i]->extra) em_backend_release(se->be, acts[i]);
    em_binder_free(se->bind);
    gguf_close(se->gguf);
    for (int i = 0; se->fields && i < se->n_in; i++) free(se->fields[i]);
    free(se->fields);
    free(se->mean);
    free(se->scale);
    free(se->idx);
    free(se->host_x);
    free(se);
}

static ember_status act(state_enc *se, em_tensor *t, int64_t n, const char *name, uint32_t flags, char *err) {
    *t = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1);
    t->name = name;
    t->flags = flags;
    return em_backend_alloc(se->be, t, err);
}

state_enc *state_enc_load(const char *path, em_backend *be, char *err) {
    state_enc *se = calloc(1, sizeof *se);
    if (!se) {
        em_err(err, EM_ERR_NOMEM, "state_enc_load: out of memory");
        return NULL;
    }
    se->be = be;
    snprintf(se->path, sizeof se->path, "%s", path);
    char e[EM_ERR_LEN];
    if (!(se->gguf = gguf_open(path, e))) {
        em_err(err, EM_ERR_IO, "%s", e);
        goto fail;
    }
    const char *arch = NULL;
    if (gguf_get_str(se->gguf, "general.architecture", &arch, e) || strcmp(arch, STATE_ENC_ARCH)) {
        em_err(err, EM_ERR_FORMAT, "%s: not a state encoder (general.architecture is %s%s%s, expected \"%s\")", path,
               arch ? "\"" : "", arch ? arch : "missing", arch ? "\"" : "", STATE_ENC_ARCH);
        goto fail;
    }
    if (!(se->bind = em_binder_create(se->gguf, be, path, "state_enc_load", "state encoder", err))) goto fail;
    em_binder *b = se->bind;
    if (em_bind_key_int(b, "ember.state.tokens", true, 1, 1024, 0, &se->k, err) ||
        em_bind_key_int(b, "ember.state.embedding_length", true, 1, 1 << 16, 0, &se->n_embd, err) ||
        em_bind_key_int(b, "ember.state.hidden_length", true, 1, 1 << 16, 0, &se->n_hidden, err) ||
        em_bind_key_int(b, "ember.state.layers", false, 1, SE_MAX_LAYERS, 1, &se->n_layers, err))
        goto fail;
    const char *activation = NULL;
    if (em_bind_key_str(b, "ember.state.activation", false, "gelu", &activation, err)) goto fail;
    if (strcmp(activation, "gelu")) {
        em_err(err, EM_ERR_UNSUPPORTED, "%s: ember.state.activation \"%s\": Ember runs \"gelu\" (tanh approximation)",
               path, activation);
        goto fail;
    }
    /* the fields, in the order the weights read them */
    enum gguf_vtype et;
    uint64_t n_fields = 0;
    const void *data;
    if (gguf_get_arr(se->gguf, "ember.state.fields", &et, &n_fields, &data, e) || et != GGUF_TYPE_STRING ||
        n_fields < 1 || n_fields > STATE_ENC_MAX_FIELDS) {
        em_err(err, EM_ERR_FORMAT, "%s: ember.state.fields must be an array of 1..%d field names", path, STATE_ENC_MAX_FIELDS);
        goto fail;
    }
    se->n_in = (int)n_fields;
    se->fields = calloc(n_fields, sizeof *se->fields);
    se->mean = malloc(n_fields * sizeof *se->mean);
    se->scale = malloc(n_fields * sizeof *se->scale);
    se->idx = malloc(n_fields * sizeof *se->idx);
    se->host_x = malloc(n_fields * sizeof *se->host_x);
    if (!se->fields || !se->mean || !se->scale || !se->idx || !se->host_x) {
        em_err(err, EM_ERR_NOMEM, "state_enc_load: out of memory");
        goto fail;
    }
    for (int i = 0; i < se->n_in; i++) {
        size_t len;
        const char *s = gguf_get_arr_str(se->gguf, "ember.state.fields", (uint64_t)i, &len);
        if (!s || !len || len > 63 || !(se->fields[i] = strndup(s, len))) {
            em_err(err, EM_ERR_FORMAT, "%s: ember.state.fields[%d] is empty or longer than 63 bytes", path, i);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(se->fields[j], se->fields[i])) {
                em_err(err, EM_ERR_FORMAT, "%s: ember.state.fields names \"%s\" twice", path, se->fields[i]);
                goto fail;
            }
        se->idx[i] = -1;
    }
    if (em_bind_key_f32_array(b, "ember.state.mean", se->n_in, se->mean, err) ||
        em_bind_key_f32_array(b, "ember.state.scale", se->n_in, se->scale, err))
        goto fail;
    for (int i = 0; i < se->n_in; i++)
        if (!isfinite(se->mean[i]) || !isfinite(se->scale[i]) || se->scale[i] == 0) {
            em_err(err, EM_ERR_FORMAT, "%s: field \"%s\": mean %g, scale %g (the scale must be finite and non-zero)", path,
                   se->fields[i], se->mean[i], se->scale[i]);
            goto fail;
        }
    /* the MLP */
    for (int l = 0; l < se->n_layers; l++) {
        char wn[64], bn[64];
        snprintf(wn, sizeof wn, "state.fc%d.weight", l);
        snprintf(bn, sizeof bn, "state.fc%d.bias", l);
        if (em_bind_mat(b, wn, l ? se->n_hidden : se->n_in, se->n_hidden, &se->w[l], err) ||
            em_bind_vec(b, bn, se->n_hidden, &se->b[l], err))
            goto fail;
    }
    const int64_t n_out = (int64_t)se->k * se->n_embd;
    if (em_bind_mat(b, "state.out.weight", se->n_hidden, n_out, &se->w_out, err) ||
        em_bind_vec(b, "state.out.bias", n_out, &se->b_out, err))
        goto fail;
    if (act(se, &se->x, se->n_in, "state_x", EM_TENSOR_HOST_IO, err) || act(se, &se->h[0], se->n_hidden, "state_h0", 0, err) ||
        act(se, &se->h[1], se->n_hidden, "state_h1", 0, err) || act(se, &se->out, n_out, "state_out", EM_TENSOR_HOST_IO, err))
        goto fail;
    return se;
fail:
    state_enc_free(se);
    return NULL;
}

int state_enc_tokens(const state_enc *se) { return se->k; }
int state_enc_n_embd(const state_enc *se) { return se->n_embd; }
int state_enc_n_fields(const state_enc *se) { return se->n_in; }

ember_status state_enc_bind(state_enc *se, const char *const *names, int n, char *err) {
    se->bound = 0;
    for (int i = 0; i < se->n_in; i++) {
        se->idx[i] = -1;
        for (int j = 0; j < n && se->idx[i] < 0; j++)
            if (names[j] && !strcmp(names[j], se->fields[i])) se->idx[i] = j;
        if (se->idx[i] < 0)
            return em_err(err, EM_ERR_NOT_FOUND,
                          "%s: the controller's state has no field \"%s\" (the encoder reads %d fields by name; the "
                          "controller's layout has %d entries)", se->path, se->fields[i], se->n_in, n);
    }
    se->bound = 1;
    se->layout_n = n;
    return EM_OK;
}

ember_status state_enc_encode(state_enc *se, const double *values, int n, float *out, char *err) {
    if (!se->bound) return em_err(err, EM_ERR_ARG, "state_enc_encode: no layout bound (state_enc_bind first)");
    if (n < se->layout_n)
        return em_err(err, EM_ERR_ARG, "state_enc_encode: %d values for a layout of %d", n, se->layout_n);
    for (int i = 0; i < se->n_in; i++) {
        const double v = values[se->idx[i]];
        if (!isfinite(v)) return em_err(err, EM_ERR_ARG, "state field \"%s\" is %g, not a finite number", se->fields[i], v);
        se->host_x[i] = (float)((v - se->mean[i]) / se->scale[i]);
    }
    em_backend *be = se->be;
    const em_backend_ops *op = be->ops;
    ember_status st;
    if ((st = op->upload(be, &se->x, se->host_x, 0, (size_t)se->n_in * sizeof(float), err))) return st;
    const em_tensor *in = &se->x;
    for (int l = 0; l < se->n_layers; l++) {
        em_tensor *h = &se->h[l & 1];
        op->matmul(be, h, &se->w[l], in);
        op->add_bias(be, h, h, &se->b[l]);
        op->gelu(be, h, h);
        in = h;
    }
    op->matmul(be, &se->out, &se->w_out, in);
    op->add_bias(be, &se->out, &se->out, &se->b_out);
    if ((st = em_backend_sync(be, err))) return st;
    return op->download(be, &se->out, out, 0, (size_t)se->k * se->n_embd * sizeof(float), err);
}
