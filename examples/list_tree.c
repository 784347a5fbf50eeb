/*
 * list_tree - lists the files of a commit's tree, the way a program outside
 * the project would: it includes only the public headers (include/dits)
 * and reads the repository through its accessors.
 *
 *     list_tree [DIR [REV]]
 *
 * prints "MODE ASSET_ID SIZE<TAB>PATH" per file of REV (HEAD by default)
 * and names the repository's .dits directory and format on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dits/dits.h"

static int list(dits_odb *db, const dits_id *tree, const char *prefix)
{
	dits_tree t;
	dits_tree_init(&t);
	int rc = dits_tree_read(db, tree, &t);
	for (size_t i = 0; !rc && i < t.n; i++) {
		const dits_tree_entry *e = &t.e[i];
		size_t len = strlen(prefix) + strlen(e->name) + 2;
		char *path = malloc(len);
		if (!path) {
			rc = DITS_ENOMEM;
			break;
		}
		snprintf(path, len, "%s%s%s", prefix, *prefix ? "/" : "", e->name);
		if (e->kind == DITS_KIND_TREE) {
			rc = list(db, &e->id, path);
		} else {
			char hex[DITS_ID_HEXLEN + 1];
			dits_id_hex(hex, &e->id);
			printf("%06o %s %llu\t%s\n", (unsigned)e->mode, hex, (unsigned long long)e->size, path);
		}
		free(path);
	}
	dits_tree_free(&t);
	return rc;
}

int main(int argc, char **argv)
{
	const char *where = argc > 1 ? argv[1] : ".";
	const char *rev = argc > 2 ? argv[2] : "HEAD";
	dits_repo *r;
	if (dits_repo_open(&r, where)) {
		fprintf(stderr, "list_tree: %s\n", dits_error_last());
		return 1;
	}
	const char *format = dits_config_get(dits_repo_config(r), "core.format");
	fprintf(stderr, "repository %s, format %s\n", dits_repo_dir(r), format ? format : "?");
	dits_id id;
	dits_commit c;
	int rc = dits_revparse(r, rev, &id);
	if (!rc && !(rc = dits_commit_read(dits_repo_odb(r), &id, &c))) {
		rc = list(dits_repo_odb(r), &c.tree, "");
		dits_commit_free(&c);
	}
	if (rc)
		fprintf(stderr, "list_tree: %s: %s\n", dits_repo_workdir(r), dits_error_last());
	dits_repo_free(r);
	return rc ? 1 : 0;
}
