/* ops/conv_choices.h - the file of convolution choices kept between runs: what the CUDA
 * backend's timing chose for each shape (ops/conv2d_cuda.cu), so that the next process
 * with the same GPU, libraries and settings takes the same choice without timing again.
 * defines: wsi_conv_choices (a file's entries in memory), wsi_conv_choices_path,
 *          wsi_conv_choices_open / _find / _add / _close.
 * Implementation: ops/conv_choices.c (plain C: no CUDA needed, tested on the CPU).
 *
 * Why: timing up to 10 cuDNN engine configurations per shape and route costs ResNet-50
 * 42 s of start-up in fp32 (23 shapes; H200, 2026-12-01), every run of a study; and two
 * runs of a study that time near-equal candidates may pick different algorithms, which
 * adds noise to the comparison the study makes. Reusing the first choice removes both.
 *
 * The file is text, one entry a line, "key\tvalue\n"; the key says everything the choice
 * depends on (format version, GPU, library versions, precision, API mode, workspace limit,
 * candidate count, shape), the value is the backend's own encoding. Lines are appended
 * under an exclusive flock(2), one write(2) each, so ranks of a job sharing the file do not
 * interleave; the last line of a key wins. A line that is not an entry (garbled, cut
 * short, too long) is ignored and counted, never an error: the worst a bad file costs is
 * timing again. Deleting the file is always safe. */
#ifndef WS_OPS_CONV_CHOICES_H
#define WS_OPS_CONV_CHOICES_H

#include <stddef.h>

#include "wattscale/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key or value accepted (a line is key + tab + value + newline). */
#define WSI_CONV_CHOICES_FIELD_MAX 512

typedef struct wsi_conv_choices wsi_conv_choices;

/* Where the file is: WATTSCALE_CONV_CHOICES when set ("off" or "": none, returns 0 with
 * buf ""), else $XDG_CACHE_HOME/wattscale/conv-choices.txt, else
 * $HOME/.cache/wattscale/conv-choices.txt (none when neither is set). Returns 0, or -1
 * when the path does not fit buf (buf then "": no file). */
int wsi_conv_choices_path(char *buf, size_t size);

/* Reads the file at path (a missing file is an empty store; its directory is made when
 * the first entry is added). Errors: WS_EINVAL (path empty), WS_EIO (the file exists but
 * cannot be read: the message names it and says how to turn the file off), WS_ENOMEM. */
ws_status wsi_conv_choices_open(wsi_conv_choices **out, const char *path, ws_error *err);
void wsi_conv_choices_close(wsi_conv_choices *cc); /* NULL is a no-op */

const char *wsi_conv_choices_file(const wsi_conv_choices *cc);
int wsi_conv_choices_count(const wsi_conv_choices *cc);   /* distinct keys held */
int wsi_conv_choices_ignored(const wsi_conv_choices *cc); /* lines of the file that were not entries */

/* The value last stored for key, or NULL. Owned by cc. */
const char *wsi_conv_choices_find(const wsi_conv_choices *cc, const char *key);

/* Stores key -> value in memory and appends the line to the file. Key and value must be
 * non-empty, at most WSI_CONV_CHOICES_FIELD_MAX bytes, without tab or newline (WS_EINVAL).
 * A file that cannot be written (read-only, no directory) is WS_EIO, with the memory entry
 * kept: the caller warns and goes on. */
ws_status wsi_conv_choices_add(wsi_conv_choices *cc, const char *key, const char *value, ws_error *err);

#ifdef __cplusplus
}
#endif

#endif
