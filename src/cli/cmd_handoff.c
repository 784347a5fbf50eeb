/*
 * dits proxy handoff: what an NLE needs to attach the checkout's proxies
 * (src/media/handoff.c, docs/NLE.md). Runs in dits-media.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"

#ifdef DITS_WITH_MEDIA
#include "handoff.h"
#include "hologram.h"
#endif

const char USE_HANDOFF[] = "dits proxy handoff --nle resolve|premiere|fcpx|avid [--json] [--] DIR";

#ifdef DITS_WITH_MEDIA
static void print_json(const dits_handoff *h, int nle, char **files, size_t nfiles)
{
	dits_buf b = DITS_BUF_INIT;
	dits_buf_printf(&b, "{\"nle\":\"%s\",\"dir\":", dits_nle_name(nle));
	dits_buf_put_json_str(&b, h->dir);
	dits_buf_puts(&b, ",\"files\":[");
	for (size_t i = 0; i < nfiles; i++) {
		dits_buf_puts(&b, i ? "," : "");
		dits_buf_put_json_str(&b, files[i]);
	}
	dits_buf_puts(&b, "],\"clips\":[");
	for (size_t i = 0; i < h->n; i++) {
		const dits_handoff_clip *c = &h->clips[i];
		dits_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
		dits_buf_put_json_str(&b, c->path);
		dits_buf_puts(&b, ",\"master\":");
		dits_buf_put_json_str(&b, c->master);
		dits_buf_puts(&b, ",\"proxy\":");
		dits_buf_put_json_str(&b, c->proxy);
		dits_buf_printf(&b, ",\"frame_rate\":\"%d/%d\",\"frame_count\":%lld,\"timecode\":\"%s\",\"reel\":",
		                c->rate_num, c->rate_den, (long long)c->frames, c->timecode);
		dits_buf_put_json_str(&b, c->reel);
		dits_buf_puts(&b, "}");
	}
	dits_buf_puts(&b, "],\"missing\":[");
	for (size_t i = 0; i < h->nmissing; i++) {
		dits_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
		dits_buf_put_json_str(&b, h->missing[i].path);
		dits_buf_puts(&b, ",\"why\":");
		dits_buf_put_json_str(&b, h->missing[i].why);
		dits_buf_puts(&b, "}");
	}
	dits_buf_puts(&b, "]}\n");
	fwrite(b.data ? (void *)b.data : (void *)"", 1, b.len, stdout);
	dits_buf_free(&b);
}
#endif

int proxy_handoff(int argc, char **argv)
{
	const char *nle_arg = NULL;
	bool json = false;
	const cli_opt opts[] = {
		{ "--nle", NULL, &nle_arg, NULL },
		{ "--json", NULL, NULL, &json },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_HANDOFF, &np, NULL);
	if (code)
		return code;
	if (!nle_arg)
		return cli_usage_error(USE_HANDOFF, "proxy handoff: which NLE? (--nle resolve|premiere|fcpx|avid)");
	if (np < 1)
		return cli_usage_error(USE_HANDOFF, "proxy handoff: name the output DIR");
	if (np > 1)
		return cli_usage_error(USE_HANDOFF, "proxy handoff: unexpected argument '%s'", argv[2]);
#ifndef DITS_WITH_MEDIA
	/* dits and dits-net hand this command to dits-media before it gets here. */
	(void)json;
	if (strcmp(nle_arg, "resolve") && strcmp(nle_arg, "premiere") && strcmp(nle_arg, "fcpx") &&
	    strcmp(nle_arg, "avid"))
		return cli_usage_error(USE_HANDOFF, "proxy handoff: --nle takes resolve, premiere, fcpx or avid, not '%s'",
		                       nle_arg);
	dits_error_set(DITS_ERROR, "proxy handoff runs in dits-media, which was not started");
	return cli_fail();
#else
	int nle = dits_nle_from_name(nle_arg);
	if (nle < 0)
		return cli_usage_error(USE_HANDOFF, "proxy handoff: --nle takes resolve, premiere, fcpx or avid, not '%s'",
		                       nle_arg);
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	dits_handoff h;
	char **files = NULL;
	size_t nfiles = 0;
	if (dits_handoff_collect(r, dits_hologram_configured_type(r), argv[1], &h)) {
		dits_repo_free(r);
		return cli_fail();
	}
	if (dits_handoff_write(r, &h, nle, &files, &nfiles)) {
		code = cli_fail();
	} else {
		if (json) {
			print_json(&h, nle, files, nfiles);
		} else {
			for (size_t i = 0; i < nfiles; i++)
				printf("%s\n", files[i]);
			printf("%zu %s handed off for %s in %s\n", h.n, cli_plural(h.n, "clip", "clips"), nle_arg, h.dir);
		}
		fflush(stdout);
		for (size_t i = 0; i < h.nmissing; i++)
			fprintf(stderr, "dits: warning: %s: left out: %s\n", h.missing[i].path, h.missing[i].why);
		if (h.nmissing) {
			fprintf(stderr, "dits: error: %zu video %s without a ready proxy left out; the others were written\n",
			        h.nmissing, cli_plural(h.nmissing, "file", "files"));
			code = 1;
		}
	}
	dits_handoff_files_free(files, nfiles);
	dits_handoff_free(&h);
	dits_repo_free(r);
	return code;
#endif
}
