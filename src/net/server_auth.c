/*
 * server_auth.c - the --auth file: tokens, their permissions and the
 * repositories they apply to (docs/PROTOCOL.md, "Authentication").
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "server_internal.h"

void auth_free(auth_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rules[i].pattern);
	free(t->rules);
	t->rules = NULL;
	t->n = 0;
}

/* Splits line into at most max blank-separated words, stopping at '#'. */
static int split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;
	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			break;
		if (n == max)
			return max + 1;
		w[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int parse_perm(const char *s)
{
	return !strcmp(s, "read") ? PERM_READ : !strcmp(s, "write") ? PERM_WRITE : PERM_NONE;
}

static int add_rule(auth_table *t, const auth_rule *r)
{
	auth_rule *v = realloc(t->rules, (t->n + 1) * sizeof *v);
	if (!v)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	t->rules = v;
	t->rules[t->n++] = *r;
	return 0;
}

static int parse_line(auth_table *t, char *line, const char *path, int lineno)
{
	char *w[5];
	int n = split_words(line, w, 4);
	if (n == 0)
		return 0;
	auth_rule r = { 0 };
	if (n == 4 && !strcmp(w[0], "token") && parse_perm(w[2])) {
		dits_hash_buf(&r.token_hash, w[1], strlen(w[1]));
		r.perm = parse_perm(w[2]);
		r.pattern = strdup(w[3]);
	} else if (n == 3 && !strcmp(w[0], "anonymous") && !strcmp(w[1], "read")) {
		r.anonymous = true;
		r.perm = PERM_READ;
		r.pattern = strdup(w[2]);
	} else {
		return dits_error_set(DITS_EINVALID,
		                      "%s:%d: expected 'token TOKEN read|write PATTERN' or 'anonymous read PATTERN'",
		                      path, lineno);
	}
	if (!r.pattern)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	int rc = add_rule(t, &r);
	if (rc)
		free(r.pattern);
	return rc;
}

int auth_load(auth_table *t, const char *path)
{
	memset(t, 0, sizeof *t);
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(path, &b);
	if (!rc)
		rc = dits_buf_cstr(&b);
	if (rc) {
		dits_buf_free(&b);
		return dits_error_wrap(rc, "auth file");
	}
	int lineno = 0;
	char *text = (char *)b.data;
	for (char *line = text; line && !rc;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		rc = parse_line(t, line, path, lineno);
		line = nl ? nl + 1 : NULL;
	}
	dits_buf_free(&b);
	if (rc)
		auth_free(t);
	return rc;
}

/* Equal in time that depends only on the length (always 32 bytes). */
static bool id_eq_ct(const dits_id *a, const dits_id *b)
{
	unsigned diff = 0;
	for (size_t i = 0; i < DITS_ID_LEN; i++)
		diff |= (unsigned)(a->b[i] ^ b->b[i]);
	return diff == 0;
}

static bool pattern_matches(const char *pattern, const char *name)
{
	/* name NULL: "some repository" (for /metrics) */
	return !name || fnmatch(pattern, name, 0) == 0;
}

int auth_perm(const auth_table *t, const char *token, const char *name, bool *known)
{
	int perm = PERM_NONE;
	*known = false;
	dits_id h;
	if (token)
		dits_hash_buf(&h, token, strlen(token));
	/* Every rule is looked at, so the time taken says nothing about which
	 * token matched. */
	for (size_t i = 0; i < t->n; i++) {
		const auth_rule *r = &t->rules[i];
		bool who = r->anonymous || (token && id_eq_ct(&h, &r->token_hash));
		if (token && !r->anonymous && id_eq_ct(&h, &r->token_hash))
			*known = true;
		if (who && pattern_matches(r->pattern, name) && r->perm > perm)
			perm = r->perm;
	}
	return perm;
}
