/* gguf_writer.c - build a GGUF v3 file in memory, then write it in one go.
 *
 * Keys keep their insertion order (setting a key again replaces the value in
 * place), tensors too. Values are copied at set time; tensor data is only
 * referenced and read at gguf_writer_write(), or made then by a fill
 * callback, one tensor at a time into one buffer. The file is written to a
 * temporary beside the target and renamed over it only when every write and
 * the close succeeded, so a failed write never leaves a half file behind. */
#include "gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct wkv {
    char *key;
    enum gguf_vtype type;
    enum gguf_vtype etype; /* ARRAY */
    uint64_t n;            /* ARRAY element count */
    unsigned char scalar[8];
    void *blob;            /* STRING bytes, numeric array bytes, or string array: lens[n] then bytes */
    size_t blob_len;
};

struct wtensor {
    char *name;
    enum em_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    gguf_tensor_fill_fn fill; /* or data made at write time */
    void *user;
    size_t nbytes;
    uint64_t offset;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    char err[EM_ERR_LEN];
};

gguf_writer *gguf_writer_create(char *err) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w) em_err(err, EM_ERR_NOMEM, "gguf_writer_create: out of memory");
    return w;
}

static void wkv_clear(struct wkv *kv) {
    free(kv->blob);
    kv->blob = NULL;
    kv->blob_len = 0;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        wkv_clear(&w->kv[i]);
        free(w->kv[i].key);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

const char *gguf_writer_errmsg(const gguf_writer *w) { return w ? w->err : "gguf_writer: NULL writer"; }


/* The slot for key: the existing one (its old value freed) or a new one. */
static ember_status kv_slot(gguf_writer *w, const char *key, struct wkv **out) {
    if (!key || !*key) return em_err(w->err, EM_ERR_ARG, "gguf_writer: empty or NULL key");
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            wkv_clear(&w->kv[i]);
            *out = &w->kv[i];
            return EM_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer: key %s: out of memory", key);
        w->kv = p;
        w->cap_kv = cap;
    }
    struct wkv *kv = &w->kv[w->n_kv];
    memset(kv, 0, sizeof *kv);
    if (!(kv->key = strdup(key))) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer: key %s: out of memory", key);
    w->n_kv++;
    *out = kv;
    return EM_OK;
}

static ember_status set_scalar(gguf_writer *w, const char *key, enum gguf_vtype type, const void *v) {
    if (!w) return EM_ERR_ARG;
    struct wkv *kv;
    ember_status st = kv_slot(w, key, &kv);
    if (st) return st;
    kv->type = type;
    memcpy(kv->scalar, v, gguf_vtype_size(type));
    return EM_OK;
}

ember_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) { return set_scalar(w, key, GGUF_TYPE_UINT8, &v); }
ember_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v) { return set_scalar(w, key, GGUF_TYPE_INT8, &v); }
ember_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) { return set_scalar(w, key, GGUF_TYPE_UINT16, &v); }
ember_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v) { return set_scalar(w, key, GGUF_TYPE_INT16, &v); }
ember_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, GGUF_TYPE_UINT32, &v); }
ember_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, GGUF_TYPE_INT32, &v); }
ember_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, GGUF_TYPE_UINT64, &v); }
ember_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v) { return set_scalar(w, key, GGUF_TYPE_INT64, &v); }
ember_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { return set_scalar(w, key, GGUF_TYPE_FLOAT32, &v); }
ember_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v) { return set_scalar(w, key, GGUF_TYPE_FLOAT64, &v); }

ember_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

static ember_status set_str_n(gguf_writer *w, const char *key, const char *v, size_t n) {
    struct wkv *kv;
    ember_status st = kv_slot(w, key, &kv);
    if (st) return st;
    kv->type = GGUF_TYPE_STRING;
    if (!(kv->blob = malloc(n ? n : 1))) {
        kv->type = GGUF_TYPE_UINT8; /* leave the slot valid */
        return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_set_str: key %s: out of memory for %zu bytes", key, n);
    }
    memcpy(kv->blob, v, n);
    kv->blob_len = n;
    return EM_OK;
}

ember_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!w) return EM_ERR_ARG;
    if (!v) return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_str: key %s: NULL value", key ? key : "(null)");
    return set_str_n(w, key, v, strlen(v));
}

