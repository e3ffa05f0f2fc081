/* quantize.h - a GGUF model rewritten with llama.cpp's quantization mixes
 * (`ember quantize`).
 *
 * A mix ("Q4_K_M", "Q8_0", "F16", ...) is a llama_ftype: a base type plus
 * llama.cpp's per-tensor rules (llama_tensor_get_type in its
 * src/llama-quant.cpp), which this module follows for the llama
 * architecture:
 *   - only 2-D (or larger) tensors whose names end in "weight" are
 *     quantized, never norms or position/patch embeddings; the rest are
 *     copied as they are;
 *   - the output matrix (and the token embeddings when they are tied to
 *     it) gets Q6_K, or Q8_0 where rows do not fit 256-value blocks or the
 *     mix is Q8_0;
 *   - attn_v and ffn_down get more bits in the K mixes (Q4_K_M and Q5_K_M:
 *     Q6_K in the first and last eighth of the layers and every third one
 *     between; Q4_K_S: Q5_K in the first layers; Q3_K_M/L, Q2_K: their
 *     bumps), attn_output in Q2_K/Q3_K_M/Q3_K_L;
 *   - a tensor whose rows do not fit the chosen type's blocks falls back
 *     as llama.cpp's does: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
 *     Q2_K/Q3_K -> Q4_0, and F16 where even 32-value blocks do not fit.
 * Not followed: the clauses for mixture-of-experts, Falcon and 70B/8B
 * Llama models, importance matrices (no imatrix is read), and the IQ1/IQ2/
 * IQ3 mixes, whose quantizers need one.
 *
 * The keys are copied, general.file_type and general.quantization_version
 * set. The output is written to a temporary file beside OUT and renamed
 * over it when complete (gguf_writer_write): an interrupted run leaves no
 * half file at OUT. Each tensor is converted when the writer reaches it
 * (gguf_writer_add_tensor_fill), and a mapped input's pages are let go
 * once a tensor is read: a run holds about one input and one output tensor
 * and 4 MiB of float rows, whatever the model's size (a dim-1024 F32 model
 * of 929 MB to Q4_K_M: peak RSS 1,066 -> 263 MB, the same bytes). */
#ifndef EMBER_LM_QUANTIZE_H
#define EMBER_LM_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gguf.h"
#include "core/status.h"
#include "core/types.h"

/* The llama_ftype of a mix name (case-insensitive: "q4_k_m", "Q8_0",
 * "f16"), or -1 for a name that is not one of the mixes this module writes. */
int lm_quant_mix_parse(const char *name);
/* The mixes lm_quant_mix_parse knows, for a usage message: "F32 F16 ...". */
const char *lm_quant_mix_list(void);

typedef struct lm_quant_params {
    int ftype;              /* the mix (lm_quant_mix_parse) */
    bool pure;              /* every quantized tensor the base type: no per-tensor rules (llama-quantize --pure) */
    bool allow_requantize;  /* accept quantized inputs (dequantized first: quality is lost twice) */
    /* Called before each tensor (i of n) is converted or copied, in file
     * order, once the output file has been started; returning nonzero
     * stops the run (EM_ERR_RANGE, nothing left at OUT). May be NULL. */
    int (*progress)(void *user, int64_t i, int64_t n, const gguf_tensor_info *t, enum em_type to);
    void *user;
} lm_quant_params;

/* The type each tensor of src gets under p (types: gguf_n_tensors(src)
 * entries), without converting anything, whether or not Ember can write
 * those types yet (lm_quantize refuses, naming the tensor and type, where
 * it cannot). Fails for a quantized input without allow_requantize, and
 * for rows that fit no block of the type or its fallback. */
ember_status lm_quant_plan(const gguf_ctx *src, const lm_quant_params *p, enum em_type *types, char *err);

/* Quantize src into the file out. */
ember_status lm_quantize(const gguf_ctx *src, const char *out, const lm_quant_params *p, char *err);

#endif
