/* mk_gguf.h - what the random-weight GGUF writers (tools/mkmodel,
 * tools/mkmmproj) share: a gguf_writer, the seed, the storage type of the
 * matrices, and the tensor data, kept until the file is written because the
 * writer holds pointers to it, not copies.
 *
 * Each tensor is drawn from its own stream, seeded by the seed and the
 * tensor's name (mk_rng.h), so a tensor keeps its values whatever the storage
 * type or the other tensors of a file: files of one seed and shape differ only
 * by rounding. The conformance tests and benchmarks write their models with
 * fixed seeds, so a change to how values are drawn or rounded changes every
 * such file.
 *
 * Errors are printed here ("PROG: NAME: out of memory"), since a tool stops at
 * the first: the functions return 0, or -1 after the message. Keys are set on
 * g->w directly; mk_gguf_fail says why one could not be. One thread. */
#ifndef EMBER_TOOLS_MK_GGUF_H
#define EMBER_TOOLS_MK_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/gguf.h"
#include "core/types.h"

typedef struct mk_gguf {
    const char *prog;  /* starts every message: "mkmodel" */
    gguf_writer *w;
    uint64_t seed;
    enum em_type type; /* the matrices' storage type */
    int from_bf16;     /* round the matrices' values to bf16 first, as a checkpoint trained in
                        * bf16 has them (an f16 file converted from such a checkpoint) */
    void **bufs;       /* tensor data, kept until the file is written */
    size_t n_bufs, cap_bufs;
} mk_gguf;

/* A writer with no keys or tensors; NULL after a message. The caller owns
 * the result (mk_gguf_free); prog must outlive it. */
mk_gguf *mk_gguf_create(const char *prog, uint64_t seed, enum em_type type);
void mk_gguf_free(mk_gguf *g); /* NULL: no-op */

/* llama.cpp's llama_ftype (general.file_type) for a file whose matrices are
 * all of type t. */
uint32_t mk_gguf_file_type(enum em_type t);

/* Every matrix row of both tools is dim, ffn or a multiple of dim values
 * long, and a quantized row is whole blocks: 0 when dim and ffn are
 * multiples of type's block, else -1 after "PROG: --type T needs --dim and
 * --ffn to be multiples of B (got D, F)". */
int mk_gguf_check_rows(const char *prog, enum em_type type, int dim, int ffn);

/* Print "PROG: WHAT: the writer's error"; returns -1. */
int mk_gguf_fail(mk_gguf *g, const char *what);

/* An F32 vector of n values, scale * (1 + N(0, 0.05)): a norm weight, near
 * 1 so that a wrong or missing norm shows in the output. */
int mk_gguf_add_norm(mk_gguf *g, const char *name, int64_t n, double scale);

/* An F32 tensor of n_dims dims ne[] (GGUF order, ne[0] contiguous), N(0, std). */
int mk_gguf_add_f32(mk_gguf *g, const char *name, int n_dims, const int64_t *ne, double std);

/* A matrix of `rows` rows of `cols` values (GGUF ne = {cols, rows}, a torch
 * Linear weight [rows][cols]), N(0, std) (through bf16 if g->from_bf16), stored in g->type. */
int mk_gguf_add_matrix(mk_gguf *g, const char *name, int64_t cols, int64_t rows, double std);

/* Write the file. */
int mk_gguf_write(mk_gguf *g, const char *path);

#endif