ember_status gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype etype, const void *data,
                                 uint64_t n) {
    if (!w) return EM_ERR_ARG;
    size_t es = gguf_vtype_size(etype);
    if (!es)
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr: key %s: element type %s, expected a numeric or bool type",
                      key ? key : "(null)", gguf_vtype_name(etype));
    if (n > SIZE_MAX / es || (n && !data))
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr: key %s: %" PRIu64 " elements %s",
                      key ? key : "(null)", n, data ? "overflow size_t" : "with NULL data");
    size_t bytes = (size_t)n * es;
    void *copy = malloc(bytes ? bytes : 1);
    if (!copy) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_set_arr: key %s: out of memory for %zu bytes", key, bytes);
    if (bytes) memcpy(copy, data, bytes);
    /* GGUF bools are 0 or 1 (the reader rejects other bytes): store any nonzero as 1. */
    if (etype == GGUF_TYPE_BOOL)
        for (size_t i = 0; i < bytes; i++) ((unsigned char *)copy)[i] = ((unsigned char *)copy)[i] != 0;
    struct wkv *kv;
    ember_status st = kv_slot(w, key, &kv);
    if (st) {
        free(copy);
        return st;
    }
    kv->type = GGUF_TYPE_ARRAY;
    kv->etype = etype;
    kv->n = n;
    kv->blob = copy;
    kv->blob_len = bytes;
    return EM_OK;
}

ember_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                     uint64_t n) {
    if (!w) return EM_ERR_ARG;
    if (n && !strs) return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr_str: key %s: NULL strings", key ? key : "(null)");
    if (n > (SIZE_MAX / 2) / sizeof(size_t))
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr_str: key %s: %" PRIu64 " strings", key ? key : "(null)", n);
    /* One blob: n lengths, then the bytes back to back. */
    size_t total = (size_t)n * sizeof(size_t);
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr_str: key %s: string %" PRIu64 " is NULL", key, i);
        size_t l = lens ? lens[i] : strlen(strs[i]);
        if (l > SIZE_MAX - total) return em_err(w->err, EM_ERR_ARG, "gguf_writer_set_arr_str: key %s: total size overflows", key);
        total += l;
    }
    unsigned char *blob = malloc(total ? total : 1);
    if (!blob) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_set_arr_str: key %s: out of memory for %zu bytes", key, total);
    size_t *bl = (size_t *)blob, pos = (size_t)n * sizeof(size_t);
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        bl[i] = l;
        memcpy(blob + pos, strs[i], l);
        pos += l;
    }
    struct wkv *kv;
    ember_status st = kv_slot(w, key, &kv);
    if (st) {
        free(blob);
        return st;
    }
    kv->type = GGUF_TYPE_ARRAY;
    kv->etype = GGUF_TYPE_STRING;
    kv->n = n;
    kv->blob = blob;
    kv->blob_len = total;
    return EM_OK;
}

ember_status gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src) {
    if (!w) return EM_ERR_ARG;
    if (!src) return em_err(w->err, EM_ERR_ARG, "gguf_writer_copy_kv: NULL source");
    ember_status st = EM_OK;
    char err[EM_ERR_LEN] = "";
    const char **strs = NULL;
    size_t *lens = NULL;
    for (int64_t i = 0; i < gguf_n_kv(src) && !st; i++) {
        const char *key = gguf_kv_key(src, i);
        enum gguf_vtype t = gguf_kv_type(src, i);
        int64_t iv = 0;
        double fv = 0;
        switch (t) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
        case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: case GGUF_TYPE_BOOL: {
            if ((st = gguf_get_int(src, key, &iv, err))) break;
            /* Narrowing back to the stored type is exact: the value came from it. */
            int64_t v = iv;
            unsigned char buf[8];
            uint8_t u8 = (uint8_t)v; int8_t i8 = (int8_t)v; uint16_t u16 = (uint16_t)v; int16_t i16 = (int16_t)v;
            uint32_t u32 = (uint32_t)v; int32_t i32 = (int32_t)v;
            switch (t) {
            case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: memcpy(buf, &u8, 1); break;
            case GGUF_TYPE_INT8: memcpy(buf, &i8, 1); break;
            case GGUF_TYPE_UINT16: memcpy(buf, &u16, 2); break;
            case GGUF_TYPE_INT16: memcpy(buf, &i16, 2); break;
            case GGUF_TYPE_UINT32: memcpy(buf, &u32, 4); break;
            case GGUF_TYPE_INT32: memcpy(buf, &i32, 4); break;
            default: memcpy(buf, &v, 8); break;
            }
            st = set_scalar(w, key, t, buf);
            break;
        }
        case GGUF_TYPE_UINT64: {
            uint64_t u;
            if (!(st = gguf_get_u64(src, key, &u, err))) st = set_scalar(w, key, t, &u);
            break;
        }
        case GGUF_TYPE_FLOAT32: {
            if ((st = gguf_get_float(src, key, &fv, err))) break;
            float f = (float)fv;
            st = set_scalar(w, key, t, &f);
            break;
        }
        case GGUF_TYPE_FLOAT64:
            if (!(st = gguf_get_float(src, key, &fv, err))) st = set_scalar(w, key, t, &fv);
            break;
        case GGUF_TYPE_STRING: {
            const char *s;
            if (!(st = gguf_get_str(src, key, &s, err))) st = gguf_writer_set_str(w, key, s);
            break;
        }
        case GGUF_TYPE_ARRAY: {
            enum gguf_vtype et;
            uint64_t n;
            const void *data;
            if ((st = gguf_get_arr(src, key, &et, &n, &data, err))) break;
            if (et != GGUF_TYPE_STRING) {
                st = gguf_writer_set_arr(w, key, et, data, n);
                break;
            }
            strs = malloc((n ? n : 1) * sizeof *strs);
            lens = malloc((n ? n : 1) * sizeof *lens);
            if (!strs || !lens) {
                st = em_err(w->err, EM_ERR_NOMEM, "gguf_writer_copy_kv: key %s: out of memory", key);
                break;
            }
            for (uint64_t j = 0; j < n; j++) strs[j] = gguf_get_arr_str(src, key, j, &lens[j]);
            st = gguf_writer_set_arr_str(w, key, strs, lens, n);
            free(strs);
            free(lens);
            strs = NULL;
            lens = NULL;
            break;
        }
        default:
            st = em_err(w->err, EM_ERR_INTERNAL, "gguf_writer_copy_kv: key %s: type %d", key, (int)t);
            break;
        }
        /* A getter failing on a valid context is a bug in the reader; keep its message. */
        if (st && err[0]) em_err(w->err, st, "gguf_writer_copy_kv: %s", err);
    }
    free(strs);
    free(lens);
    return st;
}

