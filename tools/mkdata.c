/* mkdata.c - write the default model's training or held-out data
 * (agent/datagen.h) for tools/train/:
 *
 *   mkdata --split train|heldout --scenes N [--first I] [--frame-size 320]
 *          [--per-family V,O,S,P,R] -o DIR
 *
 * DIR/frames.u8     every frame, RGB8, frame_size^2 * 3 bytes each, in order
 * DIR/states.f32    every frame's state vector (float32, n_layout each)
 * DIR/items.jsonl   one item per line: scene seed, frame (index into the
 *                   two files above), family, prompt, answer, question
 * DIR/meta.json     sizes, counts per family, the state layout, seeds
 *
 * The default model's camera is square at its ViT's tile size, so Ember's
 * llama.cpp-mode Idefics3 preprocessing (vision/preprocess.h: a 1 x 1 grid
 * and the overview; its mmproj says so, ember.vision.image_resize) hands
 * the encoder the frame itself, twice; mkdata checks that
 * on the first scenes' frames through Ember's own preprocessing, so what the trainer
 * reads is what Ember feeds the encoder. Files are written under temporary
 * names and renamed at the end: an interrupted run leaves no half split. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "agent/datagen.h"
#include "sim/sim.h"
#include "cli/opt.h"
#include "vision/preprocess.h"

static int check_tiles(const agent_data_frame *f, int S, char *err) {
    vision_preproc_params pp = {.mode = VISION_RESIZE_LLAMACPP, .tile = S, .longest_edge = S, .max_tiles = 0, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
    vision_image img;
    vision_tiles t;
    if (vision_image_from_raw(f->rgb, f->width, f->height, (size_t)f->width * 3, VISION_RGB8, NULL, &img, err)) return -1;
    ember_status st = vision_preprocess(&pp, &img, &t, err);
    vision_image_free(&img);
    if (st) return -1;
    int bad = t.n_tiles != 2;
    for (int k = 0; k < t.n_tiles && !bad; k++)
        for (int c = 0; c < 3 && !bad; c++)
            for (int i = 0; i < S * S && !bad; i++) {
                float want = ((float)f->rgb[(size_t)i * 3 + (size_t)c] / 255.0f - 0.5f) / 0.5f;
                bad = fabsf(t.pix[((size_t)k * 3 + (size_t)c) * (size_t)S * (size_t)S + (size_t)i] - want) > 1e-6f;
            }
    vision_tiles_free(&t);
    if (bad) snprintf(err, EM_ERR_LEN, "Ember's preprocessing does not hand the encoder the %dx%d frame unchanged", S, S);
    return bad ? -1 : 0;
}

static int finish(const char *dir, const char *name) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/%s.tmp", dir, name);
    snprintf(b, sizeof b, "%s/%s", dir, name);
    if (rename(a, b)) return fprintf(stderr, "mkdata: rename %s: %s\n", a, strerror(errno)), -1;
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL, *per = NULL;
    int split_i = 0, scenes = 0, size = 320;
    uint64_t first = 0;
    static const char *const splits[] = {"train", "heldout", NULL};
    const opt_spec specs[] = {
        OPT_CHOICE(NULL, "--split", "S", &split_i, splits, "train | heldout (disjoint seeds)"),
        OPT_INT(NULL, "--scenes", "N", &scenes, 1, 100000000, "scenes to write (required)"),
        OPT_U64(NULL, "--first", "I", &first, 0, 1000000000000ull, "index of the first scene in the split"),
        OPT_INT(NULL, "--frame-size", "S", &size, 32, 2048, "the square camera's side = the ViT's tile"),
        OPT_STR(NULL, "--per-family", "V,O,S,P,R", &per, "questions per scene (visual, ocr, state), tasks with a plan, tasks also replanned (default 2,2,2,1,1)"),
        OPT_STR("-o", NULL, "DIR", &out, "output folder (created)"),
        OPT_END};
    char err[EM_ERR_LEN > OPT_ERR_LEN ? EM_ERR_LEN : OPT_ERR_LEN];
    int rc = opt_parse("mkdata", specs, argc, argv, NULL, 0, NULL, err);
    if (rc == OPT_HELP) {
        printf("usage: mkdata --split train|heldout --scenes N [--first I] [--frame-size S] [--per-family V,O,S,P,R] -o DIR\n");
        opt_usage(stdout, specs);
        return 0;
    }
    if (rc != OPT_OK) return fprintf(stderr, "%s\n", err), 2;
    if (!out || !scenes) return fprintf(stderr, "mkdata: --scenes and -o are required\n"), 2;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) return fprintf(stderr, "mkdata: cannot create %s: %s\n", out, strerror(errno)), 1;

    char path[3][4096];
    const char *names[3] = {"frames.u8", "states.f32", "items.jsonl"};
    FILE *fp[3] = {0};
    for (int i = 0; i < 3; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s.tmp", out, names[i]);
        if (!(fp[i] = fopen(path[i], "wb"))) return fprintf(stderr, "mkdata: %s: %s\n", path[i], strerror(errno)), 1;
    }
    agent_data_params p = agent_data_defaults();
    p.width = p.height = size;
    if (per) {
        int *n = p.per_family, used = 0;
        if (sscanf(per, "%d,%d,%d,%d,%d%n", &n[0], &n[1], &n[2], &n[3], &n[4], &used) != 5 || per[used] || n[0] < 0 || n[1] < 0 ||
            n[2] < 0 || n[3] < 0 || n[4] < 0 || n[0] + n[1] + n[2] + n[3] + n[4] > AGENT_DATA_MAX_ITEMS ||
            n[3] > AGENT_DATA_MAX_TASKS || n[4] > AGENT_DATA_MAX_TASKS)
            return fprintf(stderr, "mkdata: --per-family wants five counts V,O,S,P,R (plan and replan at most %d, %d items in all), not \"%s\"\n",
                           AGENT_DATA_MAX_TASKS, AGENT_DATA_MAX_ITEMS, per), 2;
    }
    long long counts[AGENT_DATA_FAMILIES] = {0}, frames = 0;
    int n_layout = 0;
    cJSON *layout = cJSON_CreateArray();
    for (int s = 0; s < scenes; s++) {
        agent_data_scene sc;
        uint64_t seed = agent_data_seed(split_i, first + (uint64_t)s);
        if (agent_data_scene_make(seed, &p, &sc, err)) return fprintf(stderr, "mkdata: scene %llu: %s\n", (unsigned long long)seed, err), 1;
        if (!n_layout) {
            n_layout = sc.n_layout;
            for (int i = 0; i < n_layout; i++) cJSON_AddItemToArray(layout, cJSON_CreateString(sc.layout[i]));
        }
        long long base = frames;
        for (int f = 0; f < sc.n_frames; f++) {
            if (s < 4 && check_tiles(&sc.frame[f], size, err)) return fprintf(stderr, "mkdata: %s\n", err), 1;
            float st[RIO_MAX_STATE];
            for (int i = 0; i < sc.frame[f].n_state; i++) st[i] = (float)sc.frame[f].state[i];
            if (fwrite(sc.frame[f].rgb, (size_t)size * (size_t)size * 3, 1, fp[0]) != 1 ||
                fwrite(st, sizeof st[0], (size_t)sc.frame[f].n_state, fp[1]) != (size_t)sc.frame[f].n_state)
                return fprintf(stderr, "mkdata: writing: %s\n", strerror(errno)), 1;
            frames++;
        }
        for (int i = 0; i < sc.n_items; i++) {
            const agent_data_item *it = &sc.item[i];
            cJSON *o = cJSON_CreateObject();
            char sd[32];
            snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
            cJSON_AddStringToObject(o, "scene", sd);
            cJSON_AddNumberToObject(o, "frame", (double)(base + it->frame));
            cJSON_AddStringToObject(o, "family", agent_data_family_name(it->family));
            cJSON_AddStringToObject(o, "prompt", it->prompt);
            cJSON_AddStringToObject(o, "answer", it->answer);
            cJSON_AddStringToObject(o, "question", it->question);
            char *line = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!line || fprintf(fp[2], "%s\n", line) < 0) return fprintf(stderr, "mkdata: writing items\n"), 1;
            free(line);
            counts[it->family]++;
        }
        agent_data_scene_free(&sc);
        if ((s + 1) % 1000 == 0) fprintf(stderr, "mkdata: %d/%d scenes\n", s + 1, scenes);
    }
    for (int i = 0; i < 3; i++)
        if (fclose(fp[i])) return fprintf(stderr, "mkdata: %s: %s\n", path[i], strerror(errno)), 1;
    cJSON *m = cJSON_CreateObject(), *c = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "split", splits[split_i]);
    cJSON_AddNumberToObject(m, "scenes", scenes);
    cJSON_AddNumberToObject(m, "first", (double)first);
    cJSON_AddNumberToObject(m, "frames", (double)frames);
    cJSON_AddNumberToObject(m, "frame_size", size);
    cJSON *pf = cJSON_CreateObject();
    for (int f = 0; f < AGENT_DATA_FAMILIES; f++) cJSON_AddNumberToObject(pf, agent_data_family_name(f), p.per_family[f]);
    cJSON_AddItemToObject(m, "per_family", pf);
    cJSON_AddItemToObject(m, "layout", layout);
    for (int f = 0; f < AGENT_DATA_FAMILIES; f++) cJSON_AddNumberToObject(c, agent_data_family_name(f), (double)counts[f]);
    cJSON_AddItemToObject(m, "items", c);
    char *js = cJSON_Print(m);
    cJSON_Delete(m);
    char mp[4096];
    snprintf(mp, sizeof mp, "%s/meta.json.tmp", out);
    FILE *mf = fopen(mp, "w");
    if (!mf || fprintf(mf, "%s\n", js) < 0 || fclose(mf)) return fprintf(stderr, "mkdata: %s: %s\n", mp, strerror(errno)), 1;
    free(js);
    for (int i = 0; i < 3; i++)
        if (finish(out, names[i])) return 1;
    if (finish(out, "meta.json")) return 1;
    sim_render_shutdown();
    fprintf(stderr, "mkdata: %s: %d scenes, %lld frames, items:", out, scenes, frames);
    for (int f = 0; f < AGENT_DATA_FAMILIES; f++) fprintf(stderr, " %s %lld", agent_data_family_name(f), counts[f]);
    fprintf(stderr, "\n");
    return 0;
}
