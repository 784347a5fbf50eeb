/*
 * web_assets.h - the web page's files (web/), embedded at build time by
 * tools/embed.c into a generated C source.
 */
#ifndef DITS_WEB_ASSETS_H
#define DITS_WEB_ASSETS_H

#include <stddef.h>

typedef struct dits_web_asset {
	const char *name;          /* base name: "app.js" */
	const char *type;          /* Content-Type */
	const unsigned char *data;
	size_t len;
} dits_web_asset;

/* Ends with an entry whose name is NULL. */
extern const dits_web_asset dits_web_assets[];

#endif
