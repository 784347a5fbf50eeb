/*
 * fuzz_config - the repository's config file reader (src/core/config.c,
 * dits_config_load). A config that loads is written back out, and the
 * written file must load to the same keys and values.
 */
#include "fuzz_common.h"

#include "config.h"
#include "error.h"

typedef struct check {
	const dits_config *other;
	size_t n;
} check;

/* every key of one config has the same value in the other */
static int same_in_other(void *ctx, const char *key, const char *value)
{
	check *k = ctx;
	const char *v = dits_config_get(k->other, key);
	if (!v || strcmp(v, value))
		abort();
	k->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[4200];
	snprintf(in, sizeof in, "%s/config", fuzz_dir());
	fuzz_write(in, data, size);
	dits_config *c;
	if (dits_config_load(&c, in))
		return 0;
	uint64_t v;
	(void)dits_config_get(c, "core.format");
	(void)dits_config_get_u64(c, "chunker.min", 16384, &v);
	char out[4200];
	snprintf(out, sizeof out, "%s/config.out", fuzz_dir());
	if (dits_config_write(c, out) == 0) {
		dits_config *d;
		/* what is written reads back the same (sections are grouped, so
		 * the order may differ) */
		if (dits_config_load(&d, out) != 0)
			abort();
		check there = { d, 0 }, back = { c, 0 };
		dits_config_foreach(c, "", same_in_other, &there);
		dits_config_foreach(d, "", same_in_other, &back);
		if (there.n != back.n)
			abort();
		dits_config_free(d);
	}
	dits_config_free(c);
	return 0;
}
