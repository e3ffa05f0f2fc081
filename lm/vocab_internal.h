/* vocab_internal.h - the inside of lm_vocab, shared by the lm/ tokenizer files
 * (vocab.c loads it, pretokenize.c, tokenize*.c and detok.c read it). Not a
 * public header: nothing outside lm/ includes it. */
#ifndef EMBER_LM_VOCAB_INTERNAL_H
#define EMBER_LM_VOCAB_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "vocab.h"

/* llama.cpp's token attributes, a bit set (a token's file type maps to one bit;
 * the loader may OR in CONTROL or UNUSED as llama.cpp does). */
enum {
    LM_ATTR_UNKNOWN = 1 << 0,
    LM_ATTR_UNUSED = 1 << 1,
    LM_ATTR_NORMAL = 1 << 2,
    LM_ATTR_CONTROL = 1 << 3,
    LM_ATTR_USER_DEFINED = 1 << 4,
    LM_ATTR_BYTE = 1 << 5,
};

#define LM_PRE_MAX_REGEX 6

/* One pre-tokenizer: the regexes llama.cpp applies in order for a
 * tokenizer.ggml.pre value, and the flags it sets with them. */
struct lm_pretok_def {
    const char *kind; /* llama.cpp's LLAMA_VOCAB_PRE_TYPE_ name, for messages */
    const char *regex[LM_PRE_MAX_REGEX];
};

struct lm_merge_slot {
    uint64_t key;   /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank;
    int32_t result; /* id of left+right, -1 if that string is not a token */
};

struct lm_vocab {
    enum lm_vocab_type type;
    int32_t n_tokens;
    const char **text;  /* id -> NUL-terminated text (in `arena`) */
    uint32_t *len;      /* id -> byte length of text */
    float *score;
    uint8_t *ttype;     /* id -> enum lm_token_attr as the file says (CONTROL if promoted) */
    uint8_t *attr;      /* id -> LM_ATTR_* bits */
    uint8_t *eog;       /* id -> 1 if end of generation */
    char *arena;
    uint32_t max_len;   /* longest token text */

    int32_t *hash;      /* open addressing, token ids, -1 empty */
    size_t hash_mask;

    struct lm_merge_slot *merges;
    size_t merge_mask;
    int64_t n_merges;

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges, clean_spaces;

    const struct lm_pretok_def *pre;
    pcre2_code *re[LM_PRE_MAX_REGEX];
    int n_re;

    int32_t *special;   /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_special;
};

/* A piece of text: [off, off + len) into a buffer. */
struct lm_span {
    size_t off, len;
};

/* A growable list of token ids. */
struct lm_toks {
    int32_t *v;
    size_t n, cap;
};
ember_status lm_toks_push(struct lm_toks *t, int32_t id);

int32_t lm_vocab_lookup(const lm_vocab *v, const char *s, size_t n);
int32_t lm_merge_find(const lm_vocab *v, int32_t left, int32_t right, int32_t *result);

/* pretokenize.c */
/* Find the pre-tokenizer for a tokenizer.ggml.pre value and the flags llama.cpp
 * sets with it; EM_ERR_UNSUPPORTED for an unknown name. */
ember_status lm_pretok_setup(lm_vocab *v, const char *pre, char *err);
/* Split text (valid UTF-8) by the vocabulary's regexes, as llama.cpp's
 * unicode_regex_split does (the unmatched gaps stay pieces too). *out is
 * malloc'd, owned by the caller. */
ember_status lm_pretok_split(const lm_vocab *v, const char *text, size_t len, struct lm_span **out,
                             size_t *n_out, char *err);
/* Copy text to a new buffer with each invalid UTF-8 byte replaced by U+FFFD,
 * as llama.cpp's unicode_cpts_from_utf8 does. */
ember_status lm_utf8_sanitize(const char *text, size_t len, char **out, size_t *n_out);

/* GPT-2 byte-level mapping: byte -> code point, and back (-1 if none). */
uint32_t lm_byte_to_cpt(uint8_t b);
int lm_cpt_to_byte(uint32_t cpt);
/* Encode a code point as UTF-8 into buf (4 bytes); returns the length. */
int lm_utf8_put(uint32_t cpt, char *buf);

/* tokenize_bpe.c / tokenize_spm.c: tokenize one raw-text fragment. */
ember_status lm_tokenize_bpe(const lm_vocab *v, const char *text, size_t len, struct lm_toks *out, char *err);
ember_status lm_tokenize_spm(const lm_vocab *v, const char *text, size_t len, struct lm_toks *out, char *err);

#endif
