#include "status.h"

#include <stdio.h>

const char *em_status_str(ember_status st) {
    switch (st) {
    case EM_OK: return "ok";
    case EM_ERR_IO: return "I/O error";
    case EM_ERR_FORMAT: return "format error";
    case EM_ERR_NOMEM: return "out of memory";
    case EM_ERR_ARG: return "invalid argument";
    case EM_ERR_UNSUPPORTED: return "unsupported";
    case EM_ERR_NOT_FOUND: return "not found";
    case EM_ERR_RANGE: return "limit reached";
    case EM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

ember_status em_verr(char *err, ember_status st, const char *fmt, va_list ap) {
    if (err) vsnprintf(err, EM_ERR_LEN, fmt, ap);
    return st;
}

ember_status em_err(char *err, ember_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    em_verr(err, st, fmt, ap);
    va_end(ap);
    return st;
}
