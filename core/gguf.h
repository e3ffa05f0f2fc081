/* gguf.h - GGUF v3 files: a memory-mapped reader and a writer.
 *
 * Reader. gguf_open() maps the file read-only and parses the header, the
 * key/value section and the tensor directory up front, checking every count,
 * length, offset, size, alignment and type against the file size and against
 * sane limits, so a truncated, bit-flipped or hostile file yields NULL plus a
 * message and never a crash or an out-of-bounds read. After a successful open
 * every accessor below is a bounds-checked lookup; tensor data pointers point
 * into the mapping and stay valid until gguf_close().
 * Strings returned are NUL-terminated copies owned by the context. Numeric
 * arrays are returned as aligned, native-endian copies owned by the context.
 * A gguf_ctx is immutable after open: any thread may read it concurrently.
 * Accepted: versions 2 and 3 (little-endian), value types 0..12 with bools 0/1,
 * arrays of any non-array type (arrays of arrays are rejected), at most 2^16
 * keys and 2^20 tensors, general.alignment a u32 power of two up to 2^20,
 * tensors of any type em_type_known() accepts (compute support is not
 * required), 1..4 dims each >= 1, offsets aligned, data inside the file.
 * A file with no tensors may end without the final padding.
 *
 * Writer. Collects key/values and tensors in memory, then writes a GGUF v3 file
 * (default alignment 32, or `general.alignment` if set as u32). Tensor data is
 * referenced, not copied: it must stay valid until gguf_writer_write(). Used by
 * tools and by tests to make models.
 *
 * Ownership: gguf_open/gguf_writer_create return objects the caller frees with
 * gguf_close/gguf_writer_free; both accept NULL. */
#ifndef EMBER_GGUF_H
#define EMBER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "types.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

enum gguf_vtype {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

typedef struct gguf_ctx gguf_ctx;

typedef struct gguf_tensor_info {
    const char *name;   /* NUL-terminated */
    enum em_type type;
    int n_dims;         /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) length; unused dims are 1 */
    uint64_t offset;    /* from the start of the data section */
    size_t nbytes;
    const void *data;   /* into the mapping; aligned to the file's alignment */
} gguf_tensor_info;

/* ---- reader */

gguf_ctx *gguf_open(const char *path, char *err);
/* As gguf_open, but also says why it failed: EM_ERR_IO (cannot open/stat/map,
 * not a regular file), EM_ERR_FORMAT (malformed), EM_ERR_UNSUPPORTED (e.g. a
 * big-endian file), EM_ERR_NOMEM. *out is NULL on failure. */
ember_status gguf_load(const char *path, gguf_ctx **out, char *err);
/* Parse a GGUF image already in memory (size bytes). The buffer is referenced,
 * not copied: it must outlive the context (tensor data points into it).
 * Used by tests and by tools that build files in memory. */
ember_status gguf_load_mem(const void *buf, size_t size, gguf_ctx **out, char *err);
void gguf_close(gguf_ctx *ctx);

uint32_t gguf_version(const gguf_ctx *ctx);
size_t gguf_alignment(const gguf_ctx *ctx);
size_t gguf_file_size(const gguf_ctx *ctx);

int64_t gguf_n_kv(const gguf_ctx *ctx);
const char *gguf_kv_key(const gguf_ctx *ctx, int64_t i);
enum gguf_vtype gguf_kv_type(const gguf_ctx *ctx, int64_t i);
int64_t gguf_find_key(const gguf_ctx *ctx, const char *key); /* -1 if absent */
const char *gguf_vtype_name(enum gguf_vtype t);
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown ids. */
size_t gguf_vtype_size(uint32_t t);

/* Scalar getters. Return EM_ERR_NOT_FOUND if the key is absent (err untouched),
 * EM_ERR_FORMAT with a message if it has an incompatible type.
 * gguf_get_int accepts any integer type (and bool) whose value fits int64_t;
 * gguf_get_float accepts FLOAT32/FLOAT64 and integers. */
