/*
 * refdb_pg.c - the PostgreSQL backend of refdb_backend.h, chosen by a
 * repository's `refs.url = postgres://...`, and the catalog of catalog.h.
 * Several `dits serve` processes on one database share a repository's refs
 * through it (docs/SERVER.md, "A fleet").
 *
 * Invariants kept here:
 * - Every row carries the repository key (`metadb.repo`) and every
 *   statement filters by it, as in metadb_pg.c, whose connection handling,
 *   statement runner (metadb_pg_exec) and schema migrations (tables refs,
 *   reflog, repos: schema version 2) this backend shares: a refdb handle
 *   holds a metadata handle of its own.
 * - A compare-and-swap is one statement: `UPDATE ... WHERE target =
 *   expected` or `INSERT ... ON CONFLICT DO NOTHING` (the ref must not
 *   exist), with the reflog row inserted by the same statement from the
 *   rows it changed. Under READ COMMITTED a concurrent update of the same
 *   row makes the second statement re-check its WHERE on the new row, so of
 *   two updates from the same value exactly one changes a row and the other
 *   sees zero rows: DITS_ECONFLICT. No update is lost, whatever the number
 *   of processes.
 * - HEAD is the row named "HEAD", with either a symbolic target (a branch
 *   name) or a commit id; a CHECK keeps exactly one of them.
 * - Ids travel as bytea's hex form (`\x...`), values only as parameters.
 */
#include "refdb_backend.h"
#include "repo_internal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "fsutil.h"
#include "metadb_backend.h"

/* How often an update without an expected value retries a lost race. */
#define ANY_TRIES 16

typedef struct pg_refdb {
	dits_refdb base; /* first */
	dits_metadb *md; /* the connection, migrations and error messages */
	char *key;
} pg_refdb;

#define PGR(db) ((pg_refdb *)(db))

static void id_param(char buf[2 + DITS_ID_HEXLEN + 1], const dits_id *id)
{
	buf[0] = '\\';
	buf[1] = 'x';
	dits_id_hex(buf + 2, id);
}

static int col_id(const PGresult *r, int row, int i, dits_id *out, const char *ref)
{
	const char *t = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
	if (!t || strlen(t) != 2 + DITS_ID_HEXLEN || t[0] != '\\' || t[1] != 'x' || dits_id_from_hex(out, t + 2))
		return dits_error_set(DITS_ECORRUPT, "ref database: %s does not hold a commit id", ref);
	return 0;
}

/* ---- the backend -------------------------------------------------------- */

static int pg_read(dits_refdb *db, const char *ref, dits_id *out)
{
	const char *v[] = { PGR(db)->key, ref };
	PGresult *res;
	int rc = metadb_pg_exec(PGR(db)->md,
	                        "SELECT target FROM refs WHERE repo = $1 AND name = $2 AND target IS NOT NULL", 2,
	                        v, &res, NULL, "cannot read a ref");
	if (rc)
		return rc;
	rc = PQntuples(res) ? col_id(res, 0, 0, out, ref) : DITS_ENOTFOUND;
	PQclear(res);
	return rc;
}

static int pg_head(dits_refdb *db, char **target, dits_id *id)
{
	*target = NULL;
	const char *v[] = { PGR(db)->key };
	PGresult *res;
	int rc = metadb_pg_exec(PGR(db)->md, "SELECT target, symbolic FROM refs WHERE repo = $1 AND name = 'HEAD'",
	                        1, v, &res, NULL, "cannot read HEAD");
	if (rc)
		return rc;
	if (!PQntuples(res))
		rc = dits_error_set(DITS_ENOTFOUND, "repository %s has no HEAD", PGR(db)->key);
	else if (!PQgetisnull(res, 0, 1))
		rc = (*target = strdup(PQgetvalue(res, 0, 1))) ? 0 : dits_error_set(DITS_ENOMEM, "out of memory");
	else
		rc = col_id(res, 0, 0, id, "HEAD");
	PQclear(res);
	return rc;
}

static const char *const SQL_CREATE =
	"WITH ins AS (INSERT INTO refs(repo, name, target, updated_at) VALUES($1, $2, $3::bytea, $4)"
	" ON CONFLICT (repo, name) DO NOTHING RETURNING 1)"
	" INSERT INTO reflog(repo, name, old, new, who, message, at)"
	" SELECT $1, $2, NULL, $3::bytea, $5, $6, $4 FROM ins";

