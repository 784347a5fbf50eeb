/*
 * fuzz_client_json - the JSON answers a client parses (src/net): the GET
 * refs answer (dits_remote_refs_parse), the "error" member of a refusal
 * (dits_client_http_error), and the elements of a GET variants answer as
 * fetch imports them (dits_wire_variant_import, into an empty store and
 * job database). The input is the answer's body.
 */
#include "fuzz_common.h"

#include <cjson/cJSON.h>

#include "client_internal.h"
#include "error.h"
#include "metadb.h"
#include "odb.h"
#include "wire.h"

static dits_odb *odb;
static dits_metadb *mdb;

static void fuzz_stores(void)
{
	if (odb)
		return;
	char dir[4200], db[4300];
	snprintf(dir, sizeof dir, "%s/objects", fuzz_dir());
	snprintf(db, sizeof db, "%s/dits.db", fuzz_dir());
	if (mkdir(dir, 0755) < 0 || dits_odb_open(&odb, dir) || dits_metadb_open(&mdb, db)) {
		fprintf(stderr, "fuzz_client_json: %s\n", dits_error_last());
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stores();
	char name[] = "origin", url[] = "http://127.0.0.1:1/proj";
	dits_remote rm;
	memset(&rm, 0, sizeof rm);
	rm.name = name;
	rm.url = url;

	dits_remote_refs refs;
	if (dits_remote_refs_parse(&rm, data, size, &refs) == 0) {
		for (size_t i = 0; i < refs.n; i++)
			if (dits_remote_refs_find(&refs, refs.names[i]) == NULL)
				abort();
		dits_remote_refs_free(&refs);
	}

	dits_buf resp = { (uint8_t *)data, size, size };
	(void)dits_client_http_error(&rm, "refs", 409, &resp);

	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *list = j ? cJSON_GetObjectItemCaseSensitive(j, "variants") : NULL;
	const cJSON *v;
	int n = 0;
	cJSON_ArrayForEach(v, list) {
		if (n++ >= 16)
			break;
		bool imported;
		(void)dits_wire_variant_import(odb, mdb, v, &imported);
	}
	cJSON_Delete(j);
	return 0;
}
