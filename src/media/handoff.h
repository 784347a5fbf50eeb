/*
 * handoff.h - what an NLE needs to open the checkout's clips with their
 * proxies attached, without a manual relink (docs/NLE.md):
 *
 *   resolve   DIR/<dir>/Proxy/<stem>.mov beside each master's relative path
 *   fcpx      the proxies, and DIR/handoff.fcpxml: an FCPXML 1.10 event whose
 *             assets carry an original-media and a proxy-media media-rep
 *   premiere  the proxies, and DIR/handoff.xml: FCP7 XML (xmeml 4) of the
 *             masters, for Premiere's import and Attach Proxies
 *   avid      the proxies, and DIR/handoff-<FPS>.ale, one Avid Log Exchange
 *             file per frame rate
 *
 * The model is filled from the repository: the index's video files, their
 * ready proxy variants (facts: rate, frame count, timecode, audio, which a
 * proxy shares with its master by validation) and the master's headers in
 * the worktree (frame size, pixel aspect, reel name).
 */
#ifndef DITS_HANDOFF_H
#define DITS_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media.h"
#include "object.h"
#include "repo.h"
#include "timecode.h"

enum dits_nle { DITS_NLE_RESOLVE = 0, DITS_NLE_PREMIERE, DITS_NLE_FCPX, DITS_NLE_AVID };

/* "resolve", "premiere", "fcpx", "avid" -> enum dits_nle; -1 when unknown. */
int dits_nle_from_name(const char *name);
const char *dits_nle_name(int nle);

typedef struct dits_handoff_clip {
	char *path;           /* repository path, "A001/A001C001.mov" */
	char *master;         /* absolute path of the master in the worktree */
	char *proxy;          /* absolute path the proxy is written to: DIR/<dir>/Proxy/<stem>.mov */
	char *name;           /* the master's file name without its extension */
	int width, height;    /* the master's */
	int sar_num, sar_den;
	int rate_num, rate_den; /* exact frame rate, 30000/1001 */
	int64_t frames;       /* frame count */
	char timecode[DITS_TC_MAX]; /* start label, "HH:MM:SS:FF" or "HH:MM:SS;FF" */
	bool drop;            /* the label is drop-frame */
	int64_t start_frame;  /* the label as a frame number */
	char reel[64];        /* facts "reel_name", else the master's reel_name tag, else name */
	int naudio;           /* audio streams */
	int channels[DITS_MEDIA_MAX_AUDIO];
	int audio_rate;       /* the first audio stream's sample rate, 0 without audio */
	dits_id proxy_manifest;
	uint64_t proxy_size;
} dits_handoff_clip;

typedef struct dits_handoff_missing {
	char *path;           /* repository path */
	char *why;            /* "the proxy_1080p variant is queued", ... */
} dits_handoff_missing;

typedef struct dits_handoff {
	char *title;          /* event and bin name: the worktree directory's name */
	char *dir;            /* absolute output directory */
	dits_handoff_clip *clips;
	size_t n;
	dits_handoff_missing *missing;
	size_t nmissing;
} dits_handoff;

/*
 * Fills h with the index's video files whose proxy variant of type is ready
 * (creating dir). Files without one (no variant, not ready, the worktree
 * holding its proxy, a master whose headers cannot be read) go to
 * h->missing with the reason; they are not an error.
 */
int dits_handoff_collect(dits_repo *r, const char *type, const char *dir, dits_handoff *h);
void dits_handoff_free(dits_handoff *h);

/* Writes every clip's proxy at clip->proxy from the store (a copy: fsynced, renamed into place). */
int dits_handoff_write_proxies(dits_repo *r, const dits_handoff *h);

/* The documents, written atomically to path. */
int dits_handoff_write_fcpxml(const dits_handoff *h, const char *path);
int dits_handoff_write_xmeml(const dits_handoff *h, const char *path);
/* One ALE of the clips whose rate is num/den. */
int dits_handoff_write_ale(const dits_handoff *h, int num, int den, const char *path);

/*
 * Everything nle needs under h->dir: the proxies, then the document(s).
 * files/nfiles (may be NULL) receive the absolute paths written, proxies
 * first; free with dits_handoff_files_free.
 */
int dits_handoff_write(dits_repo *r, const dits_handoff *h, int nle, char ***files, size_t *nfiles);
void dits_handoff_files_free(char **files, size_t n);

/* "file://" + the absolute path percent-encoded (all but A-Z a-z 0-9 - . _ ~ /). */
char *dits_file_url(const char *prefix, const char *abs_path);

/* ALE's FPS value for a rate: "29.97", "23.976", "25". */
void dits_ale_fps(int num, int den, char *out, size_t cap);

#endif
