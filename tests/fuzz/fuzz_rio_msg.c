/* fuzz_rio_msg.c - fuzz target of the robot message codec (robot_io/rio_msg.c).
 *
 * Whatever the input: decoding must not crash, leak or read out of bounds;
 * what decodes must encode (unless the encoding outgrows RIO_MAX_JSON), the
 * encoding must decode, and encoding that again must give the same bytes.
 * The decoded message also goes through rio_msg_copy, rio_msg_attach_blob
 * and rio_step_check, and the input through rio_plan_parse. A broken
 * property abort()s, which libFuzzer (or fuzz_driver.c) reports with the input.
 *
 * Built with clang -fsanitize=fuzzer where it exists, else with
 * tests/fuzz/fuzz_driver.c (see tests/fuzz/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robot_io/rio_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *err, const char *json) {
    fprintf(stderr, "fuzz_rio_msg: %s: %s\n  encoding: %s\n", what, err, json ? json : "(none)");
    abort();
}

/* Skills to check decoded steps against: pick(object: enum, speed?: 0..1), wait(ticks: integer). */
static void make_skills(rio_skill sk[2]) {
    memset(sk, 0, 2 * sizeof *sk);
    snprintf(sk[0].name, RIO_NAME_LEN, "pick");
    sk[0].n_args = 2;
    snprintf(sk[0].args[0].name, RIO_NAME_LEN, "object");
    sk[0].args[0].type = RIO_ARG_STRING;
    sk[0].args[0].n_enum = 2;
    snprintf(sk[0].args[0].enums[0], RIO_STR_LEN, "red_block");
    snprintf(sk[0].args[0].enums[1], RIO_STR_LEN, "blue_block");
    snprintf(sk[0].args[1].name, RIO_NAME_LEN, "speed");
    sk[0].args[1].type = RIO_ARG_NUMBER;
    sk[0].args[1].optional = 1;
    sk[0].args[1].has_range = 1;
    sk[0].args[1].max = 1;
    snprintf(sk[1].name, RIO_NAME_LEN, "wait");
    sk[1].n_args = 1;
    snprintf(sk[1].args[0].name, RIO_NAME_LEN, "ticks");
    sk[1].args[0].type = RIO_ARG_INTEGER;
}

static void check_message(const rio_msg *m) {
    char err[EM_ERR_LEN], reason[RIO_NAME_LEN];
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ember_status st = rio_msg_encode(m, &a, &na, err);
    if (st == EM_ERR_RANGE) return; /* a decoded message may re-encode longer (1e5 -> 100000) */
    if (st) fail("a decoded message does not encode", err, NULL);
    if (strlen(a) != na) fail("encode: length", "", a);

    rio_msg d;
    if (rio_msg_decode(&d, a, na, err)) fail("an encoding does not decode", err, a);
    if (rio_msg_encode(&d, &b, &nb, err)) fail("a decoded encoding does not encode", err, a);
    if (na != nb || memcmp(a, b, na)) fail("re-encoding differs", b, a);

    rio_msg c;
    if (rio_msg_copy(&c, &d, err) == EM_OK) {
        char *e = NULL;
        size_t ne = 0;
        if (rio_msg_encode(&c, &e, &ne, err) || ne != na || memcmp(a, e, na)) fail("a copy encodes differently", err, a);
        free(e);
        rio_msg_clear(&c);
    }

    rio_skill sk[2];
    make_skills(sk);
    if (d.type == RIO_MSG_STEP) rio_step_check(sk, 2, &d.u.step, reason, err);
    if (d.type == RIO_MSG_PLAN)
        for (int i = 0; i < d.u.plan.n_steps; i++) rio_step_check(sk, 2, &d.u.plan.steps[i], reason, err);
    if (d.type == RIO_MSG_HELLO && d.u.hello.n_skills > 0) {
        rio_step s;
        memset(&s, 0, sizeof s);
        snprintf(s.skill, RIO_NAME_LEN, "%s", d.u.hello.skills[d.u.hello.n_skills - 1].name);
        rio_step_check(d.u.hello.skills, d.u.hello.n_skills, &s, reason, err);
    }
    if (d.type == RIO_MSG_FRAME) {
        /* attach never reads the bytes: a dummy pointer of any claimed size will do */
        if (rio_msg_attach_blob(&d, a, d.u.frame.size + 1, err) != EM_ERR_FORMAT) fail("oversized blob attached", err, a);
        if (rio_msg_attach_blob(&d, a, d.u.frame.size, err)) fail("exact blob refused", err, a);
    }
    rio_msg_clear(&d);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[EM_ERR_LEN], plan_id[RIO_ID_LEN];
    rio_msg m;
    if (rio_msg_decode(&m, (const char *)data, size, err) == EM_OK) {
        check_message(&m);
        rio_msg_clear(&m);
    } else if (m.type != RIO_MSG_NONE) {
        fail("a refused message is not cleared", err, NULL);
    }
    rio_step *steps = NULL;
    int n = 0;
    if (rio_plan_parse((const char *)data, size, plan_id, &steps, &n, err) == EM_OK) {
        if (n < 1 || n > RIO_MAX_STEPS || !steps) fail("rio_plan_parse: step count", err, NULL);
        free(steps);
    } else if (steps || n) {
        fail("rio_plan_parse: outputs set on failure", err, NULL);
    }
    return 0;
}
