/* pretokenize.c - byte-level BPE pre-tokenizers: the regexes llama.cpp runs
 * for each tokenizer.ggml.pre value, compiled with PCRE2 (UTF + UCP, JIT when
 * available), and the split that applies them in turn.
 *
 * llama.cpp applies a list of regexes: each one splits every current piece
 * into its matches and the unmatched gaps between them (both stay pieces), so
 * e.g. SmolLM's "\p{N}" first isolates every digit and the GPT-2 regex then
 * splits the rest. llama.cpp runs some regexes through hand-written matchers
 * (GPT-2, LLaMA-3) and others through std::regex over a "collapsed" text; PCRE2
 * with Unicode properties gives the same pieces for the same regex.
 *
 * An unknown pre value is refused (EM_ERR_UNSUPPORTED), as llama.cpp refuses
 * it: falling back to GPT-2 would tokenize differently from the model's
 * training without any sign. A missing pre value means "default", with a
 * warning on stderr, as llama.cpp does. */
#include "vocab_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_RE                                                                                              \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "   \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                               \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "        \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

enum pre_kind {
    PRE_DEFAULT,
    PRE_GPT2,
    PRE_LLAMA3,
    PRE_STARCODER,
    PRE_QWEN2,
    PRE_FALCON,
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK_CODER,
    PRE_DEEPSEEK3,
    PRE_PORO,
    PRE_VIKING,
    PRE_TEKKEN,
    PRE_GPT4O,
    PRE_CHAMELEON,
    PRE_SEED_CODER,
    PRE_BAILINGMOE,
};

