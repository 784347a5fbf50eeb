/*
 * commands.h - the subcommands that live outside main.c.
 */
#ifndef DITS_CLI_COMMANDS_H
#define DITS_CLI_COMMANDS_H

#include "buf.h"
#include "repo.h"

int cmd_config(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_mode(int argc, char **argv);
int cmd_fetch_proxy(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/*
 * checkout --mode proxy|master [--variant TYPE] [-- PATH...] on the current
 * worktree (after any switch to REV). Prints what was swapped and which
 * files kept their master and why. Returns the exit code.
 */
int cli_checkout_mode(dits_repo *r, bool proxy, const char *variant, char **paths, int npaths);

/*
 * One marker per index entry: 'P' proxy on disk, 'M' master, '~' proxy
 * pending (queued or running), '!' proxy failed. out holds idx->n chars.
 */
struct dits_index;
void cli_mode_markers(dits_repo *r, struct dits_index *idx, char *out);
const char *cli_marker_word(char m); /* "proxy", "master", "pending", "failed" */

/* After a commit: enqueue proxy jobs for new video assets, start a background worker. */
void cli_after_commit(dits_repo *r, const dits_id *commit);

/*
 * Appends the proxy section of `dits status` (text or JSON member
 * "proxies":[...]) for the video files of idx (the index status compared).
 */
void cli_status_proxies(dits_repo *r, const struct dits_index *idx, dits_buf *out, bool json);

/* " proxies: N ready, N pending, N failed" for the video files commit changed ("" when none). */
void cli_log_proxies(dits_repo *r, const dits_id *commit, dits_buf *out, bool json);

#endif
