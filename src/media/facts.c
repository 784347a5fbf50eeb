/*
 * facts.c - reading facts back from their JSON (dits_media_facts_json's
 * output, as variant records keep it and remotes send it). The input is
 * outside bytes: every member is optional and checked for type and range;
 * what is missing keeps its zero value, except an audio stream's end, which
 * records older than the audio timeline lack and which is then its start
 * plus its duration.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libavutil/avutil.h>

#include "error.h"
#include "media.h"

static void get_str(const cJSON *o, const char *key, char *out, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v) && v->valuestring)
		snprintf(out, cap, "%s", v->valuestring);
}

static double get_num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : dflt;
}

static int get_int(const cJSON *o, const char *key)
{
	double d = get_num(o, key, 0);
	return d >= 0 && d <= 1e9 ? (int)d : 0;
}

static int64_t get_i64(const cJSON *o, const char *key)
{
	double d = get_num(o, key, 0);
	return d >= 0 && d <= 9e15 ? (int64_t)d : 0;
}

static AVRational get_q(const cJSON *o, const char *key)
{
	char s[32] = "";
	get_str(o, key, s, sizeof(s));
	int num = 0, den = 0;
	char tail;
	if (sscanf(s, "%d/%d%c", &num, &den, &tail) != 2 || num <= 0 || den <= 0)
		return (AVRational){0, 1};
	return (AVRational){num, den};
}

static int field_order_of(const char *s)
{
	static const char *const n[] = {"unknown", "progressive", "tt", "bb", "tb", "bt"};
	for (int i = 0; i < 6; i++)
		if (strcmp(s, n[i]) == 0)
			return i;
	return 0;
}

int dits_media_facts_parse(const char *json, const char *member, dits_media_facts *out)
{
	memset(out, 0, sizeof(*out));
	cJSON *root = json ? cJSON_Parse(json) : NULL;
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return dits_error_set(DITS_EINVALID, "media facts: not a JSON object");
	}
	const cJSON *o = member ? cJSON_GetObjectItemCaseSensitive(root, member) : root;
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(root);
		return dits_error_set(member ? DITS_ENOTFOUND : DITS_EINVALID, "media facts: no %s object",
		                      member ? member : "facts");
	}
	out->has_video = true;
	get_str(o, "container", out->container, sizeof(out->container));
	get_str(o, "video_codec", out->video_codec, sizeof(out->video_codec));
	out->width = get_int(o, "width");
	out->height = get_int(o, "height");
	out->sar = get_q(o, "sar");
	if (out->sar.num == 0)
		out->sar = (AVRational){1, 1};
	out->dar = get_q(o, "dar");
	out->frame_rate = get_q(o, "frame_rate");
	out->frame_count = get_i64(o, "frame_count");
	out->video_duration = get_num(o, "video_duration", 0);
	out->video_start = get_num(o, "video_start", 0);
	get_str(o, "timecode", out->timecode, sizeof(out->timecode));
	get_str(o, "reel_name", out->reel_name, sizeof(out->reel_name));
	char fo[16] = "";
	get_str(o, "field_order", fo, sizeof(fo));
	out->field_order = field_order_of(fo);
	out->vfr = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "vfr"));
	out->vfr_span = get_num(o, "vfr_span", 0);
	out->cfr_frame_count = out->vfr ? get_i64(o, "cfr_frame_count") : out->frame_count;
	get_str(o, "color_transfer", out->color_transfer, sizeof(out->color_transfer));
	get_str(o, "color_primaries", out->color_primaries, sizeof(out->color_primaries));
	get_str(o, "log_curve", out->log_curve, sizeof(out->log_curve));
	const cJSON *audio = cJSON_GetObjectItemCaseSensitive(o, "audio");
	const cJSON *a = cJSON_IsArray(audio) ? audio->child : NULL;
	for (; a; a = a->next) {
		if (!cJSON_IsObject(a) || out->naudio == DITS_MEDIA_MAX_AUDIO)
			continue;
		dits_media_audio *d = &out->audio[out->naudio++];
		get_str(a, "codec", d->codec, sizeof(d->codec));
		get_str(a, "layout", d->layout, sizeof(d->layout));
		d->channels = get_int(a, "channels");
		d->sample_rate = get_int(a, "sample_rate");
		d->samples = get_i64(a, "samples");
		d->duration = get_num(a, "duration", 0);
		d->start = get_num(a, "start", 0);
		d->end = get_num(a, "end", d->start + d->duration);
		d->gap = get_num(a, "gap", 0);
		d->gap_at = get_num(a, "gap_at", 0);
	}
	cJSON_Delete(root);
	return 0;
}
