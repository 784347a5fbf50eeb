#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's postgresql-15.
#
#   pg.sh start DIR     initdb into DIR/data, start postgres on 127.0.0.1 at a
#                       free port (unix socket in DIR too), create database
#                       "dits" and print its URL (also kept in DIR/url)
#   pg.sh stop DIR      stop that server (DIR stays; remove it yourself)
#   pg.sh run CMD...    start a server in a fresh temporary directory, run CMD
#                       with DITS_TEST_PG_URL (and DITS_TEST_METADB_URL when
#                       DITS_TEST_PG_STORIES=1) set to its URL, stop the server
#                       and remove the directory however CMD ends; exits
#                       with CMD's status
#
# initdb refuses to run as root: as root the server runs as the unprivileged
# user `nobody` (runuser), and DIR is handed to it. Only 127.0.0.1 and the
# socket in DIR listen; authentication is `trust` for the "dits" role.
# PG_SERVER_OPTS adds server settings (default: fsync off, for speed: the
# data is thrown away; bench/jobs.sh keeps fsync on).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_owner () {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

die () {
	echo "pg.sh: $*" >&2
	exit 1
}

pg_start () {
	local dir=$1
	[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (Debian package postgresql-15)"
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		chown nobody: "$dir"
		chmod 700 "$dir"
	fi
	as_owner "$PGBIN/initdb" -D "$dir/data" -U dits -A trust -E UTF8 --no-locale \
		--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	local port tries=0
	while :; do
		port=$((20000 + RANDOM % 40000))
		if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-k $dir -p $port -h 127.0.0.1 -c max_connections=200 ${PG_SERVER_OPTS--c fsync=off}" \
			start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		[ "$tries" -lt 5 ] || { cat "$dir/server.log" >&2; die "postgres did not start"; }
	done
	echo "$port" >"$dir/port"
	as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U dits dits ||
		die "cannot create database dits"
	local url="postgres://dits@127.0.0.1:$port/dits"
	echo "$url" >"$dir/url"
	echo "$url"
}

pg_stop () {
	local dir=$1
	[ -d "$dir/data" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}

case ${1:-} in
start)
	[ $# -eq 2 ] || die "usage: pg.sh start DIR"
	pg_start "$2"
	;;
stop)
	[ $# -eq 2 ] || die "usage: pg.sh stop DIR"
	pg_stop "$2"
	;;
run)
	shift
	[ $# -ge 1 ] || die "usage: pg.sh run CMD..."
	# Always under /tmp: nobody can reach it (a TMPDIR under /root it could
	# not), and the socket path stays under the 107-byte limit.
	dir=$(mktemp -d /tmp/dits-pg.XXXXXX)
	trap 'pg_stop "$dir"; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	url=$(pg_start "$dir")
	export DITS_TEST_PG_URL=$url
	if [ "${DITS_TEST_PG_STORIES:-}" = 1 ]; then
		export DITS_TEST_METADB_URL=$url
	fi
	set +e
	"$@"
	status=$?
	set -e
	exit $status
	;;
*)
	die "usage: pg.sh start DIR | stop DIR | run CMD..."
	;;
esac