static const struct lm_pretok_def pre_defs[] = {
    [PRE_DEFAULT] = {"default",
                     {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}},
    [PRE_GPT2] = {"gpt2", {GPT2_RE}},
    [PRE_LLAMA3] = {"llama3", {LLAMA3_RE}},
    [PRE_STARCODER] = {"starcoder", {"\\p{N}", GPT2_RE}},
    [PRE_QWEN2] = {"qwen2", {QWEN2_RE}},
    [PRE_FALCON] = {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}},
    [PRE_DEEPSEEK_LLM] =
        {"deepseek-llm",
         {"[\r\n]",
          "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
          "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"}},
    [PRE_DEEPSEEK_CODER] = {"deepseek-coder",
                            {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
    [PRE_DEEPSEEK3] = {"deepseek3",
                       {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
                        "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    [PRE_PORO] = {"poro", {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
    [PRE_VIKING] = {"viking", {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}},
    [PRE_TEKKEN] = {"tekken",
                    {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=["
                     "\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/"
                     "]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [PRE_GPT4O] = {"gpt4o",
                   {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV]["
                    "eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*("
                    "?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/"
                    "]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [PRE_CHAMELEON] = {"chameleon",
                       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
                        "[\\p{P}!-/:-@\\[-`{-~]", GPT2_RE}},
    [PRE_SEED_CODER] = {"seed-coder",
                        {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
                         "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    [PRE_BAILINGMOE] = {"bailingmoe",
                        {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
};

/* tokenizer.ggml.pre values and what llama.cpp sets for each (its load()):
 * which regexes, and whether it ignores merges for whole-token words, adds BOS
 * by default, or cleans spaces when detokenizing. */
enum { F_IGNORE_MERGES = 1, F_ADD_BOS = 2, F_NO_CLEAN = 4 };
static const struct {
    const char *name;
    enum pre_kind kind;
    int flags;
} pre_names[] = {
    {"default", PRE_DEFAULT, 0},
    {"llama3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon-h1", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"pixtral", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"midm-2.0", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"lfm2", PRE_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"dbrx", PRE_LLAMA3, 0},
    {"smaug-bpe", PRE_LLAMA3, 0},
    {"glm4", PRE_LLAMA3, 0},
    {"chatglm-bpe", PRE_LLAMA3, 0},
    {"deepseek-llm", PRE_DEEPSEEK_LLM, F_NO_CLEAN},
    {"deepseek-coder", PRE_DEEPSEEK_CODER, F_NO_CLEAN},
    {"deepseek-v3", PRE_DEEPSEEK3, F_NO_CLEAN},
    {"falcon", PRE_FALCON, 0},
    {"mpt", PRE_GPT2, 0},
    {"gpt-2", PRE_GPT2, 0},
    {"phi-2", PRE_GPT2, 0},
    {"jina-es", PRE_GPT2, 0},
    {"jina-de", PRE_GPT2, 0},
    {"gigachat", PRE_GPT2, 0},
    {"jina-v2-es", PRE_GPT2, 0},
    {"jina-v2-de", PRE_GPT2, 0},
    {"a.x-4.0", PRE_GPT2, 0},
    {"mellum", PRE_GPT2, 0},
    {"modern-bert", PRE_GPT2, 0},
    {"exaone4", PRE_GPT2, 0},
    {"olmo", PRE_GPT2, 0},
    {"jais", PRE_GPT2, 0},
    {"trillion", PRE_GPT2, F_NO_CLEAN},
    {"granite-docling", PRE_GPT2, F_NO_CLEAN},
    {"starcoder", PRE_STARCODER, 0},
    {"refact", PRE_STARCODER, 0},
    {"codeshell", PRE_STARCODER, 0},
    {"exaone", PRE_STARCODER, 0},
    {"minerva-7b", PRE_STARCODER, 0},
    {"mellum2", PRE_STARCODER, 0},
    {"command-r", PRE_STARCODER, F_NO_CLEAN},
    {"smollm", PRE_STARCODER, F_NO_CLEAN},
    {"qwen2", PRE_QWEN2, F_NO_CLEAN},
    {"deepseek-r1-qwen", PRE_QWEN2, F_NO_CLEAN},
    {"kormo", PRE_QWEN2, F_NO_CLEAN},
    {"f2llmv2", PRE_QWEN2, F_NO_CLEAN},
    {"hunyuan", PRE_QWEN2, F_NO_CLEAN},
    {"solar-open", PRE_QWEN2, F_NO_CLEAN},
    {"grok-2", PRE_QWEN2, F_NO_CLEAN},
    {"megrez", PRE_QWEN2, 0},
    {"stablelm2", PRE_QWEN2, 0},
    {"poro-chat", PRE_PORO, F_NO_CLEAN},
    {"bloom", PRE_PORO, 0},
    {"gpt3-finnish", PRE_PORO, 0},
    {"viking", PRE_VIKING, F_NO_CLEAN},
    {"tekken", PRE_TEKKEN, F_IGNORE_MERGES | F_ADD_BOS | F_NO_CLEAN},
    {"gpt-4o", PRE_GPT4O, F_NO_CLEAN},
    {"llama4", PRE_GPT4O, F_NO_CLEAN},
    {"chameleon", PRE_CHAMELEON, F_ADD_BOS | F_NO_CLEAN},
    {"seed-coder", PRE_SEED_CODER, F_NO_CLEAN},
    {"bailingmoe", PRE_BAILINGMOE, F_NO_CLEAN},
    {"bailingmoe2", PRE_BAILINGMOE, F_NO_CLEAN},
    {"llada-moe", PRE_BAILINGMOE, F_NO_CLEAN},
};

ember_status lm_pretok_setup(lm_vocab *v, const char *pre, char *err) {
    int idx = -1;
    if (!pre) {
        fprintf(stderr, "lm_vocab_load: warning: tokenizer.ggml.pre missing, using 'default' (as llama.cpp does; "
                        "tokens may differ from the model's own tokenizer)\n");
        idx = 0;
    } else {
        for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (!strcmp(pre, pre_names[i].name)) idx = (int)i;
    }
    if (idx < 0)
        return em_err(err, EM_ERR_UNSUPPORTED,
                      "lm_vocab_load: tokenizer.ggml.pre = '%.64s': unknown pre-tokenizer (Ember knows llama.cpp's "
                      "gpt-2, default, llama3/llama-bpe, smollm, starcoder, qwen2, falcon, deepseek-*, tekken, gpt-4o, ...)",
                      pre);
    v->pre = &pre_defs[pre_names[idx].kind];
    int f = pre_names[idx].flags;
    v->ignore_merges = f & F_IGNORE_MERGES;
    if (f & F_ADD_BOS) v->add_bos = true;
    v->clean_spaces = !(f & F_NO_CLEAN);

    bool jit = false;
    uint32_t have_jit = 0;
    if (pcre2_config(PCRE2_CONFIG_JIT, &have_jit) >= 0 && have_jit) jit = true;
    for (int i = 0; i < LM_PRE_MAX_REGEX && v->pre->regex[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->pre->regex[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY,
                                       &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return em_err(err, EM_ERR_INTERNAL, "lm_vocab_load: pre-tokenizer %s: regex %d: %s at offset %zu",
                          v->pre->kind, i, (const char *)msg, (size_t)eo);
        }
        /* JIT is only a speed-up: pcre2_match falls back to the interpreter */
        if (jit) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        v->re[v->n_re++] = re;
    }
    return EM_OK;
}

/* ---- UTF-8 */

int lm_utf8_put(uint32_t c, char *b) {
    if (c < 0x80) {
        b[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (c >> 18));
    b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    b[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Decode one code point as llama.cpp's unicode_cpt_from_utf8 does (lead byte
 * decides the length, continuation bytes are checked, nothing else); returns
 * the length, or 0 if invalid. */
static int utf8_get(const unsigned char *s, size_t n, uint32_t *c) {
    unsigned char b = s[0];
    if (b < 0x80) {
        *c = b;
        return 1;
    }
    int len = (b & 0x40) == 0 ? 0 : (b & 0x20) == 0 ? 2 : (b & 0x10) == 0 ? 3 : (b & 0x08) == 0 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return 0;
    uint32_t x = b & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        x = (x << 6) | (s[i] & 0x3F);
    }
    *c = x;
    return len;
}

ember_status lm_utf8_sanitize(const char *text, size_t len, char **out, size_t *n_out) {
    char *buf = malloc(3 * len + 1);
    if (!buf) return EM_ERR_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = utf8_get((const unsigned char *)text + i, len - i, &c);
        if (k == 0) {
            c = 0xFFFD;
            k = 1;
        } else if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) {
            /* llama.cpp would pass a surrogate on or throw for > U+10FFFF;
             * PCRE2 needs valid UTF-8, so these become U+FFFD too */
            c = 0xFFFD;
        }
        /* re-encoding also turns overlong forms into their short form, as
         * llama.cpp's code point round trip does */
        o += (size_t)lm_utf8_put(c, buf + o);
        i += (size_t)k;
    }
    buf[o] = 0;
    *out = buf;
    *n_out = o;
    return EM_OK;
}

/* ---- GPT-2 byte <-> code point: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order */

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t lm_byte_to_cpt(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++) n += !byte_is_printable(x);
    return 256 + n;
}

int lm_cpt_to_byte(uint32_t c) {
    if (c < 256) return byte_is_printable(c) ? (int)c : -1;
    if (c >= 256 + 68) return -1;
    uint32_t n = c - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_printable(x) && n-- == 0) return (int)x;
    return -1;
}

/* ---- splitting */

struct spans {
    struct lm_span *v;
    size_t n, cap;
};

static bool spans_push(struct spans *s, size_t off, size_t len) {
    if (len == 0) return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct lm_span *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return false;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = (struct lm_span){off, len};
    return true;
}

ember_status lm_pretok_split(const lm_vocab *v, const char *text, size_t len, struct lm_span **out, size_t *n_out,
                             char *err) {
    struct spans cur = {0}, next = {0};
    pcre2_match_data *md = NULL;
    ember_status st = EM_OK;
    if (!spans_push(&cur, 0, len)) goto nomem;
    md = pcre2_match_data_create(4, NULL);
    if (!md) goto nomem;
    for (int r = 0; r < v->n_re; r++) {
        next.n = 0;
        for (size_t k = 0; k < cur.n; k++) {
            /* each piece is its own subject, so lookaheads like (?!\S) stop at
             * the piece's end, as llama.cpp's per-piece matching does */
            const char *s = text + cur.v[k].off;
            size_t n = cur.v[k].len, pos = 0, gap = 0;
            while (pos < n) {
                int rc = pcre2_match(v->re[r], (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[160];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    st = em_err(err, EM_ERR_INTERNAL, "lm_tokenize: pre-tokenizer %s: regex %d: %s", v->pre->kind, r,
                                (const char *)msg);
                    goto done;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) {
                    /* empty match: step over one character, keep it in the gap */
                    pos = ms + 1;
                    while (pos < n && ((unsigned char)s[pos] & 0xC0) == 0x80) pos++;
                    continue;
                }
                if (!spans_push(&next, cur.v[k].off + gap, ms - gap)) goto nomem;
                if (!spans_push(&next, cur.v[k].off + ms, me - ms)) goto nomem;
                gap = pos = me;
            }
            if (!spans_push(&next, cur.v[k].off + gap, n - gap)) goto nomem;
        }
        struct spans t = cur;
        cur = next;
        next = t;
    }
    *out = cur.v;
    *n_out = cur.n;
    cur.v = NULL;
    goto done;
nomem:
    st = em_err(err, EM_ERR_NOMEM, "lm_tokenize: pre-tokenizer: out of memory (text of %zu bytes)", len);
done:
    pcre2_match_data_free(md);
    free(cur.v);
    free(next.v);
    return st;
}
