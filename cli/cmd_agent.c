/* cmd_agent.c - `ember agent`: the embodied agent on a robot controller.
 *
 *   ember agent -m MODEL.gguf [--mmproj MMPROJ.gguf] [--state-encoder STATE.gguf] \
 *       --connect tcp://127.0.0.1:5555 "put the red cube in the blue bowl"
 *
 * Thin: the options, the files opened and checked, the link up, then
 * agent/agent_loop.h runs observe-plan-act-replan; each plan and each
 * step's fate is printed as `ember act` prints them. Exit 0 only when the
 * run ends in success. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent/agent_loop.h"
#include "agent/skills.h"
#include "agent/vlm_prompt.h"
#include "cli_model_opts.h"
#include "cli_rio.h"
#include "cli_util.h"
#include "commands.h"
#include "opt.h"
#include "projector/state_enc.h"
#include "vision/encoder.h"
#include "vision/mmproj.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember agent -m MODEL.gguf [--mmproj MMPROJ.gguf] [--state-encoder STATE.gguf] --connect EP "
            "[options] \"INSTRUCTION\"\n\n"
            "Plans the instruction into steps of the skills the controller offers (every plan valid by\n"
            "construction: a grammar from the skills constrains the sampler), sends them over the robot\n"
            "link, follows each step's fate, and replans from a new observation after a failure, a\n"
            "timeout or a plan that ends short of the goal. Exit 0 only when the run succeeds.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

typedef struct agent_out {
    int quiet;
    int peer_timeout_ms;
} agent_out;

static void print_plan(void *user, const agent_plan_info *p) {
    const agent_out *o = user;
    if (o->quiet) return;
    if (p->resumed) {
        printf("plan %d: resuming instance %s (%d steps) from the log\n", p->cycle, p->instance, p->n_steps);
    } else {
        printf("plan %d: %d step%s as %s", p->cycle, p->n_steps, p->n_steps == 1 ? "" : "s", p->instance);
        if (p->votes > 1) printf(" (%d of %d sampled plans agree on the first step)", p->agree, p->votes);
        printf("\n");
    }
    for (int i = 0; i < p->n_steps; i++) {
        char what[512];
        cli_step_describe(&p->steps[i], what, sizeof what);
        printf("  %s\n", what);
    }
    if (!p->resumed)
        fprintf(stderr, "ember agent: plan %d: prompt %lld positions (%lld reused), encode %.0f ms, prefill %.0f ms, "
                        "generate %.0f ms, frame to first step %.0f ms\n",
                p->cycle, (long long)p->prompt_positions, (long long)p->reused, p->encode_ms, p->prefill_ms,
                p->generate_ms, p->frame_to_send_ms);
    fflush(stdout);
}

static void print_fate(void *user, const agent_step_fate *f) {
    const agent_out *o = user;
    if (!o->quiet) cli_print_fate(stdout, f);
}

static void print_replan(void *user, const char *why) {
    const agent_out *o = user;
    if (!o->quiet) printf("replan: %s\n", why);
    fflush(stdout);
}

static void print_link(void *user, int alive, int restarted) {
    const agent_out *o = user;
    cli_print_link("ember agent", o->peer_timeout_ms, alive, restarted);
}

static int stop_on_signal(void *user) {
    (void)user;
    return cli_stop_requested();
}

int ember_cmd_agent(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "agent");
    char err[EM_ERR_LEN];
    char perr[OPT_ERR_LEN];
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    mo.sp.temp = 0.0f; /* a robot asking twice should get one plan; --temp samples */
    mo.n_predict = -1; /* a plan's tokens: enough for the longest plan the grammar allows, unless given */
    agent_loop_params prm = agent_loop_defaults();
    const char *mmproj = NULL, *state_path = NULL, *skills_path = NULL, *instruction = NULL;
    double timeout_s = 60, wait_s = 10, tol = prm.state_tolerance;
    int longest_edge = 0, resize = VISION_RESIZE_AUTO, weights = VISION_WEIGHTS_STORED;
    bool quiet = false, new_run = false;
    opt_spec model_specs[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&mo, model_specs);
    opt_spec link[CLI_RIO_OPTS_N];
    cli_rio_specs(&cfg, "--connect", link);
    const opt_spec specs[] = {
        OPT_GROUP(link),
        OPT_STR(NULL, "--mmproj", "FILE", &mmproj, "the model's vision projector: camera frames in the prompt"),
        OPT_STR(NULL, "--state-encoder", "FILE", &state_path, "a state encoder GGUF (projector/STATE_FORMAT.md): the robot's state in the prompt"),
        OPT_STR(NULL, "--skills", "FILE", &skills_path, "plan with these skills (JSON, the hello's shape) instead of the controller's"),
        OPT_STR(NULL, "--prompt", "TEXT", &prm.prompt, "the user turn, with <img>, <img:CAMERA>, <state>, {instruction}, {history} (agent/README.md)"),
        OPT_INT(NULL, "--max-steps", "N", &prm.max_steps, 1, 100000, "steps sent in all, at most"),
        OPT_INT(NULL, "--max-replans", "N", &prm.max_replans, 0, 100000, "plans after the first, at most"),
        OPT_INT(NULL, "--max-plan-steps", "N", &prm.max_plan_steps, 1, RIO_MAX_STEPS, "steps in one plan, at most"),
        OPT_DOUBLE(NULL, "--timeout", "S", &timeout_s, 0.001, 1e7, "a plan not finished after S seconds is cancelled and replanned"),
        OPT_INT(NULL, "--votes", "K", &prm.votes, 1, 16, "sample K plans, keep the majority's first step (self-consistency)"),
        OPT_STR(NULL, "--log", "FILE", &prm.log_path, "append every decision as a JSON line; a run left open there is resumed"),
        OPT_FLAG(NULL, "--new-run", &new_run, "end a run left open in --log (another instruction) and start this one"),
        OPT_STR(NULL, "--save-frames", "DIR", &prm.save_frames, "save the frames each plan was made from as PNG/JPEG files"),
        OPT_DOUBLE(NULL, "--state-tolerance", "X", &tol, 0, 1e9, "replan when a state entry moves more than X while planning (0: off)"),
        {.kind = OPT_KIND_INT, .lng = "--image-longest-edge", .meta = "N", .dest = OPT_DEST_(&longest_edge, int), .lo = 1,
         .hi = 16384, .flags = OPT_NO_DEFAULT, .help = "resize frames to this longest side before tiling (default: the mmproj's)"},
        OPT_CHOICE(NULL, "--image-resize", "MODE", &resize, cli_image_resize_names, CLI_IMAGE_RESIZE_HELP),
        OPT_CHOICE(NULL, "--vision-weights", "HOW", &weights, cli_vision_weights_names, CLI_VISION_WEIGHTS_HELP),
        OPT_DOUBLE(NULL, "--wait", "S", &wait_s, 0.001, 1e7, "wait S seconds for the controller to answer"),
        OPT_GROUP(model_specs),
        OPT_FLAG("-q", "--quiet", &quiet, "print only the final line"),
        OPT_END};
    int n_pos = 0, prc = opt_parse("ember agent", specs, argc, argv, &instruction, 1, &n_pos, perr);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc == OPT_OK) prc = cli_model_opts_finish(&mo, "ember agent", perr);
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    if (!mo.model) { fprintf(stderr, "ember agent: no model: give -m MODEL.gguf (see --help)\n"); return 2; }
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember agent: --connect EP is required\n"); return 2; }
    if (!instruction || !instruction[0]) { fprintf(stderr, "ember agent: no instruction given (the last argument)\n"); return 2; }
    {
        rio_config chk = cfg;
        if (rio_config_finish(&chk, err)) {
            fprintf(stderr, "ember agent: %s%s\n", err, cli_rio_advice("--connect", err));
            return 2;
        }
    }
    prm.instruction = instruction;
    prm.timeout_ms = (int)(timeout_s * 1000);
    prm.state_tolerance = tol;
    prm.new_run = new_run;
    prm.sampling = mo.sp;
    prm.model_desc = mo.model;
    if (mo.n_predict > 0) prm.max_tokens = mo.n_predict;

    agent_skills *file_skills = NULL;
    if (skills_path && !(file_skills = agent_skills_load(skills_path, -1, err))) {
        fprintf(stderr, "ember agent: --skills %s: %s\n", skills_path, err);
        return 1;
    }

    cli_block_stop_signals();

    int rc = 1;
    cli_model cm = {0};
    vision_mmproj *mp = NULL;
    vision_encoder *enc = NULL;
    state_enc *se = NULL;
    agent_follower *f = NULL;
    agent_loop *L = NULL;
    agent_out out = {quiet, cfg.peer_timeout_ms};

    /* the files first: a typo costs no model load */
    if (cli_model_open(&mo, quiet, &cm, err)) goto fail;
    if (mmproj) {
        if (!(mp = vision_mmproj_load(mmproj, cm.be, (vision_weights)weights, err))) goto fail;
        if (agent_vlm_check_pair(mp, cm.m, mmproj, mo.model, err)) goto fail;
        cli_vision_weights_note(cm.be, weights, "ember agent");
        vision_encoder_params ep = {longest_edge, 0, 0, 0, NULL, NULL, (vision_resize_mode)resize};
        if (!(enc = vision_encoder_create(mp, &ep, err))) goto fail;
    }
    if (state_path) {
        if (!(se = state_enc_load(state_path, cm.be, err))) goto fail;
        if (state_enc_n_embd(se) != cm.m->hp.n_embd) {
            snprintf(err, sizeof err, "%s encodes to width %d; the model %s reads %d", state_path, state_enc_n_embd(se),
                     mo.model, cm.m->hp.n_embd);
            goto fail;
        }
    }
    prm.grammar_text = cm.grammar_text; /* --grammar-file: replaces the plan grammar; its plans must still parse */
    agent_follow_hooks fh = {0};
    if (!(f = agent_follower_create(&cfg, &fh, AGENT_SUB_STATE | AGENT_SUB_FRAMES, stderr, err))) {
        fprintf(stderr, "ember agent: %s%s\n", err, cli_rio_advice("--connect", err));
        goto done;
    }
    if (agent_follower_wait_ready(f, (int)(wait_s * 1000))) {
        fprintf(stderr, "ember agent: %s%s\n", agent_follower_errmsg(f), cli_rio_advice("--connect", agent_follower_errmsg(f)));
        goto done;
    }
    agent_loop_parts parts = {cm.m, cm.ctx, cm.gen, enc, se, f, mo.chat_template, file_skills};
    agent_loop_hooks hooks = {print_plan, print_fate, print_replan, stop_on_signal, print_link, &out};
    if (!(L = agent_loop_create(&parts, &prm, &hooks, err))) goto fail;
    if (agent_loop_prepare(L, err)) {
        fprintf(stderr, "ember agent: %s\n", err);
        rc = 2;
        goto done;
    }
    if (!quiet) printf("instruction: %s\n", instruction);
    agent_loop_result res;
    if (agent_loop_run(L, &res)) {
        fprintf(stderr, "ember agent: %s\n", agent_loop_errmsg(L));
        goto done;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("agent: %s - %s (%d plan%s, %d replan%s, %d steps sent: %d done, %d failed)%s\n",
           agent_loop_end_name(res.end), res.why, res.cycles, res.cycles == 1 ? "" : "s", res.replans,
           res.replans == 1 ? "" : "s", res.steps_sent, res.steps_done, res.steps_failed,
           res.resumed ? " [resumed from the log]" : "");
    fprintf(stderr, "timings: first_step_ms=%.1f replan_ms=%.1f peak_rss_mib=%.1f\n", res.first_step_ms, res.replan_ms,
            ru.ru_maxrss / 1024.0);
    rc = res.end == AGENT_END_SUCCESS ? 0 : res.end == AGENT_END_INTERRUPTED ? 130 : 1;
    goto done;
fail:
    fprintf(stderr, "ember agent: %s\n", err);
done:
    agent_loop_free(L);
    agent_follower_free(f);
    state_enc_free(se);
    vision_encoder_free(enc);
    vision_mmproj_free(mp);
    cli_model_close(&cm);
    agent_skills_free(file_skills);
    return rc;
}
