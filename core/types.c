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
    [EM_TYPE_Q4_1] = {"q4_1", 32, 20, false},
    [EM_TYPE_Q5_0] = {"q5_0", 32, 22, false},
    [EM_TYPE_Q5_1] = {"q5_1", 32, 24, false},
    [EM_TYPE_Q8_0] = {"q8_0", 32, 34, true},
    [EM_TYPE_Q8_1] = {"q8_1", 32, 36, false},
    [EM_TYPE_Q2_K] = {"q2_K", 256, 84, false},
    [EM_TYPE_Q3_K] = {"q3_K", 256, 110, false},
    [EM_TYPE_Q4_K] = {"q4_K", 256, 144, false},
    [EM_TYPE_Q5_K] = {"q5_K", 256, 176, false},
    [EM_TYPE_Q6_K] = {"q6_K", 256, 210, false},
    [EM_TYPE_Q8_K] = {"q8_K", 256, 292, false},
    [EM_TYPE_I8] = {"i8", 1, 1, false},
    [EM_TYPE_I16] = {"i16", 1, 2, false},
    [EM_TYPE_I32] = {"i32", 1, 4, false},
    [EM_TYPE_I64] = {"i64", 1, 8, false},
    [EM_TYPE_F64] = {"f64", 1, 8, false},
    [EM_TYPE_BF16] = {"bf16", 1, 2, true},
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