static ember_status add_tensor(gguf_writer *w, const char *name, enum em_type type, int n_dims, const int64_t *ne,
                               const void *data, gguf_tensor_fill_fn fill, void *user) {
    if (!w) return EM_ERR_ARG;
    if (!name || !*name) return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: empty or NULL name");
    if (!em_type_known(type))
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: type %d unknown", name, (int)type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: n_dims %d, expected 1..%d", name, n_dims,
                      GGUF_MAX_DIMS);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: duplicate tensor name %s", name);
    struct wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .user = user, .ne = {1, 1, 1, 1}};
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: ne[%d] = %" PRId64 ", expected >= 1",
                                     name, d, ne[d]);
        t.ne[d] = ne[d];
    }
    size_t bytes = em_row_bytes(type, t.ne[0]);
    if (!bytes)
        return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                      name, t.ne[0], em_type_name(type), em_type_block(type));
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if ((uint64_t)t.ne[d] > SIZE_MAX / bytes)
            return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: size overflows", name);
        bytes *= (size_t)t.ne[d];
    }
    if (!data && !fill) return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor: %s: NULL data", name);
    t.nbytes = bytes;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        struct wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_add_tensor: %s: out of memory", name);
        w->t = p;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_add_tensor: %s: out of memory", name);
    w->t[w->n_t++] = t;
    return EM_OK;
}

ember_status gguf_writer_add_tensor(gguf_writer *w, const char *name, enum em_type type, int n_dims,
                                    const int64_t *ne, const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

ember_status gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, enum em_type type, int n_dims,
                                         const int64_t *ne, gguf_tensor_fill_fn fill, void *user) {
    if (w && !fill) return em_err(w->err, EM_ERR_ARG, "gguf_writer_add_tensor_fill: %s: NULL fill", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, user);
}

/* ---- writing */

struct out {
    FILE *f;
    bool failed;
    uint64_t pos;
};

static void put(struct out *o, const void *p, size_t n) {
    if (o->failed || !n) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = true;
    o->pos += n;
}

static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(struct out *o, uint64_t v) { put(o, &v, 8); }
static void put_str(struct out *o, const void *s, size_t n) { put_u64(o, n); put(o, s, n); }

static void put_pad(struct out *o, size_t align) {
    static const unsigned char zeros[256];
    size_t pad = (size_t)((align - o->pos % align) % align);
    while (pad) {
        size_t n = pad < sizeof zeros ? pad : sizeof zeros;
        put(o, zeros, n);
        pad -= n;
    }
}

