/*
 * fuzz_s3_xml - the S3 client's XML response parsers (src/net/s3_xml.c):
 * the answers of an object store are outside bytes. Each input goes to the
 * Error, ListBucketResult and InitiateMultipartUploadResult parsers; what
 * they accept must hold together.
 */
#include "fuzz_common.h"

#include "error.h"
#include "s3_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	char *code = NULL, *msg = NULL;
	if (s3_xml_error(xml, size, &code, &msg) == 0) {
		if (!code || !msg)
			abort();
	}
	free(code);
	free(msg);

	s3_list_page page;
	if (s3_xml_list(xml, size, &page) == 0) {
		for (size_t i = 0; i < page.n; i++)
			if (!page.items[i].key || !page.items[i].key[0] || !page.items[i].etag)
				abort();
		if (page.truncated && (!page.next_token || !page.next_token[0]))
			abort();
		s3_list_page_free(&page);
	}

	char *id = NULL;
	if (s3_xml_upload_id(xml, size, &id) == 0) {
		if (!id || !id[0])
			abort();
	}
	free(id);

	dits_buf b = DITS_BUF_INIT;
	if (size && s3_uri_encode(&b, "", 0) == 0) {
		char *s = malloc(size + 1);
		if (s) {
			memcpy(s, data, size);
			s[size] = 0;
			if (s3_uri_encode(&b, s, data[0] & 1) == 0) {
				for (size_t i = 0; i < b.len; i++) {
					uint8_t c = b.data[i];
					if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
					      c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '/'))
						abort();
				}
			}
			free(s);
		}
	}
	dits_buf_free(&b);
	dits_error_clear();
	return 0;
}
