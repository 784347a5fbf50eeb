/*
 * dits render: conforms an edit from the originals (docs/RENDER.md). Parses
 * the timeline, resolves its media to masters, renders from the chunk
 * store, optionally verifies, and commits the result as renders/NAME.mov.
 * With --remote the same happens on the server, as a job of its queue, and
 * the result is fetched (dits render status follows such jobs).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef DITS_WITH_MEDIA
#include "client.h"
#endif
#include "commands.h"
#include "error.h"
#include "fsutil.h"
#include "refs.h"
#include "worktree.h"

static const char USE_RENDER[] =
    "dits render TIMELINE [--target 4k_master|8k_master|source|WxH] [--codec prores_hq|prores_4444|dnxhr_hqx|ffv1] "
    "[--rev REV] [--out PATH] [--rate FPS] [--verify] [--verify-only FILE] [--strict] [--json] "
    "[--remote NAME [--detach]]";
static const char USE_RENDER_STATUS[] = "dits render status [ID] [--remote NAME] [--json]";

#ifdef DITS_WITH_MEDIA
#include "conform.h"
#include "hologram.h"
#include "render.h"
#include "timecode.h"

#include <cjson/cJSON.h>

typedef struct render_ui {
	bool tty;
	double last;
} render_ui;

static void on_progress(void *ctx, double done, double total)
{
	render_ui *ui = ctx;
	if (!ui->tty || total <= 0)
		return;
	double now = dits_now();
	if (now - ui->last < 0.1 && done < total)
		return;
	ui->last = now;
	fprintf(stderr, "\rrender %3.0f%%  %.1f / %.1f s\033[K", 100 * done / total, done, total);
}

/* renders/<the timeline file's name without extension>.mov, with '/' and control bytes made '_' */
static char *default_out(const char *timeline)
{
	const char *b = strrchr(timeline, '/');
	b = b ? b + 1 : timeline;
	char stem[200];
	snprintf(stem, sizeof(stem), "%s", b);
	/* an .fcpxmld bundle given as "x.fcpxmld/" */
	size_t n = strlen(stem);
	while (n && stem[n - 1] == '/')
		stem[--n] = 0;
	char *dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = 0;
	for (char *p = stem; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '/' || *p == '\\')
			*p = '_';
	if (!stem[0] || !strcmp(stem, ".") || !strcmp(stem, ".."))
		snprintf(stem, sizeof(stem), "render");
	return dits_strfmt("renders/%s.mov", stem);
}

static bool staged_changes(dits_repo *r)
{
	dits_status st;
	memset(&st, 0, sizeof(st));
	if (dits_status_compute(r, &st) < 0) {
		dits_error_clear();
		return false;
	}
	bool any = st.staged.n > 0;
	dits_status_free(&st);
	return any;
}

/* the verify table (text mode, on stdout): one line per compared frame */
static void print_report(const dits_render_report *rep, bool json)
{
	if (json)
		return;
	printf("verify: %" PRId64 " frames %s, timecode %s %s, audio %.3f s %s\n", rep->frames,
	       rep->frames_ok ? "ok" : "WRONG", rep->timecode, rep->timecode_ok ? "ok" : "WRONG", rep->audio_seconds,
	       rep->audio_ok ? "ok" : "WRONG");
	printf("  %-6s %-24s %-8s %-8s %s\n", "event", "clip", "record", "source", "match");
	for (size_t i = 0; i < rep->nchecks; i++) {
		const dits_render_check *c = &rep->checks[i];
		char match[32];
		if (isinf(c->psnr))
			snprintf(match, sizeof(match), "exact");
		else
			snprintf(match, sizeof(match), "PSNR %.1f dB", c->psnr);
		printf("  %-6d %-24.24s %-8" PRId64 " %-8" PRId64 " %-16s %s\n", c->event, c->name, c->frame, c->src_frame,
		       match, c->pass ? "pass" : "FAIL");
	}
}

static const char *first_failure(const dits_render_report *rep)
{
	static char why[160];
	if (!rep->frames_ok)
		return "frame count";
	if (!rep->timecode_ok)
		return "start timecode";
	if (!rep->audio_ok)
		return "audio length";
	for (size_t i = 0; i < rep->nchecks; i++)
		if (!rep->checks[i].pass) {
			snprintf(why, sizeof(why), "event %d at record frame %" PRId64, rep->checks[i].event,
			         rep->checks[i].frame);
			return why;
		}
	return "?";
}

