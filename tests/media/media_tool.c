/*
 * media_tool - a developer's handle on the media library:
 *   media_tool probe FILE               facts as JSON
 *   media_tool proxy FILE OUTDIR [codec] [height]   proxy + poster + sprite + vtt + webm
 *   media_tool proxy-only FILE OUTDIR   the proxy alone
 *   media_tool recipe                   the default recipe as JSON
 *   media_tool render OUT WxH CODEC MASTER IN FRAMES [MASTER IN FRAMES ...]
 *                                       a cut-only conform: FRAMES frames of each
 *                                       MASTER from frame IN (0 = its first), in turn;
 *                                       CODEC prores_hq|prores_4444|dnxhr_hqx|ffv1
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "media.h"
#include "render.h"
#include "timecode.h"
#include "timeline_internal.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char **render_paths;

static int open_path(void *ctx, int media, dits_media_source *src)
{
	(void)ctx;
	return dits_media_source_open_file(src, render_paths[media]);
}

static void close_path(void *ctx, dits_media_source *src)
{
	(void)ctx;
	dits_media_source_close_file(src);
}

static int render(int argc, char **argv)
{
	static const char *const codecs[] = {"prores_hq", "prores_4444", "dnxhr_hqx", "ffv1"};
	dits_render_opts o = {0, 0, -1, 48000, 2, NULL, NULL};
	if (argc < 8 || (argc - 5) % 3 || sscanf(argv[3], "%dx%d", &o.width, &o.height) != 2) {
		fprintf(stderr, "usage: media_tool render OUT WxH CODEC MASTER IN FRAMES ...\n");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		if (strcmp(argv[4], codecs[i]) == 0)
			o.codec = i;
	int n = (argc - 5) / 3;
	dits_media_facts *facts = calloc((size_t)n, sizeof(*facts));
	render_paths = calloc((size_t)n, sizeof(*render_paths));
	dits_timeline tl = {0};
	tl.format = DITS_TL_EDL;
	int64_t rec = 0;
	for (int i = 0; i < n; i++) {
		render_paths[i] = argv[5 + 3 * i];
		dits_media_source src;
		if (dits_media_source_open_file(&src, render_paths[i]) < 0 || dits_media_probe(&src, &facts[i]) < 0) {
			fprintf(stderr, "error: %s\n", dits_error_last());
			return 1;
		}
		dits_media_source_close_file(&src);
		AVRational r = facts[i].frame_rate;
		if (i == 0)
			tl.rate = r;
		int64_t tc = 0;
		if (facts[i].timecode[0])
			dits_tc_parse(facts[i].timecode, r.num, r.den, &tc, NULL);
		media_tl_add_media(&tl, render_paths[i], render_paths[i], NULL, r, tc);
		dits_tl_clip c = {.kind = DITS_TL_VIDEO, .event = i + 1, .media = i, .rec_in = rec,
		                  .src_in = tc + atoll(argv[6 + 3 * i]), .src_rate = r, .speed = {1, 1},
		                  .enabled = true};
		c.rec_out = rec + atoll(argv[7 + 3 * i]);
		media_tl_add_clip(&tl, &c);
		if (facts[i].naudio) {
			c.kind = DITS_TL_AUDIO;
			media_tl_add_clip(&tl, &c);
		}
		rec = c.rec_out;
	}
	if (media_tl_finish(&tl, "render") < 0) {
		fprintf(stderr, "error: %s\n", dits_error_last());
		return 1;
	}
	double t0 = now();
	int rc = dits_render_run(&tl, facts, open_path, close_path, NULL, &o, argv[2]);
	double t1 = now();
	if (rc < 0) {
		fprintf(stderr, "error: %s\n", dits_error_last());
		return 1;
	}
	fprintf(stderr, "render: %" PRId64 " frames in %.2f s, %.2f frames/s\n", tl.duration, t1 - t0,
	        (double)tl.duration / (t1 - t0));
	dits_timeline_free(&tl);
	free(facts);
	free(render_paths);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "render") == 0)
		return render(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "recipe") == 0) {
		dits_proxy_recipe r;
		dits_proxy_recipe_default(&r);
		char *j = dits_proxy_recipe_json(&r);
		printf("%s\n", j);
		free(j);
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: media_tool probe|proxy|proxy-only FILE [OUTDIR [codec [height]]]\n");
		return 2;
	}
	dits_media_source src;
	if (dits_media_source_open_file(&src, argv[2]) < 0) {
		fprintf(stderr, "error: %s\n", dits_error_last());
		return 1;
	}
	dits_media_facts f;
	double t0 = now();
	if (dits_media_probe(&src, &f) < 0) {
		fprintf(stderr, "error: %s\n", dits_error_last());
		return 1;
	}
	double t1 = now();
	char *js = dits_media_facts_json(&f);
	printf("%s\n", js);
	free(js);
	if (strcmp(argv[1], "probe") == 0)
		return 0;
	if (argc < 4)
		return 2;
	dits_proxy_recipe r;
	dits_proxy_recipe_default(&r);
	if (argc > 4)
		r.codec = dits_proxy_codec_from_name(argv[4]);
	if (argc > 5)
		r.max_height = atoi(argv[5]);
	const char *lut = getenv("LUT");
	if (lut)
		snprintf(r.lut, sizeof(r.lut), "%s", lut);
	bool only = strcmp(argv[1], "proxy-only") == 0;
	r.poster = r.sprite = r.preview = !only;
	char p[4][1024];
	snprintf(p[0], sizeof(p[0]), "%s/proxy.mov", argv[3]);
	snprintf(p[1], sizeof(p[1]), "%s/poster.jpg", argv[3]);
	snprintf(p[2], sizeof(p[2]), "%s/sprite.jpg", argv[3]);
	snprintf(p[3], sizeof(p[3]), "%s/sprite.vtt", argv[3]);
	char wp[1024];
	snprintf(wp, sizeof(wp), "%s/preview.webm", argv[3]);
	dits_proxy_outputs o = {p[0], only ? NULL : p[1], only ? NULL : p[2], only ? NULL : p[3], "sprite.jpg",
	                        only ? NULL : wp};
	dits_proxy_result res;
	if (dits_proxy_make(&src, &f, &r, &o, &res, NULL, NULL) < 0) {
		fprintf(stderr, "error: %s\n", dits_error_last());
		return 1;
	}
	double t2 = now();
	js = dits_media_facts_json(&res.proxy);
	printf("%s\n", js);
	free(js);
	if (res.warnings[0])
		printf("warning: %s\n", res.warnings);
	if (res.lut_applied[0])
		printf("lut: %s\n", res.lut_applied);
	int v = dits_proxy_validate(&f, &res.proxy, r.max_height);
	printf("validate: %s\n", v == 0 ? "ok" : dits_error_last());
	fprintf(stderr, "probe %.3f s, proxy %.3f s\n", t1 - t0, t2 - t1);
	dits_media_source_close_file(&src);
	return v == 0 ? 0 : 1;
}
