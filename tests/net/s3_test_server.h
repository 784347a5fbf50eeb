/*
 * s3_test_server.h - the loopback S3 server of the S3 tests.
 *
 * s3_test_server_start makes a scratch directory (s3_test_dir), starts
 * tests/s3/server.mjs under SRCDIR (the source tree, "." when unset) with
 * one bucket and one key pair, and waits up to 30 s for its port
 * (s3_test_endpoint, "http://127.0.0.1:PORT"). -1, said on stderr with the
 * server's log, when it cannot. s3_test_server_stop ends it and removes
 * the directory (kept when KEEP_S3_DIR is set).
 */
#ifndef DITS_S3_TEST_SERVER_H
#define DITS_S3_TEST_SERVER_H

#define S3_TEST_BUCKET "dits-test"
#define S3_TEST_KEY_ID "DITSTESTKEY"
#define S3_TEST_SECRET "dits-test-secret/KEY+1"

extern char s3_test_dir[256];
extern char s3_test_endpoint[64];

int s3_test_server_start(void);
void s3_test_server_stop(void);
/* Copies the server's log to stderr, each line prefixed "server: ". */
void s3_test_server_show_log(void);

#endif
