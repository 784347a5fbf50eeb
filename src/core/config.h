/*
 * config.h - the repository's `.dits/config`, an INI file:
 *
 *     [core]
 *         format = 1
 *     [chunker]
 *         min = 16384
 *
 * Keys are addressed as "section.key". Writing replaces the file atomically.
 */
#ifndef DITS_CONFIG_H
#define DITS_CONFIG_H

#include <stdint.h>

typedef struct dits_config dits_config;

int dits_config_load(dits_config **out, const char *path);
dits_config *dits_config_new(void);
void dits_config_free(dits_config *c);
/* NULL when unset. */
const char *dits_config_get(const dits_config *c, const char *key);
/* Parses an unsigned integer value; def when unset. DITS_EINVALID when malformed. */
int dits_config_get_u64(const dits_config *c, const char *key, uint64_t def, uint64_t *out);
int dits_config_set(dits_config *c, const char *key, const char *value);
int dits_config_write(const dits_config *c, const char *path);
/* Removes key; DITS_ENOTFOUND when it was not set. */
int dits_config_unset(dits_config *c, const char *key);
/* Calls fn for each key starting with prefix, in file order; stops on non-zero. */
int dits_config_foreach(const dits_config *c, const char *prefix,
                        int (*fn)(void *ctx, const char *key, const char *value), void *ctx);

#endif