static const char *const SQL_SWAP =
	"WITH up AS (UPDATE refs SET target = $3::bytea, updated_at = $4"
	" WHERE repo = $1 AND name = $2 AND target = $7::bytea RETURNING 1)"
	" INSERT INTO reflog(repo, name, old, new, who, message, at)"
	" SELECT $1, $2, $7::bytea, $3::bytea, $5, $6, $4 FROM up";

/* One compare-and-swap; *won tells whether it changed the ref. */
static int cas(dits_refdb *db, const char *ref, const dits_id *new_id, const dits_id *expected,
               const char *msg, const char *who, bool *won)
{
	char nhex[2 + DITS_ID_HEXLEN + 1], ohex[2 + DITS_ID_HEXLEN + 1], now[32];
	id_param(nhex, new_id);
	snprintf(now, sizeof now, "%lld", (long long)dits_metadb_now(PGR(db)->md));
	bool create = dits_id_is_zero(expected);
	if (!create)
		id_param(ohex, expected);
	/* The message's first line, as the files backend keeps it. */
	char *line = strndup(msg ? msg : "", strcspn(msg ? msg : "", "\n"));
	if (!line)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	const char *v[] = { PGR(db)->key, ref, nhex, now, who, line, create ? NULL : ohex };
	int changes = 0;
	int rc = metadb_pg_exec(PGR(db)->md, create ? SQL_CREATE : SQL_SWAP, create ? 6 : 7, v, NULL, &changes,
	                        "cannot update a ref");
	free(line);
	*won = !rc && changes == 1;
	return rc;
}

static int pg_update(dits_refdb *db, const char *ref, const dits_id *new_id, const dits_id *expected,
                     const char *log_msg)
{
	char *who;
	int rc = refdb_who(&who);
	if (rc)
		return rc;
	bool won = false;
	if (expected) {
		rc = cas(db, ref, new_id, expected, log_msg, who, &won);
	} else {
		/* Any value: swap from what is there now, again if it moved meanwhile. */
		for (int i = 0; i < ANY_TRIES && !rc && !won; i++) {
			dits_id cur = { { 0 } };
			rc = pg_read(db, ref, &cur);
			if (rc == DITS_ENOTFOUND) {
				rc = 0;
				memset(&cur, 0, sizeof cur);
			}
			if (!rc)
				rc = cas(db, ref, new_id, &cur, log_msg, who, &won);
		}
	}
	free(who);
	if (!rc && !won)
		rc = dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)", ref);
	return rc;
}

/* The compare-and-swaps of v in one transaction: all of them or none. */
static int pg_update_all(dits_refdb *db, const dits_ref_change *v, size_t n, const char *log_msg)
{
	char *who;
	int rc = refdb_who(&who);
	if (rc)
		return rc;
	if ((rc = metadb_pg_exec(PGR(db)->md, "BEGIN", 0, NULL, NULL, NULL, "cannot start a transaction"))) {
		free(who);
		return rc;
	}
	for (size_t i = 0; !rc && i < n; i++) {
		bool won = false;
		rc = cas(db, v[i].ref, &v[i].new_id, &v[i].expected, log_msg, who, &won);
		if (!rc && !won)
			rc = dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)",
			                    v[i].ref);
	}
	free(who);
	if (!rc)
		return metadb_pg_exec(PGR(db)->md, "COMMIT", 0, NULL, NULL, NULL, "cannot commit ref updates");
	/* keep the first error: the rollback's own (if any) matters less */
	char *err = strdup(dits_error_last());
	PGconn *c;
	if (!metadb_pg_conn(PGR(db)->md, &c))
		PQclear(PQexec(c, "ROLLBACK"));
	dits_error_set(rc, "%s", err ? err : "out of memory");
	free(err);
	return rc;
}

