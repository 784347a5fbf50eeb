/*
 * progress.h - the terminal progress bar (bytes, rate, ETA) for long
 * commands. Drawn on stderr only when stderr is a terminal; otherwise it
 * prints nothing at all.
 */
#ifndef DITS_CLI_PROGRESS_H
#define DITS_CLI_PROGRESS_H

#include "worktree.h"

/* A dits_progress that draws on stderr when it is a terminal. */
void cli_progress_init(dits_progress *p);

/* Human-readable bytes ("1.5 GiB") into buf. */
const char *cli_human_bytes(char *buf, size_t len, double bytes);

#endif
