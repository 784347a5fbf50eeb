/*
 * s3_test_server - starts and stops tests/s3/server.mjs (s3rver behind a
 * proxy that verifies every SigV4 signature) on loopback for the S3 tests.
 */
#include "s3_test_server.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

char s3_test_dir[256];
char s3_test_endpoint[64];
static pid_t s3_test_server_pid;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

void s3_test_server_stop(void)
{
	if (s3_test_server_pid > 0) {
		kill(s3_test_server_pid, SIGTERM);
		waitpid(s3_test_server_pid, NULL, 0);
		s3_test_server_pid = 0;
	}
	if (s3_test_dir[0] && !getenv("KEEP_S3_DIR"))
		nftw(s3_test_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void s3_test_server_show_log(void)
{
	char path[300], line[512];
	snprintf(path, sizeof(path), "%s/server.log", s3_test_dir);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "server: %s", line);
	if (f)
		fclose(f);
}

int s3_test_server_start(void)
{
	const char *src = getenv("SRCDIR");
	if (!src)
		src = ".";
	char tmpl[] = "/tmp/dits-s3-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(s3_test_dir, sizeof(s3_test_dir), "%s", tmpl);
	char script[1024], data[300], portfile[300], logfile[300];
	snprintf(script, sizeof(script), "%s/tests/s3/server.mjs", src);
	snprintf(data, sizeof(data), "%s/data", s3_test_dir);
	snprintf(portfile, sizeof(portfile), "%s/port", s3_test_dir);
	snprintf(logfile, sizeof(logfile), "%s/server.log", s3_test_dir);
	char modules[1100];
	snprintf(modules, sizeof(modules), "%s/tests/s3/node_modules/s3rver", src);
	if (access(modules, R_OK)) {
		fprintf(stderr, "%s is missing: run scripts/install-deps.sh (npm ci in tests/s3)\n", modules);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider */
	char *argv[] = {"node", "--openssl-legacy-provider", script, "--dir", data, "--port-file", portfile, "--bucket", S3_TEST_BUCKET,
	                "--access-key", S3_TEST_KEY_ID, "--secret", S3_TEST_SECRET, "--region", "us-east-1", NULL};
	int rc = posix_spawnp(&s3_test_server_pid, "node", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "cannot start node: %s\n", strerror(rc));
		s3_test_server_pid = 0;
		return -1;
	}
	for (int i = 0; i < 600; i++) { /* 30 s */
		FILE *f = fopen(portfile, "r");
		int port = 0;
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port > 0) {
			snprintf(s3_test_endpoint, sizeof(s3_test_endpoint), "http://127.0.0.1:%d", port);
			return 0;
		}
		int st;
		if (waitpid(s3_test_server_pid, &st, WNOHANG) == s3_test_server_pid) {
			s3_test_server_pid = 0;
			fprintf(stderr, "the S3 server exited at start\n");
			s3_test_server_show_log();
			return -1;
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "the S3 server did not start within 30 s\n");
	s3_test_server_show_log();
	return -1;
}