static int pg_remove(dits_refdb *db, const char *ref, const dits_id *expected)
{
	dits_id cur;
	int rc = pg_read(db, ref, &cur);
	bool exists = rc == 0;
	if (rc == DITS_ENOTFOUND)
		rc = 0;
	if (rc)
		return rc;
	if (expected && (dits_id_is_zero(expected) ? exists : (!exists || !dits_id_eq(&cur, expected))))
		return dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)", ref);
	if (!exists)
		return 0;
	char hex[2 + DITS_ID_HEXLEN + 1];
	id_param(hex, &cur);
	const char *v[] = { PGR(db)->key, ref, hex };
	int changes = 0;
	rc = metadb_pg_exec(PGR(db)->md, "DELETE FROM refs WHERE repo = $1 AND name = $2 AND target = $3::bytea", 3, v,
	                    NULL, &changes, "cannot remove a ref");
	if (!rc && changes != 1)
		rc = dits_error_set(DITS_ECONFLICT, "%s: changed by another process (compare-and-swap failed)", ref);
	return rc;
}

static int pg_set_head(dits_refdb *db, const char *target, const dits_id *id, const char *log_msg)
{
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)dits_metadb_now(PGR(db)->md));
	if (target) {
		const char *v[] = { PGR(db)->key, target, now };
		return metadb_pg_exec(PGR(db)->md,
		                      "INSERT INTO refs(repo, name, symbolic, updated_at) VALUES($1, 'HEAD', $2, $3)"
		                      " ON CONFLICT (repo, name) DO UPDATE SET symbolic = EXCLUDED.symbolic,"
		                      " target = NULL, updated_at = EXCLUDED.updated_at",
		                      3, v, NULL, NULL, "cannot set HEAD");
	}
	dits_id old;
	bool had = dits_ref_read(db->repo, "HEAD", &old) == 0;
	dits_error_clear();
	char nhex[2 + DITS_ID_HEXLEN + 1], ohex[2 + DITS_ID_HEXLEN + 1];
	id_param(nhex, id);
	if (had)
		id_param(ohex, &old);
	char *who = NULL;
	int rc = refdb_who(&who);
	if (rc)
		return rc;
	char *line = strndup(log_msg ? log_msg : "", strcspn(log_msg ? log_msg : "", "\n"));
	if (!line) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	} else {
		const char *v[] = { PGR(db)->key, nhex, now, who, line, had ? ohex : NULL };
		rc = metadb_pg_exec(PGR(db)->md,
		                    "WITH up AS (INSERT INTO refs(repo, name, target, updated_at)"
		                    " VALUES($1, 'HEAD', $2::bytea, $3) ON CONFLICT (repo, name) DO UPDATE"
		                    " SET target = EXCLUDED.target, symbolic = NULL, updated_at = EXCLUDED.updated_at"
		                    " RETURNING 1)"
		                    " INSERT INTO reflog(repo, name, old, new, who, message, at)"
		                    " SELECT $1, 'HEAD', $6::bytea, $2::bytea, $4, $5, $3 FROM up",
		                    6, v, NULL, NULL, "cannot set HEAD");
	}
	free(who);
	free(line);
	return rc;
}

static int pg_foreach(dits_refdb *db, const char *prefix, dits_ref_fn fn, void *ctx)
{
	const char *v[] = { PGR(db)->key, prefix };
	PGresult *res;
	int rc = metadb_pg_exec(PGR(db)->md,
	                        "SELECT name, target FROM refs WHERE repo = $1 AND starts_with(name, $2)"
	                        " AND name <> 'HEAD' AND target IS NOT NULL ORDER BY name COLLATE \"C\"",
	                        2, v, &res, NULL, "cannot list refs");
	if (rc)
		return rc;
	/* The rows are all here: fn may use the connection. */
	int n = PQntuples(res);
	for (int i = 0; i < n && !rc; i++) {
		dits_id id;
		const char *name = PQgetvalue(res, i, 0);
		if (!(rc = col_id(res, i, 1, &id, name)))
			rc = fn(ctx, name, &id);
	}
	PQclear(res);
	return rc;
}

static void pg_free(dits_refdb *db)
{
	if (!db)
		return;
	/* its connection waits in metadb_pg.c's pool for the next request */
	dits_metadb_close(PGR(db)->md);
	free(PGR(db)->key);
	free(db);
}

