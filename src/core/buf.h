/*
 * buf.h - a growable byte buffer.
 */
#ifndef DITS_BUF_H
#define DITS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct dits_buf {
	uint8_t *data;
	size_t len, cap;
} dits_buf;

#define DITS_BUF_INIT { NULL, 0, 0 }

/* Each returns 0 or DITS_ENOMEM. */
int dits_buf_grow(dits_buf *b, size_t extra);
int dits_buf_put(dits_buf *b, const void *data, size_t len);
int dits_buf_puts(dits_buf *b, const char *s);
int dits_buf_printf(dits_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dits_buf_put_u8(dits_buf *b, uint8_t v);
int dits_buf_put_u16(dits_buf *b, uint16_t v); /* little-endian */
int dits_buf_put_u32(dits_buf *b, uint32_t v);
int dits_buf_put_u64(dits_buf *b, uint64_t v);
/* Appends s as a JSON string literal (quotes and escapes). */
int dits_buf_put_json_str(dits_buf *b, const char *s);
/* Makes data NUL-terminated (not counted in len). */
int dits_buf_cstr(dits_buf *b);
void dits_buf_reset(dits_buf *b);
void dits_buf_free(dits_buf *b);

/* Little-endian readers over a bounded cursor. They return -1 when short. */
typedef struct dits_reader {
	const uint8_t *p, *end;
} dits_reader;

int dits_read_u8(dits_reader *r, uint8_t *v);
int dits_read_u16(dits_reader *r, uint16_t *v);
int dits_read_u32(dits_reader *r, uint32_t *v);
int dits_read_u64(dits_reader *r, uint64_t *v);
int dits_read_bytes(dits_reader *r, void *out, size_t n);
int dits_read_skip(dits_reader *r, const uint8_t **out, size_t n);

static inline void dits_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void dits_put_le64(uint8_t *p, uint64_t v)
{
	dits_put_le32(p, (uint32_t)v);
	dits_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t dits_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t dits_get_le64(const uint8_t *p)
{
	return (uint64_t)dits_get_le32(p) | (uint64_t)dits_get_le32(p + 4) << 32;
}

#endif
