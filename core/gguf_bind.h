/* gguf_bind.h - reading a model part's hyperparameters and weights out of an
 * open GGUF file, with every check a loader needs, in one place.
 *
 * The language model (lm/model.c), the vision projector (vision/mmproj.c) and
 * the sensor-state encoder each read keys ("an integer in 1..1024, 2048 when
 * absent") and bind tensors ("blk.3.attn_q.weight must be [576, 576], of a
 * type the backend multiplies with"). An em_binder does both, so each loader
 * says only what it expects, and every file gets the same messages:
 *     "lm_model_load: m.gguf: key llama.block_count missing"
 *     "lm_model_load: m.gguf: blk.0.attn_q.weight has shape [64, 32], expected [64, 64]"
 *     "mmproj.gguf: v.blk.0.ln1.weight is f16; Ember expects f32 here (...)"
 * i.e. the loader (`who`, may be NULL), the file, the key or tensor, what was
 * found and what was expected.
 *
 * Binding a tensor wraps the file's bytes into the backend (em_backend_wrap:
 * no copy on the CPU, the pages mapped at once but for em_bind_table's; a
 * device copy on Vulkan, after which the host pages are dropped). Wrapped weights need no release: their memory is the mapping's,
 * or the backend's weight arena. Tensors the binder had to allocate (an f16
 * table converted to f32 by em_bind_tensor_f32, f16 matrices converted to bf16 by
 * em_bind_mat_bf16) are owned by the binder and released
 * by em_binder_free, so a loader keeps its binder as long as its weights.
 *
 * Ownership: the binder borrows the gguf_ctx and the backend; both must
 * outlive it (free the binder first). Copies the path. em_binder_free(NULL)
 * is a no-op. Threads: a binder is used by one thread at a time (as its
 * backend). Allocates only when created and when em_bind_tensor_f32 or
 * em_bind_mat_bf16 converts. */
#ifndef EMBER_GGUF_BIND_H
#define EMBER_GGUF_BIND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "gguf.h"

typedef struct em_binder em_binder;

/* g, be: borrowed. path: the file, for messages (copied). who: the loader's
 * name starting each message ("lm_model_load"), or NULL for none. kind: what
 * the file should be ("vision projector"), added to a missing key's or
 * tensor's message ("...: not a complete vision projector"), or NULL.
 * who and kind must be string literals (kept, not copied). */
em_binder *em_binder_create(const gguf_ctx *g, em_backend *be, const char *path, const char *who, const char *kind,
                            char *err);
/* Releases the tensors the binder allocated (not the wrapped ones). */
void em_binder_free(em_binder *b);

/* ---- keys */

/* An integer key into *out: lo..hi, or dflt when absent and not required
 * (dflt is not range-checked: it may come from another key). Any GGUF integer
 * type is accepted. EM_ERR_FORMAT when missing, mistyped or out of range. */
ember_status em_bind_key_int(em_binder *b, const char *key, bool required, int lo, int hi, int dflt, int *out,
                             char *err);
/* A float key (FLOAT32/FLOAT64, or an integer) strictly between lo and hi:
 * the quantities read this way (epsilons, rope bases, scale factors) are
 * positive and their ends meaningless. dflt when absent and not required. */
ember_status em_bind_key_f32(em_binder *b, const char *key, bool required, double lo, double hi, float dflt,
                             float *out, char *err);
/* A string key; *out points into the gguf_ctx. dflt (may be NULL) when absent
 * and not required. */
ember_status em_bind_key_str(em_binder *b, const char *key, bool required, const char *dflt, const char **out,
                             char *err);
/* The first n values of a float array key (FLOAT32 or FLOAT64, at least n of
 * them), e.g. an image mean per channel. Always required. */
ember_status em_bind_key_f32_array(em_binder *b, const char *key, int n, float *out, char *err);

/* ---- tensors */

/* Accepted storage types: a mask of (1u << em_type) bits. EM_BIND_WEIGHT
 * stands for "any type the backend multiplies with" (matrices);
 * EM_BIND_F32_ONLY for norms, biases and embeddings, which llama.cpp's
 * converters keep in f32. */
#define EM_BIND_WEIGHT 0xffffffffu
#define EM_BIND_F32_ONLY (1u << EM_TYPE_F32)

/* The directory entry of tensor `name`, or NULL with "tensor NAME missing" in
 * err: for a tensor whose shape gives a hyperparameter (token_embd's rows). */
const gguf_tensor_info *em_bind_find(em_binder *b, const char *name, char *err);

/* Bind tensor `name`, which must have exactly the n_dims (1..4) dims ne[] in
 * the file (further dims 1) and a type in `types` that the backend computes
 * with. *out is a 2-D view: ne[n_dims-1] rows of the product of the other
 * dims (a vector is one row; a conv kernel [kw, kh, c_in, c_out] becomes
 * c_out rows of kw*kh*c_in values, as an im2col product takes it). */
ember_status em_bind_tensor(em_binder *b, const char *name, uint32_t types, int n_dims, const int64_t *ne,
                            em_tensor *out, char *err);
/* The two common cases: an f32 vector of n, and a weight matrix of `rows`
 * rows of `cols` values (file shape [cols, rows]). */
ember_status em_bind_vec(em_binder *b, const char *name, int64_t n, em_tensor *out, char *err);
ember_status em_bind_mat(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out, char *err);
/* As em_bind_mat, for a table read a row at a time (an untied token
 * embedding): where the backend reads the file in place, the weights bound
 * above have their pages mapped at bind time (as llama.cpp's MAP_POPULATE),
 * so no product pays page faults; a table's are left to be read as rows are
 * used, so it takes memory only for the tokens seen. */
ember_status em_bind_table(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out, char *err);
/* As em_bind_tensor, but *out is always f32 (for ops that take f32 only, as
 * add does): f32 is wrapped; f16 and bf16 are converted into a tensor the
 * binder allocates and owns. */
ember_status em_bind_tensor_f32(em_binder *b, const char *name, int n_dims, const int64_t *ne, em_tensor *out,
                                char *err);
/* As em_bind_mat, but an f16 matrix becomes a bf16 one the binder owns (the
 * file's pages are not kept), for a backend whose bf16 products are faster
 * (the CPU's with AVX512_BF16: twice the values per instruction). Each value
 * is rounded to nearest even; *inexact (when not NULL) is increased by the
 * number that bf16 could not hold exactly: 0 for a file converted to f16
 * from a bf16 checkpoint, whose values have bf16's 8-bit mantissa. Other
 * types are bound as stored. EM_ERR_UNSUPPORTED when the backend does not
 * multiply with bf16. */
ember_status em_bind_mat_bf16(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out,
                              size_t *inexact, char *err);

#endif
