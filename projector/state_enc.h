/* state_enc.h - the sensor-state encoder (PaLM-E's state input): a robot's
 * state vector in, k rows of the decoder's embedding width out, for the
 * interleaved prompt's <state> placeholder.
 *
 *   x_i = (v[field_i] - mean_i) / scale_i          for the fields it was trained on
 *   h   = gelu(W_0 x + b_0), then h = gelu(W_j h + b_j) for j = 1..n_layers-1
 *   out = W_out h + b_out                          k * n_embd values = k rows
 *
 * GELU is the tanh approximation (SigLIP's, the backend's gelu op). The
 * file format is Ember's own, documented in projector/STATE_FORMAT.md:
 * general.architecture "ember-state", keys under "ember.state.", the field
 * names it was trained on with their normalisation, so a deployment cannot
 * feed it fields in another order or forget to normalise.
 *
 * Fields are matched by name (state_enc_bind): a controller's layout may
 * hold them in any order and hold more (ignored); a field it lacks is an
 * error naming it. The products run on the backend given at load, through
 * the same ops as the ViT (matmul, add_bias, gelu), so Vulkan and the CPU
 * compute it alike.
 *
 * Ownership: state_enc_load returns an encoder the caller frees with
 * state_enc_free (NULL is a no-op); it borrows the backend, which must
 * outlive it. One thread at a time (as its backend). */
#ifndef EMBER_PROJECTOR_STATE_ENC_H
#define EMBER_PROJECTOR_STATE_ENC_H

#include "../core/backend.h"
#include "../core/status.h"

#define STATE_ENC_ARCH "ember-state"
#define STATE_ENC_MAX_FIELDS 256

typedef struct state_enc state_enc;

/* Load and check a state encoder file. EM_ERR_FORMAT (in err) for a file
 * that is not one (naming the key or tensor), EM_ERR_IO for an unreadable
 * one. */
state_enc *state_enc_load(const char *path, em_backend *be, char *err);
void state_enc_free(state_enc *se);

int state_enc_tokens(const state_enc *se);  /* k */
int state_enc_n_embd(const state_enc *se);  /* the width it encodes to */
int state_enc_n_fields(const state_enc *se);

/* Match the encoder's fields by name in a controller's layout (n names).
 * EM_ERR_NOT_FOUND names the first field the layout lacks. */
ember_status state_enc_bind(state_enc *se, const char *const *names, int n, char *err);

/* Encode a state vector laid out as the last bind's layout (n values, at
 * least the layout's): k * n_embd floats into out. EM_ERR_ARG before a
 * bind, or for a value that is not finite (naming the field). */
ember_status state_enc_encode(state_enc *se, const double *values, int n, float *out, char *err);

#endif
