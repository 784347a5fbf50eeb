/*
 * cli_util.c - how every subcommand reports failure and misuse.
 */
#include <stdio.h>

#include "commands.h"
#include "error.h"

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
