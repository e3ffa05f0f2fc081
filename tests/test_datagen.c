/* test_datagen.c - the default model's data (agent/datagen.h): scenes are a
 * pure function of their seed, splits are disjoint, every family occurs,
 * answers are what the world says, plans are valid (they parse against the
 * scene's skills, the plan grammar accepts them, and run to a met goal),
 * replans carry the failure line the agent writes, prompts are the agent's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_loop.h"
#include "agent/datagen.h"
#include "agent/plan_text.h"
#include "check.h"
#include "lm/grammar.h"
#include "sim/sim.h"

static int same_scene(const agent_data_scene *a, const agent_data_scene *b) {
    if (a->n_frames != b->n_frames || a->n_items != b->n_items) return 0;
    for (int f = 0; f < a->n_frames; f++)
        if (memcmp(a->frame[f].rgb, b->frame[f].rgb, (size_t)a->frame[f].width * a->frame[f].height * 3) ||
            memcmp(a->frame[f].state, b->frame[f].state, sizeof a->frame[f].state))
            return 0;
    for (int i = 0; i < a->n_items; i++)
        if (strcmp(a->item[i].prompt, b->item[i].prompt) || strcmp(a->item[i].answer, b->item[i].answer)) return 0;
    return 1;
}

/* The expert in closed loop on the held-out episodes of `ember eval`
 * (--fail-rate 0.2, 4 replans, 20 steps): plan, run the steps until one
 * fails, plan again from the world as it is. Step ids per cycle ("c2s1",
 * as `ember agent` sends them) or per plan ("s1" in every plan). Returns
 * the goals met; the ceiling the model's closed-loop success is held to. */
static int expert_episodes(int n, int per_cycle_ids) {
    int met = 0;
    char err[EM_ERR_LEN];
    for (int e = 0; e < n; e++) {
        uint64_t seed = agent_data_seed(AGENT_DATA_HELDOUT, (uint64_t)e);
        char *goal = NULL, *instr = NULL;
        sim_config cfg;
        sim_config_defaults(&cfg);
        cfg.seed = seed, cfg.fail_rate = 0.2, cfg.scramble = agent_data_scramble(seed);
        sim_world *w = sim_create(&cfg, err);
        if (!w || agent_data_task(seed, &goal, &instr, err) || sim_set_goal(w, goal, err)) {
            CHECK(0, "episode %d: %s", e, err);
            sim_free(w), free(goal), free(instr);
            continue;
        }
        int sent = 0;
        for (int cycle = 1; cycle <= 5 && sent < 20 && sim_goal_met(w, NULL) != 1; cycle++) {
            rio_step st[8];
            int n_steps = 0;
            if (sim_expert_plan(w, st, 8, &n_steps, err)) break;
            for (int k = 0; k < n_steps && sent < 20; k++, sent++) {
                char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
                snprintf(st[k].step_id, sizeof st[k].step_id, per_cycle_ids ? "c%ds%d" : "s%d",
                         per_cycle_ids ? cycle : k + 1, k + 1);
                int r = -1;
                if (!sim_step_begin(w, &st[k], reason, err))
                    while ((r = sim_tick(w, 1.0, reason, text)) == 0) {}
                if (r < 0) {
                    sent++;
                    break;
                }
            }
        }
        met += sim_goal_met(w, NULL) == 1;
        sim_free(w), free(goal), free(instr);
    }
    return met;
}

