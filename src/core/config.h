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

#include "dits/config.h"

int dits_config_load(dits_config **out, const char *path);
dits_config *dits_config_new(void);
void dits_config_free(dits_config *c);
int dits_config_write(const dits_config *c, const char *path);

#endif
