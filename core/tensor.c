/* tensor.c - shape arithmetic of em_tensor views (no memory is touched). */
#include "backend.h"

em_tensor em_tensor_make(enum em_type type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    em_tensor t = {0};
    t.type = type;
    t.ne[0] = ne0; t.ne[1] = ne1; t.ne[2] = ne2; t.ne[3] = ne3;
    t.nb[0] = em_type_block_bytes(type);
    t.nb[1] = em_row_bytes(type, ne0);
    t.nb[2] = t.nb[1] * (size_t)ne1;
    t.nb[3] = t.nb[2] * (size_t)ne2;
    return t;
}

size_t em_tensor_nbytes(const em_tensor *t) { return t->nb[3] * (size_t)t->ne[3]; }

int64_t em_tensor_nelements(const em_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

em_tensor em_tensor_rows(const em_tensor *t, int64_t r0, int64_t n) {
    em_tensor v = *t;
    v.ne[1] = n;
    v.nb[2] = v.nb[1] * (size_t)n;
    v.nb[3] = v.nb[2];
    v.ne[2] = v.ne[3] = 1;
    v.offs = t->offs + (size_t)r0 * t->nb[1];
    if (t->data) v.data = (char *)t->data + (size_t)r0 * t->nb[1];
    return v;
}
