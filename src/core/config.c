#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fsutil.h"

typedef struct kv {
	char *key, *value;
} kv;

struct dits_config {
	kv *items;
	size_t n, cap;
};

dits_config *dits_config_new(void)
{
	return calloc(1, sizeof(dits_config));
}

void dits_config_free(dits_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].value);
	}
	free(c->items);
	free(c);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * "[name]" alone on its line (s is trimmed) into section. The name is what
 * a key's first part can be when the file is written back: no blanks, '=',
 * '[' or ']', and not starting with '.'; anything else is refused rather
 * than read as a different key.
 */
static bool section_header(const char *s, char *section, size_t cap)
{
	const char *end = strchr(s, ']');
	if (!end || end[1] != '\0')
		return false;
	const char *name = s + 1;
	while (isspace((unsigned char)*name))
		name++;
	size_t n = (size_t)(end - name);
	while (n && isspace((unsigned char)name[n - 1]))
		n--;
	if (n == 0 || n >= cap || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)name[i]) || name[i] == '=' || name[i] == '[')
			return false;
	memcpy(section, name, n);
	section[n] = '\0';
	return true;
}

int dits_config_load(dits_config **out, const char *path)
{
	*out = NULL;
	dits_buf b = DITS_BUF_INIT;
	int rc = dits_read_file(path, &b);
	if (rc) {
		dits_buf_free(&b);
		return rc;
	}
	dits_config *c = dits_config_new();
	if (!c) {
		dits_buf_free(&b);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* A NUL byte would silently end the text early: the file is damaged. */
	if (memchr(b.data, '\0', b.len)) {
		dits_buf_free(&b);
		dits_config_free(c);
		return dits_error_set(DITS_ECORRUPT, "%s: holds a NUL byte, not a config file", path);
	}
	char section[128] = "";
	char *save = NULL;
	int lineno = 0;
	for (char *line = strtok_r((char *)b.data, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (!section_header(s, section, sizeof section)) {
				rc = dits_error_set(DITS_ECORRUPT, "%s: malformed section header '%s'", path, s);
				break;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq || !*section) {
			rc = dits_error_set(DITS_ECORRUPT, "%s: malformed line '%s'", path, s);
			break;
		}
		*eq = '\0';
		char key[300];
		if ((size_t)snprintf(key, sizeof key, "%s.%s", section, trim(s)) >= sizeof key) {
			rc = dits_error_set(DITS_ECORRUPT, "%s: key '%.40s...' is longer than %zu bytes", path,
			                    s, sizeof key - 1);
			break;
		}
		rc = dits_config_set(c, key, trim(eq + 1));
		if (rc)
			rc = dits_error_wrap(rc == DITS_EINVALID ? DITS_ECORRUPT : rc, "%s", path);
	}
	dits_buf_free(&b);
	if (rc) {
		dits_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

const char *dits_config_get(const dits_config *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->items[i].key, key))
			return c->items[i].value;
	return NULL;
}

int dits_config_get_u64(const dits_config *c, const char *key, uint64_t def, uint64_t *out)
{
	const char *v = dits_config_get(c, key);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-')
		return dits_error_set(DITS_EINVALID, "config %s = '%s' is not a number", key, v);
	*out = x;
	return 0;
}

/*
 * True when key can be written as "[section]" and "\trest = value" and read
 * back as the same key: a section of no blanks, '=', '[' or ']', a rest
 * that does not start a comment or a section header, and no line break.
 */
static bool key_writable(const char *key)
{
	const char *dot = strchr(key, '.');
	if (!dot || dot == key || strpbrk(key, "\n\r=") || dot[1] == '#' || dot[1] == ';' || dot[1] == '[')
		return false;
	for (const char *k = key; k < dot; k++)
		if (isspace((unsigned char)*k) || *k == '[' || *k == ']')
			return false;
	return true;
}

int dits_config_set(dits_config *c, const char *key, const char *value)
{
	if (!strchr(key, '.'))
		return dits_error_set(DITS_EINVALID, "config key '%s' has no section", key);
	if (!key_writable(key))
		return dits_error_set(DITS_EINVALID, "config key '%s' cannot be stored (blank, '=', '[' or ']' in its section, or a line break)", key);
	if (strpbrk(value, "\n\r"))
		return dits_error_set(DITS_EINVALID, "config %s: a value cannot hold a line break", key);
	for (size_t i = 0; i < c->n; i++) {
		if (!strcmp(c->items[i].key, key)) {
			char *v = strdup(value);
			if (!v)
				return dits_error_set(DITS_ENOMEM, "out of memory");
			free(c->items[i].value);
			c->items[i].value = v;
			return 0;
		}
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		kv *n = realloc(c->items, cap * sizeof *n);
		if (!n)
			return dits_error_set(DITS_ENOMEM, "out of memory");
		c->items = n;
		c->cap = cap;
	}
	c->items[c->n].key = strdup(key);
	c->items[c->n].value = strdup(value);
	if (!c->items[c->n].key || !c->items[c->n].value)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	c->n++;
	return 0;
}

int dits_config_write(const dits_config *c, const char *path)
{
	dits_buf b = DITS_BUF_INIT;
	/* Group by section, in order of first appearance. */
	for (size_t i = 0; i < c->n; i++) {
		const char *dot = strchr(c->items[i].key, '.');
		size_t sl = (size_t)(dot - c->items[i].key);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strncmp(c->items[j].key, c->items[i].key, sl + 1);
		if (seen)
			continue;
		dits_buf_printf(&b, "[%.*s]\n", (int)sl, c->items[i].key);
		for (size_t j = i; j < c->n; j++)
			if (!strncmp(c->items[j].key, c->items[i].key, sl + 1))
				dits_buf_printf(&b, "\t%s = %s\n", c->items[j].key + sl + 1, c->items[j].value);
	}
	int rc = dits_atomic_write(path, b.data ? b.data : (uint8_t *)"", b.len);
	dits_buf_free(&b);
	return rc;
}

int dits_config_unset(dits_config *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].key, key))
			continue;
		free(c->items[i].key);
		free(c->items[i].value);
		memmove(&c->items[i], &c->items[i + 1], (c->n - i - 1) * sizeof *c->items);
		c->n--;
		return 0;
	}
	return DITS_ENOTFOUND;
}

int dits_config_foreach(const dits_config *c, const char *prefix,
                        int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
	size_t pl = strlen(prefix);
	for (size_t i = 0; i < c->n; i++) {
		if (strncmp(c->items[i].key, prefix, pl))
			continue;
		int rc = fn(ctx, c->items[i].key, c->items[i].value);
		if (rc)
			return rc;
	}
	return 0;
}
