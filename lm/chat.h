/* chat.h - turning a conversation into the prompt text a model was tuned on.
 *
 * GGUF files carry their template as Jinja (tokenizer.chat_template). Like
 * llama.cpp's built-in templates, Ember recognises the family from marker
 * strings and formats it in C, with no Jinja engine:
 *   ChatML   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
 *   SmolVLM  <|im_start|>{system}\n\nUser: {content}<end_of_utterance>\n ... Assistant:
 * A file without a template is treated as ChatML, as llama.cpp does. */
#ifndef EMBER_LM_CHAT_H
#define EMBER_LM_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/status.h"

enum lm_chat_style { LM_CHAT_UNKNOWN = 0, LM_CHAT_CHATML, LM_CHAT_SMOLVLM };

typedef struct lm_chat_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} lm_chat_msg;

/* Family of a Jinja template (NULL: ChatML); LM_CHAT_UNKNOWN if unrecognised. */
enum lm_chat_style lm_chat_detect(const char *tmpl);
/* Style by name ("chatml", "smolvlm"); LM_CHAT_UNKNOWN if none. */
enum lm_chat_style lm_chat_style_from_name(const char *name);
const char *lm_chat_style_name(enum lm_chat_style s);

/* The prompt for msgs[0..n), ending with the assistant's cue when
 * add_assistant. Returns a malloc'd string the caller frees, or NULL with a
 * message. */
char *lm_chat_format(enum lm_chat_style s, const lm_chat_msg *msgs, int n, bool add_assistant, char *err);

/* A one-turn prompt: an optional system message (NULL: none) and the user's
 * text, in the style named (NULL: the one detected from the model's
 * template), ending with the assistant's cue. *out is malloc'd. EM_ERR_ARG
 * for an unknown style name, EM_ERR_UNSUPPORTED for a model template Ember
 * does not recognise. */
ember_status lm_chat_prompt(const char *style_name, const char *model_template, const char *system, const char *user,
                            char **out, char *err);

#endif
