/* status.h - how every Ember module reports failure.
 *
 * A function that can fail returns an ember_status (0 = EM_OK, negative =
 * failure) and writes a message a person can act on into an error buffer of
 * EM_ERR_LEN bytes: the function, the input (file, key, tensor), what was found
 * and what was expected, e.g.
 *     "gguf_open: a.gguf: blk.0.attn_q.weight: type 99 unknown"
 * Constructors (x_create, x_open) take `char *err` and return NULL on failure;
 * long-lived contexts keep their last message in the context itself.
 * Nothing here allocates or keeps global state. */
#ifndef EMBER_STATUS_H
#define EMBER_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#define EM_ERR_LEN 512

typedef enum ember_status {
    EM_OK = 0,
    EM_ERR_IO = -1,          /* open/read/write/mmap failed (errno in the message) */
    EM_ERR_FORMAT = -2,      /* the input is malformed: bad magic, truncated, out of range */
    EM_ERR_NOMEM = -3,       /* an allocation failed */
    EM_ERR_ARG = -4,         /* the caller passed something invalid (a flag, a size) */
    EM_ERR_UNSUPPORTED = -5, /* well-formed, but a feature Ember does not implement */
    EM_ERR_NOT_FOUND = -6,   /* a key, tensor or token that must exist is absent */
    EM_ERR_RANGE = -7,       /* a runtime limit was reached (context full, buffer small) */
    EM_ERR_INTERNAL = -8,    /* a bug: an invariant did not hold */
} ember_status;

/* Short name of a status ("format error"); never NULL. */
const char *em_status_str(ember_status st);

/* Format into err (EM_ERR_LEN bytes; NULL is allowed and ignored) and return st,
 * so error paths read `return em_err(err, EM_ERR_FORMAT, "gguf_open: %s: ...", ...)`. */
ember_status em_err(char *err, ember_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ember_status em_verr(char *err, ember_status st, const char *fmt, va_list ap);

#endif