static const struct dits_refdb_ops pg_ops = {
	.version = DITS_REFDB_OPS_VERSION,
	.name = "postgresql",
	.read = pg_read,
	.head = pg_head,
	.update = pg_update,
	.remove = pg_remove,
	.set_head = pg_set_head,
	.foreach = pg_foreach,
	.update_all = pg_update_all,
	.free = pg_free,
};

int refdb_pg_open(dits_refdb **out, dits_repo *r, const char *url, const char *repo_key)
{
	*out = NULL;
	pg_refdb *p = calloc(1, sizeof *p);
	if (!p || !(p->key = strdup(repo_key))) {
		free(p);
		return dits_error_set(DITS_ENOMEM, "out of memory");
	}
	/* The metadata handle's own key is never used here: its rows are not touched. */
	int rc = metadb_pg_open(&p->md, url, repo_key);
	if (rc) {
		free(p->key);
		free(p);
		return rc;
	}
	p->base.ops = &pg_ops;
	p->base.repo = r;
	*out = &p->base;
	return 0;
}

/* ---- the catalog (catalog.h) --------------------------------------------- */

struct dits_catalog {
	dits_metadb *md;
	char *where;
};

int dits_catalog_open(dits_catalog **out, const char *url)
{
	*out = NULL;
	if (strncmp(url, "postgres://", 11) && strncmp(url, "postgresql://", 13))
		return dits_error_set(DITS_EINVALID, "\"%s\" is not a postgres:// or postgresql:// URL", url);
	dits_catalog *c = calloc(1, sizeof *c);
	if (!c)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	/* The catalog's rows carry no repository key; "-" is never a repository's name. */
	int rc = metadb_pg_open(&c->md, url, "-");
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void dits_catalog_close(dits_catalog *c)
{
	if (!c)
		return;
	dits_metadb_close(c->md);
	free(c);
}

const char *dits_catalog_where(const dits_catalog *c)
{
	return c->md->where;
}

int dits_catalog_create(dits_catalog *c, const char *name, const char *config, const char *head_ref,
                        bool *created)
{
	*created = false;
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)dits_metadb_now(c->md));
	const char *v[] = { name, config, now, head_ref };
	PGresult *res;
	/* The row and its HEAD in one statement: nobody sees one without the other. */
	int rc = metadb_pg_exec(c->md,
	                        "WITH r AS (INSERT INTO repos(name, config, created_at) VALUES($1, $2, $3)"
	                        " ON CONFLICT (name) DO NOTHING RETURNING name),"
	                        " h AS (INSERT INTO refs(repo, name, symbolic, updated_at)"
	                        " SELECT name, 'HEAD', $4, $3 FROM r ON CONFLICT (repo, name) DO NOTHING)"
	                        " SELECT count(*) FROM r",
	                        4, v, &res, NULL, "cannot create a repository");
	if (rc)
		return rc;
	*created = atoi(PQgetvalue(res, 0, 0)) == 1;
	PQclear(res);
	return 0;
}

int dits_catalog_get(dits_catalog *c, const char *name, char **config)
{
	*config = NULL;
	const char *v[] = { name };
	PGresult *res;
	int rc = metadb_pg_exec(c->md, "SELECT config FROM repos WHERE name = $1", 1, v, &res, NULL,
	                        "cannot read the repository list");
	if (rc)
		return rc;
	if (!PQntuples(res))
		rc = dits_error_set(DITS_ENOTFOUND, "repository %s does not exist", name);
	else if (!(*config = strdup(PQgetvalue(res, 0, 0))))
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	PQclear(res);
	return rc;
}

int dits_catalog_list(dits_catalog *c, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	PGresult *res;
	int rc = metadb_pg_exec(c->md, "SELECT name FROM repos ORDER BY name COLLATE \"C\"", 0, NULL, &res, NULL,
	                        "cannot read the repository list");
	if (rc)
		return rc;
	size_t rows = (size_t)PQntuples(res);
	char **v = calloc(rows ? rows : 1, sizeof *v);
	if (!v)
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < rows; i++)
		if (!(v[i] = strdup(PQgetvalue(res, (int)i, 0))))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	PQclear(res);
	if (rc) {
		for (size_t i = 0; v && i < rows; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	*names = v;
	*n = rows;
	return 0;
}