int main(void) {
    char err[EM_ERR_LEN];
    agent_data_params p = agent_data_defaults();
    p.width = p.height = 96; /* small frames: the test is about content */
    CHECK(agent_data_seed(AGENT_DATA_TRAIN, 0) == 1 && agent_data_seed(AGENT_DATA_HELDOUT, 0) > agent_data_seed(AGENT_DATA_TRAIN, 999999999999ull),
          "train and held-out seeds overlap");

    int fam[AGENT_DATA_FAMILIES] = {0}, plans_ok = 0, plans = 0, long_plans = 0, labelled = 0, fail_lines = 0;
    for (uint64_t i = 0; i < 120; i++) {
        uint64_t seed = agent_data_seed(i % 2 ? AGENT_DATA_HELDOUT : AGENT_DATA_TRAIN, i);
        agent_data_scene a, b;
        if (agent_data_scene_make(seed, &p, &a, err)) {
            CHECK(0, "seed %llu: %s", (unsigned long long)seed, err);
            continue;
        }
        if (i < 10) {
            CHECK(agent_data_scene_make(seed, &p, &b, err) == EM_OK, "%s", err);
            CHECK(same_scene(&a, &b), "seed %llu: two makes differ", (unsigned long long)seed);
            agent_data_scene_free(&b);
        }
        CHECK(a.n_layout == 33 && a.frame[0].n_state == 33, "layout %d", a.n_layout);
        for (int k = 0; k < a.n_items; k++) {
            const agent_data_item *it = &a.item[k];
            fam[it->family]++;
            CHECK(strstr(it->prompt, "<img>") && strstr(it->prompt, "<state>") && strstr(it->prompt, "<|im_start|>assistant\n"),
                  "prompt: %s", it->prompt);
            CHECK(it->answer[0], "empty answer to %s", it->question);
            if (it->family < AGENT_DATA_PLAN) {
                CHECK(!it->grammar && strstr(it->prompt, it->question), "question not in its prompt");
                continue;
            }
            /* a plan: the agent's system turn, the grammar accepts it, it parses */
            plans++;
            CHECK(strstr(it->prompt, "You control a robot arm.") && strstr(it->prompt, "Task: ") && strstr(it->prompt, "Plan:"),
                  "plan prompt: %s", it->prompt);
            lm_grammar *g = it->grammar ? lm_grammar_parse(it->grammar, strlen(it->grammar), err) : NULL;
            int acc = g && lm_grammar_accepts(g, it->answer, strlen(it->answer));
            CHECK(acc, "the plan grammar refuses %s", it->answer);
            lm_grammar_free(g);
            int nl = 0;
            for (const char *s = it->answer; *s; s++) nl += *s == '\n';
            long_plans += nl - 1 >= 3;
            labelled += strstr(it->question, "labelled") != NULL;
            if (it->family == AGENT_DATA_REPLAN) {
                fail_lines += strstr(it->prompt, "So far:\nstep ") && strstr(it->prompt, " failed: grasp_slipped\n");
                CHECK(it->frame == 1, "a replan sees the world after the failure (frame %d)", it->frame);
            }
            plans_ok += acc;
        }
        agent_data_scene_free(&a);
    }
    for (int f = 0; f < AGENT_DATA_FAMILIES; f++) CHECK(fam[f] > 30, "family %s: %d items", agent_data_family_name(f), fam[f]);
    CHECK(plans_ok == plans && long_plans > 5 && labelled > 5 && fail_lines == fam[AGENT_DATA_REPLAN],
          "plans %d/%d valid, %d of 3+ steps, %d by label, %d/%d replans with the failure line", plans_ok, plans, long_plans,
          labelled, fail_lines, fam[AGENT_DATA_REPLAN]);
    printf("items: visual %d ocr %d state %d plan %d replan %d; plans of 3+ steps %d, by label %d\n", fam[0], fam[1], fam[2],
           fam[3], fam[4], long_plans, labelled);

    /* more tasks per scene (a trainer's setting): distinct instructions, the
     * first one the episode's, each replan with its own frame, all plans valid */
    agent_data_params m = p;
    m.per_family[AGENT_DATA_VISUAL] = m.per_family[AGENT_DATA_OCR] = m.per_family[AGENT_DATA_STATE] = 6;
    m.per_family[AGENT_DATA_PLAN] = 4, m.per_family[AGENT_DATA_REPLAN] = 2;
    int tasks = 0, replans = 0, ends = 0, refused = 0, slips = 0, two = 0;
    for (uint64_t i = 0; i < 40; i++) {
        uint64_t seed = agent_data_seed(AGENT_DATA_TRAIN, 1000 + i);
        agent_data_scene a;
        char *g0 = NULL, *i0 = NULL;
        if (agent_data_scene_make(seed, &m, &a, err) || agent_data_task(seed, &g0, &i0, err)) {
            CHECK(0, "seed %llu: %s", (unsigned long long)seed, err);
            continue;
        }
        const char *first = NULL;
        int frame_used[AGENT_DATA_MAX_FRAMES] = {0};
        for (int k = 0; k < a.n_items; k++) {
            const agent_data_item *it = &a.item[k];
            if (it->family == AGENT_DATA_PLAN) {
                tasks++;
                if (!first) first = it->question;
                for (int j = 0; j < k; j++)
                    CHECK(a.item[j].family != AGENT_DATA_PLAN || strcmp(a.item[j].question, it->question), "task \"%s\" twice", it->question);
                CHECK(it->frame == 0, "a plan item on frame %d", it->frame);
            }
            if (it->family == AGENT_DATA_REPLAN) {
                replans++;
                CHECK(it->frame > 0 && it->frame < a.n_frames && !frame_used[it->frame]++, "replan frame %d of %d", it->frame, a.n_frames);
                /* every history line is one the agent writes: a step's
                 * failure or the goal's verdict; besides slips, the
                 * failures a model's own mistakes cause */
                const char *h = strstr(it->prompt, "So far:\n");
                CHECK(h != NULL, "a replan without history: %s", it->prompt);
                int n_lines = 0;
                for (const char *l = h ? h + 8 : ""; *l && strncmp(l, "Plan:", 5); n_lines++) {
                    const char *e = strchr(l, '\n');
                    size_t len = e ? (size_t)(e - l) : strlen(l);
                    char line[512];
                    snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), l);
                    int unmet = !strncmp(line, "the plan ended but the goal is not met: ", 40);
                    CHECK(unmet || (!strncmp(line, "step ", 5) && strstr(line, ") failed: ")), "history line \"%s\"", line);
                    ends += unmet;
                    refused += strstr(line, "failed: precondition") != NULL;
                    slips += strstr(line, "failed: grasp_slipped") != NULL;
                    l += len + (e != NULL);
                }
                two += n_lines == 2;
                CHECK(n_lines >= 1 && n_lines <= 2, "%d history lines", n_lines);
            }
            if (it->grammar) {
                lm_grammar *g = lm_grammar_parse(it->grammar, strlen(it->grammar), err);
                CHECK(g && lm_grammar_accepts(g, it->answer, strlen(it->answer)), "the plan grammar refuses %s", it->answer);
                lm_grammar_free(g);
            }
        }
        CHECK(first && !strcmp(first, i0), "seed %llu: the first task is not the episode's", (unsigned long long)seed);
        free(g0), free(i0);
        agent_data_scene_free(&a);
    }
    CHECK(tasks > 120 && replans > 50, "40 scenes of 4 tasks and 2 replans: %d tasks, %d replans", tasks, replans);
    CHECK(slips >= 30 && ends >= 3 && refused >= 3 && two >= 1 && slips + ends + refused <= replans + two,
          "replans after slips %d, after a plan that ended short %d, after a refused step %d, two-line histories %d", slips,
          ends, refused, two);
    printf("multi-task replans %d: after a slip %d, a plan that ended short %d, a refused step %d; two-line histories %d\n",
           replans, slips, ends, refused, two);
    m.per_family[AGENT_DATA_PLAN] = AGENT_DATA_MAX_TASKS + 1;
    agent_data_scene bad;
    CHECK(agent_data_scene_make(1, &m, &bad, err) == EM_ERR_RANGE, "more tasks than AGENT_DATA_MAX_TASKS accepted");

    /* an episode starts from the world the scene's plan item saw */
    char *goal = NULL, *instr = NULL;
    uint64_t seed = agent_data_seed(AGENT_DATA_HELDOUT, 3);
    CHECK(agent_data_task(seed, &goal, &instr, err) == EM_OK, "%s", err);
    agent_data_scene sc;
    CHECK(agent_data_scene_make(seed, &p, &sc, err) == EM_OK, "%s", err);
    int found = 0;
    for (int k = 0; k < sc.n_items; k++) found |= sc.item[k].family == AGENT_DATA_PLAN && !strcmp(sc.item[k].question, instr);
    CHECK(found, "the episode's task \"%s\" is not the scene's plan item", instr);
    agent_data_scene_free(&sc);
    free(goal), free(instr);
    /* Closed loop is reachable: the expert meets every held-out goal when
     * step ids differ per cycle. With "s1" in every plan a slipped first
     * pick slips again on each retry (the sim keys fates on step ids). */
    int per_cycle = expert_episodes(200, 1), per_plan = expert_episodes(200, 0);
    CHECK(per_cycle == 200 && per_plan < per_cycle, "expert closed loop: %d/200 with per-cycle ids, %d with per-plan ids",
          per_cycle, per_plan);
    printf("expert closed loop, 200 held-out episodes at --fail-rate 0.2: %d met (per-cycle step ids), %d (per-plan ids)\n",
           per_cycle, per_plan);
    sim_render_shutdown();
    return CHECK_DONE();
}