/*
 * --verify-only FILE: checks a render made elsewhere (an earlier dits render,
 * an NLE's export) against the timeline, writing nothing. The size is the
 * file's (w 0) or must be it; the codec is the file's unless given (codec -1):
 * FFV1 is compared exactly, anything else as a lossy render.
 */
static int verify_only(dits_repo *r, const dits_timeline *tl, const char *tlpath, const dits_conform_master *m,
                       const char *path, int w, int h, int codec, bool json)
{
	dits_media_facts ff;
	dits_media_source src;
	int rc = dits_media_source_open_file(&src, path);
	if (!rc) {
		rc = dits_media_probe(&src, &ff);
		dits_media_source_close_file(&src);
	}
	if (!rc && !ff.has_video)
		rc = dits_error_set(DITS_EINVALID, "%s: no video to verify", path);
	if (!rc && w && (ff.width != w || ff.height != h))
		rc = dits_error_set(DITS_EINVALID, "%s: the file is %dx%d, not the --target %dx%d", path, ff.width,
		                    ff.height, w, h);
	if (rc)
		return cli_fail();
	int channels = tl->naudio_tracks > 2 ? tl->naudio_tracks : 2;
	if (ff.naudio && ff.audio[0].channels >= channels)
		channels = ff.audio[0].channels;
	if (codec < 0)
		codec = !strcmp(ff.video_codec, "ffv1") ? DITS_RENDER_FFV1 : DITS_RENDER_PRORES_HQ;
	dits_render_opts ro = { .width = ff.width, .height = ff.height, .codec = codec, .sample_rate = 48000,
		                .channels = channels };
	dits_media_facts *facts;
	if (dits_conform_facts(tl, m, &facts))
		return cli_fail();
	dits_conform_store oc = { r, m };
	dits_render_report rep;
	memset(&rep, 0, sizeof(rep));
	rc = dits_render_verify(tl, facts, dits_conform_open, dits_conform_close, &oc, &ro, path, &rep);
	free(facts);
	if (!rc)
		print_report(&rep, json);
	if (!rc && json) {
		dits_buf b = DITS_BUF_INIT;
		dits_buf_puts(&b, "{\"timeline\":");
		dits_buf_put_json_str(&b, tlpath);
		dits_buf_puts(&b, ",\"file\":");
		dits_buf_put_json_str(&b, path);
		dits_buf_printf(&b, ",\"format\":\"%s\",\"frames\":%" PRId64 ",\"timecode\":\"%s\",\"width\":%d,"
		                    "\"height\":%d,\"verify\":{\"pass\":%s,\"checks\":%zu,\"failed\":[",
		                dits_timeline_format_name(tl->format), rep.frames, rep.timecode, ff.width, ff.height,
		                rep.pass ? "true" : "false", rep.nchecks);
		bool first = true;
		for (size_t i = 0; i < rep.nchecks; i++) {
			if (rep.checks[i].pass)
				continue;
			dits_buf_printf(&b, "%s{\"event\":%d,\"frame\":%" PRId64 "}", first ? "" : ",", rep.checks[i].event,
			                rep.checks[i].frame);
			first = false;
		}
		dits_buf_puts(&b, "]}}\n");
		fwrite(b.data, 1, b.len, stdout);
		dits_buf_free(&b);
	}
	if (!rc && !rep.pass)
		rc = dits_error_set(DITS_EINVALID, "%s: %s does not match the timeline (%s)", tlpath, path,
		                    first_failure(&rep));
	if (!rc && !json)
		printf("verified %s: %zu frames compared, frame count, timecode and audio length match\n", path,
		       rep.nchecks);
	dits_render_report_free(&rep);
	return rc ? cli_fail() : 0;
}

/* ---- on the server (--remote) ----------------------------------------- */

/* The remote's JSON answer to GET render/ID (id 0: GET render, the recent jobs). */
static int job_get(dits_remote *rm, int64_t id, cJSON **out)
{
	char path[48];
	if (id)
		snprintf(path, sizeof path, "render/%lld", (long long)id);
	else
		snprintf(path, sizeof path, "render");
	dits_buf resp = DITS_BUF_INIT;
	int rc = dits_remote_json(rm, "GET", path, NULL, 0, &resp);
	*out = rc ? NULL : cJSON_ParseWithLength((const char *)resp.data, resp.len);
	if (!rc && !*out)
		rc = dits_error_set(DITS_ECORRUPT, "%s: GET %s: the answer is not JSON", dits_remote_name(rm), path);
	dits_buf_free(&resp);
	return rc;
}

