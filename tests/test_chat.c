/* test_chat.c - chat template detection and formatting, against the exact
 * strings llama.cpp's built-in templates produce. */
#include <stdlib.h>
#include <string.h>

#include "lm/chat.h"
#include "check.h"

int main(void) {
    char err[EM_ERR_LEN];
    const lm_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Pick up the cup"}};

    CHECK(lm_chat_detect(NULL) == LM_CHAT_CHATML, "no template -> chatml");
    CHECK(lm_chat_detect("{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>\n{% endfor %}") == LM_CHAT_CHATML, "chatml");
    CHECK(lm_chat_detect("<|im_start|>{% for m in messages %}{{m.role|capitalize}}: {{m.content}}<end_of_utterance>\n{% endfor %}") == LM_CHAT_SMOLVLM, "smolvlm");
    CHECK(lm_chat_detect("[INST] {{ m }} [/INST]") == LM_CHAT_UNKNOWN, "unknown");

    char *s = lm_chat_format(LM_CHAT_CHATML, msgs, 4, true, err);
    const char *want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nPick up the cup<|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK(s && !strcmp(s, want), "chatml text: %s", s ? s : err);
    free(s);

    s = lm_chat_format(LM_CHAT_SMOLVLM, msgs, 4, true, err);
    want = "<|im_start|>Be brief.\n\nUser: Hi<end_of_utterance>\nAssistant: Hello.<end_of_utterance>\n"
           "User: Pick up the cup<end_of_utterance>\nAssistant:";
    CHECK(s && !strcmp(s, want), "smolvlm text: %s", s ? s : err);
    free(s);

    s = lm_chat_format(LM_CHAT_CHATML, msgs + 1, 1, false, err);
    CHECK(s && !strcmp(s, "<|im_start|>user\nHi<|im_end|>\n"), "no assistant cue");
    free(s);

    CHECK(lm_chat_format(LM_CHAT_UNKNOWN, msgs, 1, true, err) == NULL && strstr(err, "unrecognised chat template"), "unknown style refused: %s", err);
    CHECK(lm_chat_style_from_name("smolvlm") == LM_CHAT_SMOLVLM && lm_chat_style_from_name("x") == LM_CHAT_UNKNOWN, "names");
    /* the one-turn helper the commands use: detected style, named style, refusals */
    char *o = NULL;
    CHECK(lm_chat_prompt(NULL, NULL, "Be brief.", "Hi", &o, err) == EM_OK && o &&
              !strcmp(o, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
          "chat prompt, no template (ChatML): %s", o ? o : err);
    free(o);
    o = NULL;
    CHECK(lm_chat_prompt("smolvlm", NULL, NULL, "Hi", &o, err) == EM_OK && o &&
              !strcmp(o, "<|im_start|>User: Hi<end_of_utterance>\nAssistant:"), "chat prompt, smolvlm: %s", o ? o : err);
    free(o);
    o = NULL;
    CHECK(lm_chat_prompt("x", NULL, NULL, "Hi", &o, err) == EM_ERR_ARG && !o && strstr(err, "'x'"), "unknown name: %s", err);
    CHECK(lm_chat_prompt(NULL, "{% weird %}", NULL, "Hi", &o, err) == EM_ERR_UNSUPPORTED && !o, "unknown template: %s", err);
    return CHECK_DONE();
}