static ember_status writer_alignment(gguf_writer *w, size_t *align) {
    *align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        uint32_t a;
        if (w->kv[i].type != GGUF_TYPE_UINT32)
            return em_err(w->err, EM_ERR_ARG, "gguf_writer_write: general.alignment has type %s, expected u32",
                          gguf_vtype_name(w->kv[i].type));
        memcpy(&a, w->kv[i].scalar, 4);
        if (a == 0 || (a & (a - 1)) || a > (1u << 20))
            return em_err(w->err, EM_ERR_ARG, "gguf_writer_write: general.alignment is %u, expected a power of two up to 2^20", a);
        *align = a;
    }
    return EM_OK;
}

/* The process's umask, read without changing it (umask() can only be read
 * by setting it, which would race with other threads creating files):
 * Linux states it in /proc/self/status; elsewhere the common 022. */
static mode_t process_umask(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    unsigned m = 022;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &m) == 1) break;
    if (f) fclose(f);
    return (mode_t)(m & 0777);
}

ember_status gguf_writer_write(gguf_writer *w, const char *path) {
    if (!w) return EM_ERR_ARG;
    if (!path) return em_err(w->err, EM_ERR_ARG, "gguf_writer_write: NULL path");
    size_t align;
    ember_status st = writer_alignment(w, &align);
    if (st) return st;

    /* Offsets: each tensor starts aligned, relative to the data section. */
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += w->t[i].nbytes;
        off += (align - off % align) % align;
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return em_err(w->err, EM_ERR_NOMEM, "gguf_writer_write: %s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    struct out o = {0};
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: cannot create a temporary file: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    /* mkstemp makes the file 0600; the finished file gets the mode any other
     * new file would (0666 less the umask) */
    if (fchmod(fd, 0666 & ~process_umask()) != 0) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: chmod: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if (!(o.f = fdopen(fd, "wb"))) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: fdopen: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }

    put(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, w->n_t);
    put_u64(&o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        const struct wkv *kv = &w->kv[i];
        put_str(&o, kv->key, strlen(kv->key));
        put_u32(&o, (uint32_t)kv->type);
        if (kv->type == GGUF_TYPE_STRING) {
            put_str(&o, kv->blob, kv->blob_len);
        } else if (kv->type == GGUF_TYPE_ARRAY) {
            put_u32(&o, (uint32_t)kv->etype);
            put_u64(&o, kv->n);
            if (kv->etype == GGUF_TYPE_STRING) {
                const size_t *lens = kv->blob;
                const unsigned char *s = (const unsigned char *)kv->blob + kv->n * sizeof(size_t);
                for (uint64_t j = 0; j < kv->n; j++) {
                    put_str(&o, s, lens[j]);
                    s += lens[j];
                }
            } else {
                put(&o, kv->blob, kv->blob_len);
            }
        } else {
            put(&o, kv->scalar, gguf_vtype_size(kv->type));
        }
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        put_str(&o, t->name, strlen(t->name));
        put_u32(&o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&o, (uint64_t)t->ne[d]);
        put_u32(&o, (uint32_t)t->type);
        put_u64(&o, t->offset);
    }
    put_pad(&o, align);
    size_t fill_max = 0;
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].fill && w->t[i].nbytes > fill_max) fill_max = w->t[i].nbytes;
    void *buf = fill_max ? malloc(fill_max) : NULL;
    if (fill_max && !buf) {
        st = em_err(w->err, EM_ERR_NOMEM, "gguf_writer_write: %s: out of memory for a tensor of %zu bytes", path, fill_max);
        fclose(o.f);
        goto fail;
    }
    for (size_t i = 0; i < w->n_t && !o.failed; i++) {
        const struct wtensor *t = &w->t[i];
        if (t->fill) {
            w->err[0] = '\0';
            if ((st = t->fill(t->user, i, buf, t->nbytes, w->err))) {
                if (!w->err[0]) em_err(w->err, st, "gguf_writer_write: %s: making %s failed", path, t->name);
                free(buf);
                fclose(o.f);
                goto fail;
            }
        }
        put(&o, t->fill ? buf : t->data, t->nbytes);
        put_pad(&o, align);
    }
    free(buf);
    if (o.failed) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: write failed near byte %" PRIu64 ": %s", tmp, o.pos,
                    strerror(errno));
        fclose(o.f);
        goto fail;
    }
    if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: flush failed: %s", tmp, strerror(errno));
        fclose(o.f);
        goto fail;
    }
    if (fclose(o.f) != 0) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: %s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = em_err(w->err, EM_ERR_IO, "gguf_writer_write: rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    w->err[0] = '\0';
    return EM_OK;

fail:
    unlink(tmp);
    free(tmp);
    return st;
}
