/*
 * commands.h - the subcommands that live outside main.c.
 */
#ifndef DITS_CLI_COMMANDS_H
#define DITS_CLI_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "hash.h"
#include "repo.h"
#ifndef DITS_LEAN
#include "fetch.h"
#endif

/* The word for a count: one when n is 1, else many ("1 proxy", "0 proxies"). */
static inline const char *cli_plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Prints dits_error_last() as "dits: error: ..." and returns exit code 1. */
int cli_fail(void);
/*
 * dits_repo_open; in the builds with the network layer a partial clone's
 * store also fetches the objects it lacks from its partial remote when they
 * are read (dits_repo_enable_promisor).
 */
int cli_repo_open(dits_repo **r, const char *start);
/* Prints "dits: MSG" and a pointer to `dits help`; returns exit code 2. */
int cli_usage(const char *msg);

/*
 * Command-line options, parsed the same way by every command:
 *  - "--name", "--name VALUE", "--name=VALUE" and the alias ("-m VALUE")
 *    anywhere among the arguments;
 *  - "--" ends the options: every later argument is positional, so a path
 *    may start with '-'; "-" alone is positional;
 *  - any other argument starting with '-' is an unknown option: a usage
 *    error (exit 2) before the command has opened or changed anything.
 */
typedef struct cli_opt {
	const char *name;   /* "--json" */
	const char *alias;  /* "-v", or NULL */
	const char **value; /* non-NULL: the option takes a value, stored here (the last one given wins) */
	bool *flag;         /* set to true when the option is given; may be NULL */
} cli_opt;

/* The running command's synopsis ("dits status [--json]"), set by main(). */
extern const char *cli_cmd_usage;

/*
 * Parses argv[1..argc) against opts (ended by an entry with a NULL name).
 * The positional arguments are moved, in order, to argv[1..*npos]. When
 * dashdash is not NULL it receives how many positional arguments came
 * before "--" (-1 without "--"). Returns 0, or 2 after printing
 * "dits: error: unknown option 'X'" (or "option 'X' needs a value") and
 * "usage: USAGE" (cli_cmd_usage when usage is NULL).
 */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, int *npos, int *dashdash);
/* cli_parse() for a command that takes no positional argument. */
int cli_no_args(int argc, char **argv, const cli_opt *opts, const char *usage);
/* Prints "dits: error: MSG" and "usage: USAGE"; returns exit code 2. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A proxy failure's reason for printing beside its path: error without a
 * leading "PATH: " (the library's messages name the file first, and every
 * output that shows a reason names the path already).
 */
const char *cli_reason(const char *path, const char *error);

int cmd_config(int argc, char **argv);
int cmd_worker(int argc, char **argv);

/* dits worker --root: the server's workers without its HTTP listener (cmd_serve.c). */
typedef struct worker_root_opts {
	const char *root, *workers, *lease, *store, *store_cache, *store_cache_dir, *db;
	bool once, json;
} worker_root_opts;
int cmd_worker_root(const worker_root_opts *o);
int cmd_proxy(int argc, char **argv);
int cmd_render(int argc, char **argv);
/* dits proxy handoff (cmd_handoff.c); argv[0] is "handoff". */
int proxy_handoff(int argc, char **argv);
extern const char USE_HANDOFF[];
int cmd_mode(int argc, char **argv);
int cmd_fetch_proxy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_clone(int argc, char **argv);

#ifndef DITS_LEAN
/* How the batched fetches of a partial clone report here: the progress bar
 * on a terminal, then "fetched N masters from REMOTE (N chunks)". */
const dits_fetch_report *cli_fetch_report(void);
#endif

/*
 * fetch-proxy in a repository with a remote: fetches and imports the
 * remote's ready variants of type for assets, waiting for pending ones when
 * wait (at most timeout seconds, 0 = no limit). Prints what is pending or
 * failed and returns 1 then; 0 when every one is ready or, in a full
 * repository, has no variant on the remote (*missing counts those: the
 * local worker makes them); a DITS_E* code on an error.
 */
int cli_remote_proxies(dits_repo *r, const dits_id *assets, char **paths, size_t n, const char *type, bool wait,
                       double timeout, size_t *missing);

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
/* cli_after_commit without its line: the number of proxy jobs queued (0 with proxy.auto off). */
size_t cli_queue_proxies(dits_repo *r, const dits_id *commit);

/*
 * Appends the proxy section of `dits status` (text or JSON member
 * "proxies":[...]) for the video files of idx (the index status compared).
 */
void cli_status_proxies(dits_repo *r, const struct dits_index *idx, dits_buf *out, bool json);

/* " proxies: N ready, N pending, N failed" for the video files commit changed ("" when none). */
void cli_log_proxies(dits_repo *r, const dits_id *commit, dits_buf *out, bool json);

#endif
