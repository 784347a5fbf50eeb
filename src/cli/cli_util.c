/*
 * cli_util.c - how every subcommand parses its options and reports failure
 * and misuse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#ifndef DITS_LEAN
#include "client.h"
#endif

const char *cli_cmd_usage = "dits COMMAND [ARGS]";

int cli_repo_open(dits_repo **r, const char *start)
{
	int rc = dits_repo_open(r, start);
#ifndef DITS_LEAN
	/* A partial clone's store fetches what it lacks when it is read. */
	if (!rc && (rc = dits_repo_enable_promisor(*r))) {
		dits_repo_free(*r);
		*r = NULL;
	}
#endif
	return rc;
}

int cli_fail(void)
{
	const char *msg = dits_error_last();
	fprintf(stderr, "dits: error: %s\n", *msg ? msg : "failed");
	return 1;
}

int cli_usage(const char *msg)
{
	fprintf(stderr, "dits: %s\n(see 'dits help')\n", msg);
	return 2;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("dits: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", usage ? usage : cli_cmd_usage);
	return 2;
}

/* The option of opts that arg names (up to '=' when eq is set), or NULL. */
static const cli_opt *find_opt(const cli_opt *opts, const char *arg, size_t len)
{
	for (const cli_opt *o = opts; o && o->name; o++) {
		if (strlen(o->name) == len && !strncmp(o->name, arg, len))
			return o;
		if (o->alias && strlen(o->alias) == len && !strncmp(o->alias, arg, len))
			return o;
	}
	return NULL;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, int *npos, int *dashdash)
{
	int k = 1; /* argv[1..k) holds the positional arguments seen so far */
	if (dashdash)
		*dashdash = -1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--")) {
			if (dashdash)
				*dashdash = k - 1;
			for (i++; i < argc; i++)
				argv[k++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') { /* "-" alone is an argument (stdin, by convention) */
			argv[k++] = a;
			continue;
		}
		const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const cli_opt *o = find_opt(opts, a, len);
		if (!o) {
			if (eq)
				return cli_usage_error(usage, "unknown option '%.*s'", (int)len, a);
			return cli_usage_error(usage, "unknown option '%s'", a);
		}
		if (o->value) {
			if (eq)
				*o->value = eq + 1;
			else if (i + 1 < argc)
				*o->value = argv[++i];
			else
				return cli_usage_error(usage, "option '%s' needs a value", a);
		} else if (eq) {
			return cli_usage_error(usage, "option '%.*s' takes no value", (int)len, a);
		}
		if (o->flag)
			*o->flag = true;
	}
	if (k < argc)
		argv[k] = NULL;
	*npos = k - 1;
	return 0;
}

int cli_no_args(int argc, char **argv, const cli_opt *opts, const char *usage)
{
	int n;
	int code = cli_parse(argc, argv, opts, usage, &n, NULL);
	if (!code && n)
		code = cli_usage_error(usage, "unexpected argument '%s'", argv[1]);
	return code;
}

const char *cli_reason(const char *path, const char *error)
{
	if (!error || !path)
		return error;
	size_t l = strlen(path);
	if (l && !strncmp(error, path, l) && error[l] == ':' && error[l + 1] == ' ')
		return error + l + 2;
	return error;
}
