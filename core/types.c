#include "types.h"

struct type_traits {
    const char *name;
    int block;          /* values per block */
    size_t block_bytes; /* bytes per block */
    bool supported;     /* Ember computes with it */
};

static const struct type_traits type_table[EM_TYPE_COUNT] = {
    [EM_TYPE_F32] = {"f32", 1, 4, true},
    [EM_TYPE_F16] = {"f16", 1, 2, true},
    [EM_TYPE_Q4_0] = {"q4_0", 32, 18, true},
    [EM_TYPE_Q4_1] = {"q4_1", 32, 20, true},
    [EM_TYPE_Q5_0] = {"q5_0", 32, 22, true},
    [EM_TYPE_Q5_1] = {"q5_1", 32, 24, true},
    [EM_TYPE_Q8_0] = {"q8_0", 32, 34, true},
    [EM_TYPE_Q8_1] = {"q8_1", 32, 36, false},
    [EM_TYPE_Q2_K] = {"q2_K", 256, 84, true},
    [EM_TYPE_Q3_K] = {"q3_K", 256, 110, true},
    [EM_TYPE_Q4_K] = {"q4_K", 256, 144, true},
    [EM_TYPE_Q5_K] = {"q5_K", 256, 176, true},
    [EM_TYPE_Q6_K] = {"q6_K", 256, 210, true},
    [EM_TYPE_Q8_K] = {"q8_K", 256, 292, false}, /* activations only (cpu_quant_k.c) */
    [EM_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66, false},
    [EM_TYPE_IQ2_XS] = {"iq2_xs", 256, 74, false},
    [EM_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98, false},
    [EM_TYPE_IQ1_S] = {"iq1_s", 256, 50, false},
    [EM_TYPE_IQ4_NL] = {"iq4_nl", 32, 18, true},
    [EM_TYPE_IQ3_S] = {"iq3_s", 256, 110, false},
    [EM_TYPE_IQ2_S] = {"iq2_s", 256, 82, false},
    [EM_TYPE_IQ4_XS] = {"iq4_xs", 256, 136, false},
    [EM_TYPE_I8] = {"i8", 1, 1, false},
    [EM_TYPE_I16] = {"i16", 1, 2, false},
    [EM_TYPE_I32] = {"i32", 1, 4, false},
    [EM_TYPE_I64] = {"i64", 1, 8, false},
    [EM_TYPE_F64] = {"f64", 1, 8, false},
    [EM_TYPE_IQ1_M] = {"iq1_m", 256, 56, false},
    [EM_TYPE_BF16] = {"bf16", 1, 2, true},
    [EM_TYPE_TQ1_0] = {"tq1_0", 256, 54, false},
    [EM_TYPE_TQ2_0] = {"tq2_0", 256, 66, false},
    [EM_TYPE_MXFP4] = {"mxfp4", 32, 17, false},
};

static const struct type_traits *traits(enum em_type t) {
    if ((unsigned)t >= EM_TYPE_COUNT || !type_table[t].name) return NULL;
    return &type_table[t];
}

const char *em_type_name(enum em_type t) { const struct type_traits *tt = traits(t); return tt ? tt->name : NULL; }
bool em_type_known(enum em_type t) { return traits(t) != NULL; }
bool em_type_supported(enum em_type t) { const struct type_traits *tt = traits(t); return tt && tt->supported; }
int em_type_block(enum em_type t) { const struct type_traits *tt = traits(t); return tt ? tt->block : 0; }
size_t em_type_block_bytes(enum em_type t) { const struct type_traits *tt = traits(t); return tt ? tt->block_bytes : 0; }

size_t em_row_bytes(enum em_type t, int64_t n) {
    const struct type_traits *tt = traits(t);
    if (!tt || n < 0 || n % tt->block) return 0;
    return (size_t)(n / tt->block) * tt->block_bytes;
}

/* llama_ftype's values; the gaps are ids llama.cpp retired. */
static const char *const ftype_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",     [3] = "Q4_1",     [7] = "Q8_0",
    [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",    [11] = "Q3_K_S",  [12] = "Q3_K_M",
    [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M",  [16] = "Q5_K_S",  [17] = "Q5_K_M",
    [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS",  [21] = "Q2_K_S",  [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL",  [26] = "IQ3_S",   [27] = "IQ3_M",
    [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS",  [31] = "IQ1_M",   [32] = "BF16",
    [36] = "TQ1_0",   [37] = "TQ2_0",   [38] = "MXFP4_MOE",
};

const char *em_ftype_name(uint32_t ftype) {
    return ftype < sizeof ftype_names / sizeof ftype_names[0] ? ftype_names[ftype] : NULL;
}
