/*
 * catalog.h - the list of a fleet's repositories in PostgreSQL (table
 * repos of the metadata schema, metadb_pg.c): `dits serve --db URL` keeps
 * here which repositories exist and each one's config text (its format and
 * chunker parameters), so that every server on the same database serves the
 * same repositories. Creating one inserts its row and its HEAD in one
 * transaction; two servers that create the same name at once make one row.
 *
 * A handle is used by one thread at a time.
 */
#ifndef DITS_CATALOG_H
#define DITS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dits_catalog dits_catalog;

/* Connects (creating or migrating the schema). DITS_EINVALID for a URL that
 * is not postgres:// or postgresql://, DITS_EIO when the server cannot be
 * reached, DITS_EVERSION for a newer schema. */
int dits_catalog_open(dits_catalog **out, const char *url);
void dits_catalog_close(dits_catalog *c);

/* The URL without its password, for messages. */
const char *dits_catalog_where(const dits_catalog *c);

/*
 * Creates repository name with config (text in the config file's format)
 * and HEAD pointing at head_ref, unless it exists: *created tells which.
 */
int dits_catalog_create(dits_catalog *c, const char *name, const char *config, const char *head_ref,
                        bool *created);

/* The config text of name (malloc'd); DITS_ENOTFOUND when there is no such repository. */
int dits_catalog_get(dits_catalog *c, const char *name, char **config);

/* Every repository's name, sorted (malloc'd array of malloc'd strings). */
int dits_catalog_list(dits_catalog *c, char ***names, size_t *n);

#endif
