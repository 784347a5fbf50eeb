/*
 * dits/config.h - a repository's settings (`dits config`), addressed as
 * "section.key". Change them with dits_config_set and write them with
 * dits_repo_config_save (dits/repo.h).
 */
#ifndef DITS_PUBLIC_CONFIG_H
#define DITS_PUBLIC_CONFIG_H

#include <stdint.h>

typedef struct dits_config dits_config;

/* NULL when unset. */
const char *dits_config_get(const dits_config *c, const char *key);
/* Parses an unsigned integer value; def when unset. DITS_EINVALID when malformed. */
int dits_config_get_u64(const dits_config *c, const char *key, uint64_t def, uint64_t *out);
int dits_config_set(dits_config *c, const char *key, const char *value);
/* Removes key; DITS_ENOTFOUND when it was not set. */
int dits_config_unset(dits_config *c, const char *key);
/* Calls fn for each key starting with prefix, in file order; stops on non-zero. */
int dits_config_foreach(const dits_config *c, const char *prefix,
                        int (*fn)(void *ctx, const char *key, const char *value), void *ctx);

#endif