ember_status gguf_get_int(const gguf_ctx *ctx, const char *key, int64_t *out, char *err);
/* Unsigned integers (and bool), and signed ones that are not negative: the
 * whole u64 range, which gguf_get_int cannot hold. */
ember_status gguf_get_u64(const gguf_ctx *ctx, const char *key, uint64_t *out, char *err);
ember_status gguf_get_float(const gguf_ctx *ctx, const char *key, double *out, char *err);
ember_status gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out, char *err);
ember_status gguf_get_str(const gguf_ctx *ctx, const char *key, const char **out, char *err);

/* Arrays. gguf_get_arr reports the element type and count. For numeric/bool
 * element types *data is an aligned native-endian copy (bool as uint8_t);
 * for string arrays *data is NULL and elements come from gguf_get_arr_str. */
ember_status gguf_get_arr(const gguf_ctx *ctx, const char *key, enum gguf_vtype *etype,
                          uint64_t *n, const void **data, char *err);
/* Element i of a string array, NUL-terminated; *len (optional) gets its byte
 * length (strings may contain NUL bytes). NULL if key/index/type do not fit. */
const char *gguf_get_arr_str(const gguf_ctx *ctx, const char *key, uint64_t i, size_t *len);

int64_t gguf_n_tensors(const gguf_ctx *ctx);
const gguf_tensor_info *gguf_tensor(const gguf_ctx *ctx, int64_t i);
const gguf_tensor_info *gguf_find_tensor(const gguf_ctx *ctx, const char *name); /* NULL if absent */
/* Map a tensor's pages now rather than at first touch (weights a backend
 * reads in place, whole, at every product); advice only. */
void gguf_populate_pages(const gguf_ctx *ctx, const void *p, size_t n);
/* Release the host pages of a tensor's data once a backend has its own copy
 * (they are read back from the file if touched again). */
void gguf_drop_pages(const gguf_ctx *ctx, const void *p, size_t n);

/* ---- writer */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_create(char *err);
void gguf_writer_free(gguf_writer *w);

/* Setting a key twice replaces the earlier value. Strings are copied. */
ember_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
ember_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
ember_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
ember_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
ember_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
ember_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
ember_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
ember_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
ember_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
ember_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
ember_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
ember_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Numeric array: elements of etype (not STRING/ARRAY), copied. */
ember_status gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype etype,
                                 const void *data, uint64_t n);
/* String array: n strings with explicit lengths (lens may be NULL: use strlen). */
ember_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                     const size_t *lens, uint64_t n);
/* Copy every key/value of an open file (e.g. a vocabulary) into the writer. */
ember_status gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src);
/* Add a tensor; data (em_row_bytes(type, ne[0]) * ne[1]*ne[2]*ne[3] bytes) is
 * referenced until gguf_writer_write. */
ember_status gguf_writer_add_tensor(gguf_writer *w, const char *name, enum em_type type,
                                    int n_dims, const int64_t *ne, const void *data);
/* Makes a tensor's bytes when gguf_writer_write reaches it, into buf
 * (nbytes, owned by the writer): so a file far larger than memory can be
 * written holding one tensor at a time. A non-zero return (with a message
 * in err, EM_ERR_LEN bytes) stops the write, and no file is left. */
typedef ember_status (*gguf_tensor_fill_fn)(void *user, size_t index, void *buf, size_t nbytes, char *err);
/* Add a tensor whose data fill makes at write time; index is this tensor's
 * place among the writer's tensors (0 for the first added). */
ember_status gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, enum em_type type, int n_dims,
                                         const int64_t *ne, gguf_tensor_fill_fn fill, void *user);
ember_status gguf_writer_write(gguf_writer *w, const char *path);
/* Last error message of the writer (empty if none). */
const char *gguf_writer_errmsg(const gguf_writer *w);

#endif
