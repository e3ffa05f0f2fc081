/* vocab.h - a model's vocabulary and its tokenizer, as llama.cpp reads them
 * from GGUF `tokenizer.ggml.*` keys.
 *
 *   tokenizer.ggml.model = "gpt2"  byte-level BPE (merges), pre-tokenized by
 *       the regexes llama.cpp uses for tokenizer.ggml.pre (default, gpt-2,
 *       smollm, llama3/llama-bpe, starcoder, qwen2, ...), run with PCRE2 (UTF+UCP);
 *   tokenizer.ggml.model = "llama" SentencePiece-style: scores, byte-fallback
 *       tokens <0xXX>, "▁" for spaces, a leading space added as llama.cpp does.
 *
 * Special and control tokens (token_type CONTROL / USER_DEFINED) are matched as
 * whole strings in the text when parse_special is true, as llama.cpp's
 * tokenizer does; otherwise they are tokenized as ordinary text.
 * BOS is added when add_special is true and the file's
 * tokenizer.ggml.add_bos_token (or llama.cpp's default for the model type:
 * yes for "llama", no for "gpt2") says so; EOS likewise with add_eos_token.
 *
 * Ownership: lm_vocab_load returns a vocabulary the caller frees with
 * lm_vocab_free (NULL is a no-op). It copies what it needs, so the gguf_ctx may
 * be closed afterwards. A loaded vocabulary is immutable: tokenizing from
 * several threads at once is safe (per-call scratch is allocated per call). */
#ifndef EMBER_LM_VOCAB_H
#define EMBER_LM_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/gguf.h"
#include "../core/status.h"

typedef struct lm_vocab lm_vocab;

enum lm_vocab_type { LM_VOCAB_SPM = 1, LM_VOCAB_BPE = 2 };

/* llama.cpp's token types (tokenizer.ggml.token_type). */
enum lm_token_attr {
    LM_TOKEN_UNDEFINED = 0,
    LM_TOKEN_NORMAL = 1,
    LM_TOKEN_UNKNOWN = 2,
    LM_TOKEN_CONTROL = 3,
    LM_TOKEN_USER_DEFINED = 4,
    LM_TOKEN_UNUSED = 5,
    LM_TOKEN_BYTE = 6,
};

lm_vocab *lm_vocab_load(const gguf_ctx *g, char *err);
void lm_vocab_free(lm_vocab *v);

enum lm_vocab_type lm_vocab_type(const lm_vocab *v);
int32_t lm_vocab_n_tokens(const lm_vocab *v);
int32_t lm_vocab_bos(const lm_vocab *v);  /* -1 if none */
int32_t lm_vocab_eos(const lm_vocab *v);  /* -1 if none */
int32_t lm_vocab_eot(const lm_vocab *v);  /* end of turn (e.g. <|im_end|>), -1 if none */
bool lm_vocab_add_bos(const lm_vocab *v);
bool lm_vocab_add_eos(const lm_vocab *v);
/* End of generation: eos, eot or another token the file marks as such. */
bool lm_vocab_is_eog(const lm_vocab *v, int32_t tok);
enum lm_token_attr lm_vocab_token_type(const lm_vocab *v, int32_t tok);
/* The token's stored text (e.g. "Ġthe", "▁the", "<|im_end|>"); NULL if out of range. */
const char *lm_vocab_token_text(const lm_vocab *v, int32_t tok);
/* Exact lookup of a token's stored text; -1 if absent. */
int32_t lm_vocab_find(const lm_vocab *v, const char *text);
/* Length in bytes of the longest token text (sizes detokenizer buffers). */
uint32_t lm_vocab_max_token_len(const lm_vocab *v);

/* Tokenize text[0..len). Writes up to n_max ids to out and returns the total
 * number of tokens (which may exceed n_max: call again with a larger buffer),
 * or a negative ember_status on failure (message in err). */
int64_t lm_tokenize(const lm_vocab *v, const char *text, size_t len, bool add_special,
                    bool parse_special, int32_t *out, int64_t n_max, char *err);

/* The bytes a token stands for when detokenized (byte-level BPE decoded to raw
 * bytes, "▁" to space, <0xXX> to the byte). Control tokens give "" unless
 * render_special. Writes up to n bytes (not NUL-terminated) and returns the
 * piece's full length. */
int lm_token_to_piece(const lm_vocab *v, int32_t tok, bool render_special, char *buf, int n);

/* Detokenize a whole sequence as llama.cpp's llama_detokenize does:
 * remove_special drops a leading BOS / trailing EOS the vocabulary adds;
 * render_special prints control tokens' text. The first piece loses one
 * leading space when the vocabulary adds a space prefix (SPM) - except after
 * a dropped BOS, as in llama.cpp; BPE vocabularies whose pre-tokenizer says
 * so get llama.cpp's clean-up of spaces before punctuation. Writes up to cap
 * bytes (no NUL) and returns the length; a return value > cap means the text
 * did not fit: call again with at least that much room. */
size_t lm_detokenize(const lm_vocab *v, const int32_t *toks, size_t n_toks, bool remove_special,
                     bool render_special, char *out, size_t cap);

/* Streaming detokenizer: pieces can split a UTF-8 character across tokens, so
 * lm_detok_push holds back an incomplete trailing sequence and emits only
 * whole characters; lm_detok_flush emits what is left (invalid bytes as
 * U+FFFD; a byte that can never start or continue a valid sequence gives
 * U+FFFD at once). The pieces are lm_detokenize's without the space clean-up:
 * the first token pushed loses one leading space when the vocabulary adds a
 * space prefix (SPM), as llama_detokenize does for the first token - so push
 * the BOS too if it began the sequence (llama.cpp then keeps the space). */
typedef struct lm_detok {
    const lm_vocab *vocab;
    bool render_special;
    bool at_start;
    unsigned char pending[8];
    int n_pending;
} lm_detok;

void lm_detok_init(lm_detok *d, const lm_vocab *v, bool render_special);
/* Appends the printable text of tok to out and returns bytes written. At most
 * 3 * (piece length + 1) bytes are written; cap >= 3 * lm_vocab_max_token_len
 * + 16 always suffices (64 for ordinary tokens). What does not fit is lost.
 * Allocates only for pieces longer than 256 bytes. */
size_t lm_detok_push(lm_detok *d, int32_t tok, char *out, size_t cap);
size_t lm_detok_flush(lm_detok *d, char *out, size_t cap);

#endif
