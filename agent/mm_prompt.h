/* mm_prompt.h - interleaved multimodal prompts, as PaLM-E writes them: text
 * with any number of image and state placeholders, each replaced by its
 * encoder's embeddings in the decoder's neutral prompt (lm/prompt.h).
 *
 *   "Given <img:top> and <state>, Task: stack the blue prism on the green cube."
 *
 * Placeholders:
 *   <img:NAME>  the newest frame of camera NAME, in SmolVLM's image layout
 *               (agent/vlm_prompt.h: tiles and overview, T rows each)
 *   <img>       the same for the controller's first camera
 *   <state>     the state encoder's k rows (projector/state_enc.h); each
 *               row's position keeps the placeholder token -1
 * Anything else in angle brackets is text (<|im_start|> and other special
 * tokens of the chat template included). A placeholder naming a camera the
 * controller does not offer, <img> without a vision projector or a camera,
 * and <state> without a state encoder are errors that say so.
 *
 * Use: agent_mm_spec_parse checks a user turn once (before any frame is
 * encoded); agent_mm_build lays out a formatted prompt (the chat template
 * applied to a text with the same placeholders) and fills the rows from
 * the frames and the state given. The same camera named twice is encoded
 * once (the vision encoder's cache).
 *
 * Ownership: a spec is the caller's (agent_mm_spec_free); it copies what
 * it keeps. */
#ifndef EMBER_AGENT_MM_PROMPT_H
#define EMBER_AGENT_MM_PROMPT_H

#include "../core/status.h"
#include "../lm/model.h"
#include "../lm/prompt.h"
#include "../projector/state_enc.h"
#include "../vision/encoder.h"
#include "../vision/image.h"

#define AGENT_MM_MAX_CAMERAS 4

typedef struct agent_mm_spec agent_mm_spec;

/* Check text's placeholders against what is offered: cameras (n_cams
 * names), whether a vision projector and a state encoder are loaded. */
agent_mm_spec *agent_mm_spec_parse(const char *text, const char *const *cams, int n_cams, int have_vision,
                                   int have_state, char *err);
void agent_mm_spec_free(agent_mm_spec *s);
const char *agent_mm_spec_text(const agent_mm_spec *s);          /* the text as given */
int agent_mm_spec_n_cameras(const agent_mm_spec *s);             /* distinct cameras named */
const char *agent_mm_spec_camera(const agent_mm_spec *s, int i); /* in order of first mention */
int agent_mm_spec_has_state(const agent_mm_spec *s);

/* The inputs of one prompt: the frame of each camera the spec names (in
 * agent_mm_spec_camera's order) and the state vector (in the layout the
 * state encoder was bound to). */
typedef struct agent_mm_inputs {
    const vision_image *images[AGENT_MM_MAX_CAMERAS];
    int n_images;
    const double *state;
    int n_state;
} agent_mm_inputs;

/* Append the formatted text (the spec's placeholders in it, any chat
 * template around them) to p: text tokenized (the vocabulary's BOS first
 * when p is empty and it adds one), each image placeholder replaced by its
 * frame's layout and encoded rows, each <state> by the state's k rows. */
ember_status agent_mm_build(lm_prompt *p, const lm_model *m, const agent_mm_spec *spec, const char *formatted,
                            vision_encoder *vision, state_enc *state, const agent_mm_inputs *in, char *err);

#endif
