/*
 * fuzz_facts - media facts read back from JSON (dits_media_facts_parse):
 * variant records arrive from remotes, so their facts are outside bytes.
 * Both the top-level facts and the "master" member a proxy record carries
 * are parsed, written back as JSON, and compared by the attach rules, as
 * `dits proxy verify` does in a proxy clone.
 */
#include "fuzz_common.h"

#include "error.h"
#include "media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1);
	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = 0;
	dits_media_facts p, m;
	int rp = dits_media_facts_parse(json, NULL, &p);
	int rm = dits_media_facts_parse(json, "master", &m);
	if (rp == 0) {
		char *back = dits_media_facts_json(&p);
		dits_media_facts again;
		/* what we write, we read back to the same facts */
		if (back && dits_media_facts_parse(back, NULL, &again) == 0 &&
		    (again.width != p.width || again.naudio != p.naudio || again.frame_count != p.frame_count))
			abort();
		free(back);
	}
	if (rp == 0 && rm == 0) {
		dits_proxy_check rows[DITS_PROXY_CHECKS_MAX];
		int n = dits_proxy_check_all(&m, &p, 1080, rows, DITS_PROXY_CHECKS_MAX);
		if (n < 0 || n > DITS_PROXY_CHECKS_MAX)
			abort();
		(void)dits_proxy_validate(&m, &p, 540);
	}
	dits_error_clear();
	free(json);
	return 0;
}
