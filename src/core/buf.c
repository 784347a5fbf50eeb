#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int dits_buf_grow(dits_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return dits_error_set(DITS_ENOMEM, "out of memory");
	b->data = p;
	b->cap = cap;
	return 0;
}

int dits_buf_put(dits_buf *b, const void *data, size_t len)
{
	if (dits_buf_grow(b, len))
		return DITS_ENOMEM;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int dits_buf_puts(dits_buf *b, const char *s)
{
	return dits_buf_put(b, s, strlen(s));
}

int dits_buf_printf(dits_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || dits_buf_grow(b, (size_t)n + 1))
		return DITS_ENOMEM;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int dits_buf_put_u8(dits_buf *b, uint8_t v)
{
	return dits_buf_put(b, &v, 1);
}

int dits_buf_put_u16(dits_buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return dits_buf_put(b, p, 2);
}

int dits_buf_put_u32(dits_buf *b, uint32_t v)
{
	uint8_t p[4];
	dits_put_le32(p, v);
	return dits_buf_put(b, p, 4);
}

int dits_buf_put_u64(dits_buf *b, uint64_t v)
{
	uint8_t p[8];
	dits_put_le64(p, v);
	return dits_buf_put(b, p, 8);
}

int dits_buf_put_json_str(dits_buf *b, const char *s)
{
	int rc = dits_buf_put_u8(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		switch (*p) {
		case '"': rc = dits_buf_puts(b, "\\\""); break;
		case '\\': rc = dits_buf_puts(b, "\\\\"); break;
		case '\n': rc = dits_buf_puts(b, "\\n"); break;
		case '\r': rc = dits_buf_puts(b, "\\r"); break;
		case '\t': rc = dits_buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				rc = dits_buf_printf(b, "\\u%04x", *p);
			else
				rc = dits_buf_put_u8(b, *p);
		}
	}
	return rc ? rc : dits_buf_put_u8(b, '"');
}

int dits_buf_cstr(dits_buf *b)
{
	if (dits_buf_grow(b, 1))
		return DITS_ENOMEM;
	b->data[b->len] = '\0';
	return 0;
}

void dits_buf_reset(dits_buf *b)
{
	b->len = 0;
}

void dits_buf_free(dits_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int dits_read_bytes(dits_reader *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	return 0;
}

int dits_read_skip(dits_reader *r, const uint8_t **out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	if (out)
		*out = r->p;
	r->p += n;
	return 0;
}

int dits_read_u8(dits_reader *r, uint8_t *v)
{
	return dits_read_bytes(r, v, 1);
}

int dits_read_u16(dits_reader *r, uint16_t *v)
{
	uint8_t p[2];
	if (dits_read_bytes(r, p, 2))
		return -1;
	*v = (uint16_t)(p[0] | p[1] << 8);
	return 0;
}

int dits_read_u32(dits_reader *r, uint32_t *v)
{
	uint8_t p[4];
	if (dits_read_bytes(r, p, 4))
		return -1;
	*v = dits_get_le32(p);
	return 0;
}

int dits_read_u64(dits_reader *r, uint64_t *v)
{
	uint8_t p[8];
	if (dits_read_bytes(r, p, 8))
		return -1;
	*v = dits_get_le64(p);
	return 0;
}
