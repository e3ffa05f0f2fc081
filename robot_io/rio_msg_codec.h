/* rio_msg_codec.h - private to robot_io/rio_msg*.c: what the decoder
 * (rio_msg_decode.c) and the encoder (rio_msg_encode.c) share, so that both
 * directions check every field by the same rules and word their errors the
 * same way: whatever decodes also encodes, and a message we would refuse is
 * never sent. Not installed; nothing outside rio_msg*.c includes it. */
#ifndef EMBER_RIO_MSG_CODEC_H
#define EMBER_RIO_MSG_CODEC_H

#include <stdarg.h>
#include <stddef.h>

#include "robot_io/rio_msg.h"

/* JSON numbers are doubles: integers (seq, timestamps) are exact below 2^53. */
#define RIO_CODEC_INT_LIMIT 9007199254740992.0 /* 2^53 */
#define RIO_CODEC_MAX_INDEX 65535              /* a step's index; plans grow by step messages */
#define RIO_CODEC_MAX_DIM 8192                 /* a frame's width and height */
#define RIO_CODEC_MAX_CAMERAS ((int)(sizeof ((rio_hello *)0)->cameras / sizeof ((rio_hello *)0)->cameras[0]))

/* What a string field may hold. */
typedef struct rio_str_rule {
    size_t min, cap; /* length min..cap-1 bytes */
    int id_chars;    /* 1: only [A-Za-z0-9_.:-] (ids and names end up in logs and prompts) */
} rio_str_rule;

extern const rio_str_rule RIO_RULE_ID;   /* plan/step/session ids */
extern const rio_str_rule RIO_RULE_NAME; /* skill, argument, sender, camera, reason names */
extern const rio_str_rule RIO_RULE_STR;  /* string argument values */
extern const rio_str_rule RIO_RULE_TEXT; /* sentences for people */

/* Names in schema order: rio_arg_type (4) and frame encodings (3). */
extern const char *const rio_codec_arg_types[4];
extern const char *const rio_codec_encodings[3];

/* 0 when s (len bytes) obeys r, else 1 with the reason in why (n_why bytes). */
int rio_codec_str_bad(const char *s, size_t len, rio_str_rule r, char *why, size_t n_why);

/* "path.key", "path[3]" or "key": the field as an error names it. */
void rio_codec_field_name(char *out, size_t n, const char *path, const char *key);

/* Index of s in names[0..n), or -1. */
int rio_codec_find_name(const char *const *names, int n, const char *s);

/* Writes "FN: WHAT: field "NAME": WHY" into err and returns st: the one shape
 * of every field error, decoding or encoding. */
ember_status rio_codec_field_err(char *err, ember_status st, const char *fn, const char *what, const char *path,
                                 const char *key, const char *fmt, va_list ap);

#endif