static const char *jstr(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* One job as `render status` prints it. */
static void print_job(const cJSON *j)
{
	const char *state = jstr(j, "state"), *commit = jstr(j, "commit"), *path = jstr(j, "path"),
	           *err = jstr(j, "error");
	printf("%-6lld %-8s %3.0f%%  %-24s %.12s%s\n", (long long)jnum(j, "job"), state ? state : "?",
	       100 * jnum(j, "progress"), path ? path : "-", commit ? commit : "", err && !commit ? err : "");
}

/* The branch HEAD is on, short ("main"), or NULL when detached. */
static char *current_branch(dits_repo *r)
{
	char *t = NULL;
	if (dits_head_target(r, &t) || !t) {
		dits_error_clear();
		return NULL;
	}
	if (strncmp(t, "refs/heads/", 11)) {
		free(t);
		return NULL;
	}
	char *b = strdup(t + 11);
	free(t);
	return b;
}

/*
 * After the job: the new commit's objects, and in a partial repository the
 * render's proxy (waited for) instead of its master's chunks.
 */
static int fetch_result(dits_repo *r, dits_remote *rm, const char *hex, const char *path, uint64_t *chunks)
{
	int rc = dits_fetch_configured(r, rm, chunks);
	if (rc || !dits_repo_partial_remote(r, NULL))
		return rc;
	dits_id commit;
	dits_flat f = { 0 };
	if (dits_id_from_hex(&commit, hex))
		return dits_error_set(DITS_ECORRUPT, "%s: the job's commit '%s' is not an id", dits_remote_name(rm), hex);
	if ((rc = dits_flat_from_commit(r, &commit, &f)))
		return rc;
	for (size_t i = 0; i < f.n; i++) {
		if (strcmp(f.e[i].path, path))
			continue;
		dits_proxy_recipe rec;
		if (dits_hologram_recipe_from_config(r, &rec)) {
			dits_error_clear();
			dits_proxy_recipe_default(&rec);
		}
		/* through rm, so that its byte count is the whole of what came */
		const char *type = dits_hologram_proxy_type(&rec);
		double start = dits_now();
		for (;;) {
			char state[1][16];
			char *err[1] = { NULL };
			dits_xfer_opts xo = { 0 };
			if ((rc = dits_fetch_variants(r, rm, &f.e[i].id, 1, type, &xo, state, err)))
				break;
			bool pending = !strcmp(state[0], "queued") || !strcmp(state[0], "running");
			if (pending && dits_now() - start < 600) {
				free(err[0]);
				dits_sleep_ms(1000);
				continue;
			}
			if (strcmp(state[0], "ready"))
				fprintf(stderr, "dits: warning: %s: no %s from %s yet (%s%s%s); dits fetch-proxy brings it\n", path,
				        type, dits_remote_name(rm), state[0], err[0] ? ": " : "", err[0] ? err[0] : "");
			free(err[0]);
			break;
		}
		break;
	}
	dits_flat_free(&f);
	return rc;
}

static int render_remote(const char *tlpath, const char *remote, const char *target, const char *codec,
                         const char *rev, const char *rate, bool verify, bool detach, bool json)
{
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	dits_remote *rm = NULL;
	dits_buf text = DITS_BUF_INIT, resp = DITS_BUF_INIT;
	cJSON *req = NULL, *ans = NULL;
	char *body = NULL, *branch = current_branch(r);
	int64_t id = 0;
	int rc = dits_remote_open(&rm, r, remote);
	/* a timeline that does not parse is refused here, before anything is sent */
	dits_timeline tl;
	AVRational edl_rate = {0, 1};
	if (rate)
		dits_render_parse_rate(rate, &edl_rate);
	if (!rc && !(rc = dits_read_file(tlpath, &text)) &&
	    !(rc = dits_timeline_parse_rate((const char *)text.data, text.len, tlpath, edl_rate, &tl)))
		dits_timeline_free(&tl);
	if (!rc && memchr(text.data, 0, text.len))
		rc = dits_error_set(DITS_EINVALID, "%s: not a text file", tlpath);
	if (!rc) {
		const char *b = strrchr(tlpath, '/');
		if (!(req = cJSON_CreateObject()) || dits_buf_put(&text, "", 1))
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		else {
			cJSON_AddStringToObject(req, "timeline_name", b ? b + 1 : tlpath);
			cJSON_AddStringToObject(req, "timeline", (const char *)text.data);
			if (branch)
				cJSON_AddStringToObject(req, "branch", branch);
			if (rev)
				cJSON_AddStringToObject(req, "rev", rev);
			cJSON_AddStringToObject(req, "target", target);
			cJSON_AddStringToObject(req, "codec", codec);
			if (rate)
				cJSON_AddStringToObject(req, "rate", rate);
			cJSON_AddBoolToObject(req, "verify", verify);
			if (!(body = cJSON_PrintUnformatted(req)))
				rc = dits_error_set(DITS_ENOMEM, "out of memory");
		}
	}
	if (!rc)
		rc = dits_remote_json(rm, "POST", "render", body, strlen(body), &resp);
	if (!rc) {
		cJSON *a = cJSON_ParseWithLength((const char *)resp.data, resp.len);
		id = (int64_t)jnum(a, "job");
		cJSON_Delete(a);
		if (id <= 0)
			rc = dits_error_set(DITS_ECORRUPT, "%s: POST render: no job id in the answer", remote);
	}
	int code = 0;
	if (!rc && detach) {
		if (json) {
			dits_buf b = DITS_BUF_INIT;
			dits_buf_printf(&b, "{\"job\":%lld,\"remote\":", (long long)id);
			dits_buf_put_json_str(&b, remote);
			dits_buf_puts(&b, ",\"state\":\"queued\"}\n");
			fwrite(b.data, 1, b.len, stdout);
			dits_buf_free(&b);
		} else
			printf("render job %lld queued on %s (dits render status %lld --remote %s)\n", (long long)id, remote,
			       (long long)id, remote);
		goto out;
	}
	bool tty = isatty(STDERR_FILENO) && !getenv("DITS_NO_PROGRESS");
	const char *state = "queued";
	while (!rc) {
		cJSON_Delete(ans);
		if ((rc = job_get(rm, id, &ans)))
			break;
		state = jstr(ans, "state");
		if (!state)
			rc = dits_error_set(DITS_ECORRUPT, "%s: render job %lld: no state", remote, (long long)id);
		else if (!strcmp(state, "done") || !strcmp(state, "failed"))
			break;
		if (tty && state)
			fprintf(stderr, "\rrender job %lld on %s: %s %3.0f%%\033[K", (long long)id, remote, state,
			        100 * jnum(ans, "progress"));
		dits_sleep_ms(300);
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (!rc && !strcmp(state, "failed")) {
		const char *e = jstr(ans, "error");
		rc = dits_error_set(DITS_EINVALID, "render job %lld on %s failed: %s", (long long)id, remote,
		                    e ? e : "no reason given");
	}
	const char *hex = rc ? NULL : jstr(ans, "commit"), *path = rc ? NULL : jstr(ans, "path");
	if (!rc && (!hex || !path))
		rc = dits_error_set(DITS_ECORRUPT, "%s: render job %lld is done but names no commit", remote, (long long)id);
	uint64_t chunks = 0;
	if (!rc)
		rc = fetch_result(r, rm, hex, path, &chunks);
	if (!rc) {
		if (json) {
			dits_buf b = DITS_BUF_INIT;
			dits_buf_printf(&b, "{\"job\":%lld,\"remote\":", (long long)id);
			dits_buf_put_json_str(&b, remote);
			dits_buf_printf(&b, ",\"state\":\"done\",\"commit\":\"%s\",\"output\":", hex);
			dits_buf_put_json_str(&b, path);
			dits_buf_printf(&b, ",\"bytes_received\":%llu}\n",
			                (unsigned long long)dits_remote_stats(rm)->bytes_received);
			fwrite(b.data, 1, b.len, stdout);
			dits_buf_free(&b);
		} else
			printf("rendered on %s (job %lld): committed %.12s %s; fetched (dits pull to merge)\n", remote,
			       (long long)id, hex, path);
	}
out:
	if (rc)
		code = cli_fail();
	cJSON_Delete(ans);
	cJSON_Delete(req);
	free(body);
	free(branch);
	dits_buf_free(&text);
	dits_buf_free(&resp);
	dits_remote_free(rm);
	dits_repo_free(r);
	return code;
}

static int render_status(int argc, char **argv)
{
	const char *remote = "origin";
	bool json = false;
	const cli_opt opts[] = {
		{ "--remote", NULL, &remote, NULL },
		{ "--json", NULL, NULL, &json },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_RENDER_STATUS, &np, NULL);
	if (code)
		return code;
	if (np > 1)
		return cli_usage_error(USE_RENDER_STATUS, "render status: one job at a time");
	long long id = 0;
	if (np == 1) {
		char *end;
		id = strtoll(argv[1], &end, 10);
		if (*end || id <= 0)
			return cli_usage_error(USE_RENDER_STATUS, "render status: '%s' is not a job id", argv[1]);
	}
	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	dits_remote *rm = NULL;
	cJSON *ans = NULL;
	int rc = dits_remote_open(&rm, r, remote);
	if (!rc)
		rc = job_get(rm, id, &ans);
	if (rc) {
		code = cli_fail();
	} else if (json) {
		char *t = cJSON_PrintUnformatted(ans);
		if (t)
			printf("%s\n", t);
		free(t);
	} else {
		const cJSON *list = id ? NULL : cJSON_GetObjectItemCaseSensitive(ans, "renders");
		const cJSON *e;
		if (id)
			print_job(ans);
		else if (!cJSON_GetArraySize(list))
			printf("no render jobs on %s\n", remote);
		cJSON_ArrayForEach(e, list)
			print_job(e);
	}
	cJSON_Delete(ans);
	dits_remote_free(rm);
	dits_repo_free(r);
	return code;
}

int cmd_render(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "status"))
		return render_status(argc - 1, argv + 1);
	const char *target = NULL, *codec = NULL, *rev = NULL, *out = NULL, *rate = NULL, *remote = NULL;
	const char *vonly = NULL;
	bool verify = false, strict = false, json = false, detach = false;
	const cli_opt opts[] = {
		{ "--target", NULL, &target, NULL },
		{ "--codec", NULL, &codec, NULL },
		{ "--rev", NULL, &rev, NULL },
		{ "--out", NULL, &out, NULL },
		{ "--rate", NULL, &rate, NULL },
		{ "--verify", NULL, NULL, &verify },
		{ "--verify-only", NULL, &vonly, NULL },
		{ "--strict", NULL, NULL, &strict },
		{ "--json", NULL, NULL, &json },
		{ "--remote", NULL, &remote, NULL },
		{ "--detach", NULL, NULL, &detach },
		{ NULL, NULL, NULL, NULL },
	};
	int np, code = cli_parse(argc, argv, opts, USE_RENDER, &np, NULL);
	if (code)
		return code;
	if (np != 1)
		return cli_usage_error(USE_RENDER, np ? "render: one timeline at a time" : "render: which timeline?");
	const char *tlpath = argv[1];
	/* --verify-only takes the size and the codec from the file unless they are given */
	bool given_target = target != NULL, given_codec = codec != NULL;
	if (!target)
		target = "4k_master";
	if (!codec)
		codec = "prores_hq";
	int vcodec = dits_render_codec_of(codec);
	if (vcodec < 0)
		return cli_usage_error(USE_RENDER, "render: --codec is prores_hq, prores_4444, dnxhr_hqx or ffv1, not '%s'",
		                       codec);
	if (strcmp(target, "4k_master") && strcmp(target, "8k_master") && strcmp(target, "source") &&
	    !strchr(target, 'x'))
		return cli_usage_error(USE_RENDER, "render: --target is 4k_master, 8k_master, source or WxH, not '%s'",
		                       target);
	AVRational edl_rate = {0, 1};
	if (rate && dits_render_parse_rate(rate, &edl_rate) < 0)
		return cli_usage_error(USE_RENDER, "render: --rate is a frame rate (24, 23.976, 24000/1001), not '%s'",
		                       rate);
	if (detach && !remote)
		return cli_usage_error(USE_RENDER, "render: --detach goes with --remote");
	if (remote && (out || strict))
		return cli_usage_error(USE_RENDER, "render: --%s is for a render here, not with --remote",
		                       out ? "out" : "strict");
	if (vonly && (remote || out))
		return cli_usage_error(USE_RENDER, "render: --verify-only checks a file here, not with --%s",
		                       remote ? "remote" : "out");
	if (remote)
		return render_remote(tlpath, remote, target, codec, rev, rate, verify, detach, json);

	dits_repo *r;
	if (dits_repo_open(&r, "."))
		return cli_fail();
	dits_timeline tl;
	int rc = dits_timeline_parse_file_rate(tlpath, edl_rate, &tl);
	if (rc) {
		dits_repo_free(r);
		return cli_fail();
	}
	/* what the conform leaves out, said once per kind (or refused) */
	for (size_t i = 0; i < tl.nskipped; i++)
		fprintf(stderr, "dits: %s: %s: %s\n", strict ? "error" : "warning", tlpath, tl.skipped[i]);
	dits_id commit;
	dits_conform_master *m = NULL;
	char *final = NULL, *tmp = NULL, *rel = NULL;
	if (strict && tl.nskipped)
		rc = dits_error_set(DITS_EINVALID, "%s: --strict: %zu kind%s of item not conformed (above)", tlpath,
		                    tl.nskipped, tl.nskipped == 1 ? "" : "s");
	if (!rc)
		rc = dits_revparse(r, rev ? rev : "HEAD", &commit);
	if (!rc && !out && !vonly && staged_changes(r))
		rc = dits_error_set(DITS_ECONFLICT,
		                    "the index has staged changes: commit them first (the render is committed alone), "
		                    "or give --out");
	if (!rc)
		rc = dits_conform_resolve(r, &commit, &tl, tlpath, &m);
	int w = 0, h = 0;
	if (!rc && dits_conform_target_size(target, &tl, m, &w, &h) < 0)
		rc = dits_error_set(DITS_EINVALID, "--target %s: not a size (WxH, even, 16..16384)", target);
	if (!rc && vonly) {
		code = verify_only(r, &tl, tlpath, m, vonly, given_target ? w : 0, h, given_codec ? vcodec : -1, json);
		dits_conform_masters_free(m, tl.nmedia);
		dits_timeline_free(&tl);
		dits_repo_free(r);
		return code;
	}
	if (!rc) {
		if (out) {
			final = strdup(out);
		} else {
			rel = default_out(tlpath);
			final = rel ? dits_strfmt("%s/%s", dits_repo_workdir(r), rel) : NULL;
		}
		if (!final)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	if (!rc && !out) {
		char *dir = dits_strfmt("%s/renders", dits_repo_workdir(r));
		if (!dir || (mkdir(dir, 0777) < 0 && errno != EEXIST))
			rc = dits_error_set(DITS_EIO, "%s: %s", dir ? dir : "renders", strerror(errno));
		free(dir);
	}
	if (!rc) {
		/* beside the result, renamed into place only once complete (and verified) */
		char *slash = strrchr(final, '/');
		tmp = slash ? dits_strfmt("%.*s/.%s.render-%d.tmp", (int)(slash - final), final, slash + 1, (int)getpid())
		            : dits_strfmt(".%s.render-%d.tmp", final, (int)getpid());
		if (!tmp)
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
	}
	double t0 = dits_now(), elapsed = 0;
	render_ui ui = { isatty(STDERR_FILENO) && !getenv("DITS_NO_PROGRESS"), 0 };
	dits_conform_store oc = { r, m };
	dits_render_opts ro = { .width = w, .height = h, .codec = vcodec, .sample_rate = 48000,
		                .channels = tl.naudio_tracks > 2 ? tl.naudio_tracks : 2,
		                .progress = on_progress, .pctx = &ui };
	dits_media_facts *facts = NULL;
	if (!rc)
		rc = dits_conform_facts(&tl, m, &facts);
	if (!rc)
		rc = dits_render_run(&tl, facts, dits_conform_open, dits_conform_close, &oc, &ro, tmp);
	if (ui.tty)
		fprintf(stderr, "\r\033[K");
	elapsed = dits_now() - t0;
	dits_render_report rep;
	memset(&rep, 0, sizeof(rep));
	bool verified = false;
	if (!rc && verify) {
		rc = dits_render_verify(&tl, facts, dits_conform_open, dits_conform_close, &oc, &ro, tmp, &rep);
		if (!rc)
			print_report(&rep, json);
		if (!rc && !rep.pass)
			rc = dits_error_set(DITS_EINVALID, "%s: the render does not match the timeline (%s); nothing kept",
			                    tlpath, first_failure(&rep));
		verified = rc == 0;
	}
	if (!rc && rename(tmp, final) < 0)
		rc = dits_error_set(DITS_EIO, "%s: %s", final, strerror(errno));
	if (rc && tmp)
		unlink(tmp);
	dits_id made = {{0}};
	bool committed = false;
	size_t queued = 0;
	if (!rc && !out) {
		const char *paths[] = { final };
		dits_add_result ar;
		char *msg = dits_strfmt("Render %s (%s, %zu %s) at %dx%d\n", tlpath, dits_timeline_format_name(tl.format),
		                        tl.nclips, cli_plural(tl.nclips, "clip", "clips"), w, h);
		rc = msg ? dits_add(r, paths, 1, NULL, &ar) : dits_error_set(DITS_ENOMEM, "out of memory");
		if (!rc)
			rc = dits_commit_create(r, msg, false, &made, NULL);
		committed = rc == 0;
		if (committed)
			queued = cli_queue_proxies(r, &made); /* its proxies, like any master's */
		free(msg);
	}
	if (rc) {
		code = cli_fail();
	} else {
		char tc[DITS_TC_MAX] = "";
		dits_tc_format(tl.rec_start, tl.rate.num, tl.rate.den, tl.drop_frame, tc);
		char hex[DITS_ID_HEXLEN + 1] = "";
		if (committed)
			dits_id_hex(hex, &made);
		if (json) {
			dits_buf b = DITS_BUF_INIT;
			dits_buf_puts(&b, "{\"timeline\":");
			dits_buf_put_json_str(&b, tlpath);
			dits_buf_printf(&b, ",\"format\":\"%s\",\"frames\":%" PRId64 ",\"rate\":\"%d/%d\",\"timecode\":\"%s\","
			                    "\"width\":%d,\"height\":%d,\"codec\":\"%s\",\"seconds\":%.3f,\"output\":",
			                dits_timeline_format_name(tl.format), tl.duration, tl.rate.num, tl.rate.den, tc, w, h,
			                codec, elapsed);
			dits_buf_put_json_str(&b, rel ? rel : final);
			dits_buf_puts(&b, ",\"commit\":");
			if (committed)
				dits_buf_printf(&b, "\"%s\"", hex);
			else
				dits_buf_puts(&b, "null");
			dits_buf_puts(&b, ",\"media\":[");
			bool first = true;
			for (size_t i = 0; i < tl.nmedia; i++) {
				if (!m[i].path)
					continue;
				dits_buf_puts(&b, first ? "{\"master\":" : ",{\"master\":");
				dits_buf_put_json_str(&b, m[i].path);
				dits_buf_printf(&b, ",\"by\":\"%s\"}", m[i].how);
				first = false;
			}
			dits_buf_puts(&b, "],\"skipped\":[");
			for (size_t i = 0; i < tl.nskipped; i++) {
				if (i)
					dits_buf_puts(&b, ",");
				dits_buf_put_json_str(&b, tl.skipped[i]);
			}
			dits_buf_puts(&b, "]");
			if (verified)
				dits_buf_printf(&b, ",\"verify\":{\"pass\":true,\"checks\":%zu}", rep.nchecks);
			dits_buf_printf(&b, ",\"proxies_queued\":%zu", queued);
			dits_buf_puts(&b, "}\n");
			fwrite(b.data, 1, b.len, stdout);
			dits_buf_free(&b);
		} else {
			printf("rendered %s: %" PRId64 " frames at %d/%d, %dx%d %s, TC %s, in %.1f s\n", rel ? rel : final,
			       tl.duration, tl.rate.num, tl.rate.den, w, h, codec, tc, elapsed);
			if (verified)
				printf("verified: %zu frames compared, frame count, timecode and audio length match\n", rep.nchecks);
			if (committed)
				printf("committed %.12s %s\n", hex, rel);
			if (queued)
				printf("queued %zu proxy job%s; a background worker is making them (dits proxy status)\n", queued,
				       queued == 1 ? "" : "s");
		}
	}
	dits_render_report_free(&rep);
	free(facts);
	free(final);
	free(tmp);
	free(rel);
	dits_conform_masters_free(m, tl.nmedia);
	dits_timeline_free(&tl);
	dits_repo_free(r);
	return code;
}
#else
int cmd_render(int argc, char **argv)
{
	bool status = argc > 1 && !strcmp(argv[1], "status");
	int np, code = status ? cli_parse(argc - 1, argv + 1, NULL, USE_RENDER_STATUS, &np, NULL)
	                      : cli_parse(argc, argv, NULL, USE_RENDER, &np, NULL);
	(void)np;
	if (code)
		return code;
	dits_error_set(DITS_ERROR, "rendering runs in dits-media, which was not started");
	return cli_fail();
}
#endif
