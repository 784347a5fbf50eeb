#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

typedef struct bar {
	const char *what;
	uint64_t total, done, files_total, files_done;
	double start, last_draw;
	bool tty, drawn;
} bar;

static bar the_bar;

const char *cli_human_bytes(char *buf, size_t len, double bytes)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f %s", bytes, units[u]);
	else
		snprintf(buf, len, "%.1f %s", bytes, units[u]);
	return buf;
}

static void draw(bar *b, bool final)
{
	double now = dits_now();
	if (!final && now - b->last_draw < 0.1)
		return;
	b->last_draw = now;
	double el = now - b->start;
	double rate = el > 0 ? (double)b->done / el : 0;
	char d[32], t[32], r[32], eta[32] = "";
	double frac = b->total ? (double)b->done / (double)b->total : 1.0;
	if (frac > 1)
		frac = 1;
	int width = 24, fill = (int)(frac * width);
	char barstr[32];
	for (int i = 0; i < width; i++)
		barstr[i] = i < fill ? '#' : '.';
	barstr[width] = '\0';
	if (!final && rate > 0 && b->total > b->done)
		snprintf(eta, sizeof eta, " ETA %.0fs", (double)(b->total - b->done) / rate);
	fprintf(stderr, "\r%-9s [%s] %3.0f%% %s / %s  %s/s  %llu/%llu files%s\033[K", b->what, barstr,
	        frac * 100, cli_human_bytes(d, sizeof d, (double)b->done),
	        cli_human_bytes(t, sizeof t, (double)b->total), cli_human_bytes(r, sizeof r, rate),
	        (unsigned long long)b->files_done, (unsigned long long)b->files_total, eta);
	b->drawn = true;
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static void p_start(void *ctx, const char *what, uint64_t total, uint64_t files)
{
	bar *b = ctx;
	b->what = what;
	b->total = total;
	b->files_total = files;
	b->done = b->files_done = 0;
	b->start = dits_now();
	b->last_draw = 0;
	b->drawn = false;
}

static void p_advance(void *ctx, uint64_t n)
{
	bar *b = ctx;
	b->done += n;
	if (b->tty)
		draw(b, false);
}

static void p_file(void *ctx)
{
	bar *b = ctx;
	b->files_done++;
	if (b->tty)
		draw(b, false);
}

static void p_finish(void *ctx)
{
	bar *b = ctx;
	if (b->tty && (b->drawn || b->total > 0))
		draw(b, true);
}

void cli_progress_init(dits_progress *p)
{
	memset(&the_bar, 0, sizeof the_bar);
	the_bar.tty = isatty(STDERR_FILENO) && !getenv("DITS_NO_PROGRESS");
	p->start = p_start;
	p->advance = p_advance;
	p->file_done = p_file;
	p->finish = p_finish;
	p->ctx = &the_bar;
}
