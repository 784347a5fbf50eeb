/*
 * s3_xml: the S3 XML responses the client reads (Error, ListBucketResult,
 * InitiateMultipartUploadResult), through libxml2 with no network access,
 * no DTD loading and no entity substitution (XML_PARSE_NONET, and neither
 * XML_PARSE_NOENT nor XML_PARSE_DTDLOAD). A document that declares a DTD
 * is refused: S3 never sends one. Text is read from text and CDATA nodes
 * only, so an entity reference is never expanded.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "error.h"
#include "s3_internal.h"

/* A response larger than this is not one S3 sends (a 1000-key page is ~300 KB). */
#define MAX_XML ((size_t)16 << 20)

static xmlDocPtr read_doc(const char *xml, size_t len, const char *what)
{
	if (len > MAX_XML || len > INT_MAX) {
		dits_error_set(DITS_EINVALID, "%s: response of %zu bytes is too large", what, len);
		return NULL;
	}
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		dits_error_set(DITS_ENOMEM, "out of memory");
		return NULL;
	}
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
	                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "not well-formed";
		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\r\n")] = 0;
		}
		dits_error_set(DITS_EINVALID, "%s: not well-formed XML: %s", what, msg);
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return NULL;
	}
	xmlFreeParserCtxt(ctxt);
	if (doc->intSubset || doc->extSubset) {
		dits_error_set(DITS_EINVALID, "%s: the response declares a DTD (not read)", what);
		xmlFreeDoc(doc);
		return NULL;
	}
	if (!xmlDocGetRootElement(doc)) {
		dits_error_set(DITS_EINVALID, "%s: no root element", what);
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int is_el(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The text directly inside n (text and CDATA children), malloc'd. */
static char *text_of(const xmlNode *n)
{
	dits_buf b = DITS_BUF_INIT;
	for (const xmlNode *c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			if (dits_buf_puts(&b, (const char *)c->content) < 0) {
				dits_buf_free(&b);
				return NULL;
			}
	if (dits_buf_cstr(&b) < 0) {
		dits_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (is_el(c, name))
			return c;
	return NULL;
}

/* The text of n's child called name, or "" when absent; NULL only on ENOMEM. */
static char *child_text(const xmlNode *n, const char *name)
{
	const xmlNode *c = child(n, name);
	return c ? text_of(c) : strdup("");
}

int s3_xml_error(const char *xml, size_t len, char **code, char **message)
{
	*code = *message = NULL;
	xmlDocPtr doc = read_doc(xml, len, "S3 error response");
	if (!doc)
		return DITS_EINVALID;
	const xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	if (!is_el(root, "Error")) {
		rc = dits_error_set(DITS_ENOTFOUND, "S3 response: root element <%s>, not <Error>",
		                    (const char *)root->name);
	} else {
		*code = child_text(root, "Code");
		*message = child_text(root, "Message");
		if (!*code || !*message) {
			free(*code);
			free(*message);
			*code = *message = NULL;
			rc = dits_error_set(DITS_ENOMEM, "out of memory");
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

void s3_list_page_free(s3_list_page *page)
{
	for (size_t i = 0; i < page->n; i++) {
		free(page->items[i].key);
		free(page->items[i].etag);
	}
	free(page->items);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

static int parse_u64(const char *s, uint64_t *v)
{
	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

/* An ISO 8601 UTC time as S3 writes it ("2026-12-06T22:01:46.000Z"): seconds
 * since 1970, or 0 when absent or not of that form. */
static int64_t parse_time(const char *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z"))
		return 0;
	time_t v = timegm(&tm);
	return v < 0 ? 0 : (int64_t)v;
}

int s3_xml_list(const char *xml, size_t len, s3_list_page *page)
{
	memset(page, 0, sizeof(*page));
	xmlDocPtr doc = read_doc(xml, len, "S3 list response");
	if (!doc)
		return DITS_EINVALID;
	const xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	char *t = NULL;
	if (!is_el(root, "ListBucketResult")) {
		rc = dits_error_set(DITS_EINVALID, "S3 list response: root element <%s>, not <ListBucketResult>",
		                    (const char *)root->name);
		goto out;
	}
	size_t cap = 0;
	for (const xmlNode *c = root->children; c; c = c->next) {
		if (is_el(c, "IsTruncated")) {
			free(t);
			if (!(t = text_of(c)))
				goto nomem;
			if (strcmp(t, "true") && strcmp(t, "false")) {
				rc = dits_error_set(DITS_EINVALID, "S3 list response: IsTruncated is \"%.40s\", not true or false", t);
				goto out;
			}
			page->truncated = !strcmp(t, "true");
		} else if (is_el(c, "NextContinuationToken")) {
			free(page->next_token);
			if (!(page->next_token = text_of(c)))
				goto nomem;
		} else if (is_el(c, "Contents")) {
			if (page->n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				s3_list_item *n = realloc(page->items, ncap * sizeof(*n));
				if (!n)
					goto nomem;
				page->items = n;
				cap = ncap;
			}
			s3_list_item *it = &page->items[page->n];
			memset(it, 0, sizeof(*it));
			const xmlNode *k = child(c, "Key");
			if (!k) {
				rc = dits_error_set(DITS_EINVALID, "S3 list response: an entry (#%zu) without a Key", page->n + 1);
				goto out;
			}
			it->key = text_of(k);
			it->etag = child_text(c, "ETag");
			page->n++;
			if (!it->key || !it->etag)
				goto nomem;
			if (!*it->key) {
				rc = dits_error_set(DITS_EINVALID, "S3 list response: an entry (#%zu) with an empty Key", page->n);
				goto out;
			}
			free(t);
			if (!(t = child_text(c, "Size")))
				goto nomem;
			if (parse_u64(t, &it->size) < 0) {
				rc = dits_error_set(DITS_EINVALID, "S3 list response: %.200s: Size \"%.40s\" is not a number",
				                    it->key, t);
				goto out;
			}
			free(t);
			if (!(t = child_text(c, "LastModified")))
				goto nomem;
			it->mtime = parse_time(t);
		}
	}
	if (page->truncated && (!page->next_token || !*page->next_token)) {
		rc = dits_error_set(DITS_EINVALID, "S3 list response: truncated but without a NextContinuationToken");
		goto out;
	}
	goto out;
nomem:
	rc = dits_error_set(DITS_ENOMEM, "out of memory");
out:
	free(t);
	xmlFreeDoc(doc);
	if (rc < 0)
		s3_list_page_free(page);
	return rc;
}

int s3_xml_upload_id(const char *xml, size_t len, char **upload_id)
{
	*upload_id = NULL;
	xmlDocPtr doc = read_doc(xml, len, "S3 multipart upload response");
	if (!doc)
		return DITS_EINVALID;
	const xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	const xmlNode *u;
	if (!is_el(root, "InitiateMultipartUploadResult")) {
		rc = dits_error_set(DITS_EINVALID,
		                    "S3 multipart upload response: root element <%s>, not <InitiateMultipartUploadResult>",
		                    (const char *)root->name);
	} else if (!(u = child(root, "UploadId"))) {
		rc = dits_error_set(DITS_EINVALID, "S3 multipart upload response: no UploadId");
	} else if (!(*upload_id = text_of(u))) {
		rc = dits_error_set(DITS_ENOMEM, "out of memory");
	} else if (!**upload_id || strlen(*upload_id) > 1024) {
		rc = dits_error_set(DITS_EINVALID, "S3 multipart upload response: an empty or overlong UploadId");
		free(*upload_id);
		*upload_id = NULL;
	}
	xmlFreeDoc(doc);
	return rc;
}

int s3_uri_encode(dits_buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
		int rc;
		if (plain) {
			rc = dits_buf_put_u8(b, c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rc = dits_buf_put(b, e, 3);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}
