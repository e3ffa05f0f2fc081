/* cli_util.h - what several `ember` subcommands need: reading a prompt file
 * and tokenizing a whole text into a buffer of the right size. Both return
 * results the caller frees, or NULL / a negative status with a message in err
 * (EM_ERR_LEN bytes) that names the command and the input. */
#ifndef EMBER_CLI_CLI_UTIL_H
#define EMBER_CLI_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "lm/vocab.h"

/* The whole file, NUL-terminated (it may contain NULs: *n is its length).
 * A directory is refused as one. */
char *cli_read_file(const char *cmd, const char *path, size_t *n, char *err);

/* A prompt file (-f) for run and generate: as cli_read_file, and a NUL
 * byte anywhere is refused (EM_ERR_FORMAT, with its offset), so the text a
 * model sees is the whole file and never silently cut. */
char *cli_read_prompt(const char *cmd, const char *path, size_t *n, char *err);

/* All tokens of text[0..len) into a malloc'd array (*out, caller frees);
 * returns the count (>= 0) or a negative ember_status. */
int64_t cli_tokenize(const lm_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                     int32_t **out, char *err);

/* Weight-upload progress on stderr; the caller owns it, and it must outlive
 * the backend's model load. */
typedef struct cli_progress {
    size_t total;
    int last_pct;
} cli_progress;

/* The compute backend a command runs on: "cpu", "vulkan", or "auto" (Vulkan
 * when a real GPU is present, else the CPU, saying why on stderr unless
 * quiet). A thin wrapper over em_backend_open (core/backend_open.h) that adds
 * the command line's words: the flag advice, the upload progress bar. device: a Vulkan device index or -1. model_path: for the upload
 * progress of large files (may be NULL), reported through *prog. *desc gets a
 * short description for the summary line ("vulkan: NVIDIA H100", "cpu: 2
 * threads, avx512"). */
em_backend *cli_backend_open(const char *kind, int device, int threads, const char *model_path, bool quiet,
                             cli_progress *prog, char *desc, size_t desc_len, char *err);

/* An lm_gen_params.on_text that writes to stdout and flushes (answers are
 * read as they come). */
int cli_write_stdout(void *user, const char *text, size_t len);

/* Ctrl-C and SIGTERM for the robot commands: blocked (no handler runs in
 * the middle of a journal write or a send), then asked for between two
 * rounds of a loop: cli_stop_requested() is 1 once either is pending. */
void cli_block_stop_signals(void);
int cli_stop_requested(void);

#endif
