/* attn.glsl - what the attention shaders (attn_*.comp) share: how a KV cache
 * row is read, and the "minus infinity" of masked scores.
 *
 * Cache layout (core/backend.h): row t of a cache holds n_head_kv heads of
 * head_dim values, F16 (KV_F16) or F32; rows are kv_stride bytes apart. A
 * head's values are read as pairs, one 32-bit word per pair for F16 and two
 * for F32, so an even head_dim keeps every read on a word boundary and no
 * 16-bit storage feature is needed. Arithmetic is fp32 either way. */

/* The query as it meets the keys: rounded to fp16 against an F16 cache, as
 * the CPU backend and llama.cpp's CPU path do (their products convert it to
 * the cache's type). The softmax weights they round too are normalised ones,
 * which an online softmax does not have: that part of the difference stays. */
#ifdef KV_F16
#define ATTN_Q(v) em_round_f16(v)
#else
#define ATTN_Q(v) (v)
#endif

#ifdef KV_F16
#define KV_ES 2u
/* Values 2j and 2j+1 of the head whose first value is at word wbase. */
#define KV_PAIR(buf, wbase, j) unpackHalf2x16(buf[(wbase) + (j)])
#else
#define KV_ES 4u
#define KV_PAIR(buf, wbase, j) \
    vec2(uintBitsToFloat(buf[(wbase) + 2u * (j)]), uintBitsToFloat(buf[(wbase) + 2u * (j) + 1u]))
#endif

/* The score of a masked key, and the running maximum before any key. Finite,
 * so that exp(ATTN_NEG - m) is a clean 0 for any real m and nothing ever
 * computes inf - inf; far below any real score. */
const float ATTN_NEG = -1.0e30;
