/* chat.c - see chat.h. A small growable string keeps the formatting flat. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

typedef struct { char *s; size_t len, cap; bool oom; } sbuf;

static void sb_add(sbuf *b, const char *t) {
    size_t n = strlen(t);
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = true; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, t, n + 1);
    b->len += n;
}

enum lm_chat_style lm_chat_detect(const char *tmpl) {
    if (!tmpl) return LM_CHAT_CHATML;
    if (strstr(tmpl, "<|im_start|>")) {
        if (strstr(tmpl, "<end_of_utterance>")) return LM_CHAT_SMOLVLM;
        if (strstr(tmpl, "<|im_sep|>")) return LM_CHAT_UNKNOWN; /* phi-4: not ChatML */
        return LM_CHAT_CHATML;
    }
    if (strstr(tmpl, "User:") && strstr(tmpl, "<end_of_utterance>")) return LM_CHAT_SMOLVLM;
    return LM_CHAT_UNKNOWN;
}

enum lm_chat_style lm_chat_style_from_name(const char *name) {
    if (!strcmp(name, "chatml")) return LM_CHAT_CHATML;
    if (!strcmp(name, "smolvlm")) return LM_CHAT_SMOLVLM;
    return LM_CHAT_UNKNOWN;
}

const char *lm_chat_style_name(enum lm_chat_style s) {
    switch (s) {
    case LM_CHAT_CHATML: return "chatml";
    case LM_CHAT_SMOLVLM: return "smolvlm";
    default: return "unknown";
    }
}

char *lm_chat_format(enum lm_chat_style s, const lm_chat_msg *msgs, int n, bool add_assistant, char *err) {
    sbuf b = {0};
    sb_add(&b, "");
    if (s == LM_CHAT_CHATML) {
        for (int i = 0; i < n; i++) {
            sb_add(&b, "<|im_start|>");
            sb_add(&b, msgs[i].role);
            sb_add(&b, "\n");
            sb_add(&b, msgs[i].content);
            sb_add(&b, "<|im_end|>\n");
        }
        if (add_assistant) sb_add(&b, "<|im_start|>assistant\n");
    } else if (s == LM_CHAT_SMOLVLM) {
        sb_add(&b, "<|im_start|>");
        for (int i = 0; i < n; i++) {
            if (!strcmp(msgs[i].role, "system")) {
                sb_add(&b, msgs[i].content);
                sb_add(&b, "\n\n");
            } else {
                sb_add(&b, !strcmp(msgs[i].role, "user") ? "User: " : "Assistant: ");
                sb_add(&b, msgs[i].content);
                sb_add(&b, "<end_of_utterance>\n");
            }
        }
        if (add_assistant) sb_add(&b, "Assistant:");
    } else {
        free(b.s);
        em_err(err, EM_ERR_UNSUPPORTED, "unrecognised chat template (Ember knows chatml and smolvlm)");
        return NULL;
    }
    if (b.oom) {
        free(b.s);
        em_err(err, EM_ERR_NOMEM, "lm_chat_format: out of memory");
        return NULL;
    }
    return b.s;
}

ember_status lm_chat_prompt(const char *style_name, const char *model_template, const char *system, const char *user,
                            char **out, char *err) {
    enum lm_chat_style s = style_name ? lm_chat_style_from_name(style_name) : lm_chat_detect(model_template);
    if (style_name && s == LM_CHAT_UNKNOWN)
        return em_err(err, EM_ERR_ARG, "chat template '%s': expected chatml or smolvlm", style_name);
    lm_chat_msg msgs[2];
    int n = 0;
    if (system) msgs[n++] = (lm_chat_msg){"system", system};
    msgs[n++] = (lm_chat_msg){"user", user};
    char e[EM_ERR_LEN];
    if (!(*out = lm_chat_format(s, msgs, n, true, e))) return em_err(err, s == LM_CHAT_UNKNOWN ? EM_ERR_UNSUPPORTED : EM_ERR_NOMEM, "%s", e);
    return EM_OK;
}
