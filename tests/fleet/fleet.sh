# fleet.sh: a story against a fleet server (sourced by tests/t/lib.sh when
# DITS_TEST_FLEET=1; the *-fleet meson tests set it and run the story through
# tests/pg/pg.sh with DITS_TEST_PG_STORIES=1, docs/TESTING.md "A fleet").
#
# Every `dits serve` of the story gets --db and --store (tests/fleet/dits-fleet.sh
# stands in for $DITS): its repositories, refs, variants and jobs go to a
# PostgreSQL database of their own (the story's database, made by lib.sh,
# with "_srv" appended) and its packs to an S3 test server
# (tests/s3/server.mjs) started here for this story only, under the prefix
# s3://fleet/STORY. Stories running in parallel each have their own
# PostgreSQL server (pg.sh), database and S3 server, so they share nothing.
# A server restarted by the story finds its data again (same database and
# bucket). The clients keep their metadata in the story's database, as in
# the -pg runs.
#
# A step that looks into the server's files (ROOT/NAME/.dits, its refs or
# packs), which a fleet server keeps elsewhere, is written
#   not_in_fleet 'WHY' test_expect_success 'DESC' 'BODY'
# and is skipped with "# skipped in fleet mode: WHY" printed.

if [ -z "${DITS_METADB_URL:-}" ]; then
	echo "$TEST_NAME: DITS_TEST_FLEET=1 needs a PostgreSQL (run through tests/pg/pg.sh with DITS_TEST_PG_STORIES=1)" >&2
	exit 1
fi
if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	echo "$TEST_NAME: DITS_TEST_FLEET=1 needs node and tests/s3/node_modules (scripts/install-deps.sh)" >&2
	exit 1
fi
_fleet_db=${_test_pg_db}_srv
if ! "$_test_psql" -qAt -d "$DITS_TEST_METADB_URL" -c "CREATE DATABASE $_fleet_db" >/dev/null; then
	echo "$TEST_NAME: cannot create database $_fleet_db at $DITS_TEST_METADB_URL" >&2
	exit 1
fi
test_at_end "\"\$_test_psql\" -qAt -d \"\$DITS_TEST_METADB_URL\" -c 'DROP DATABASE IF EXISTS $_fleet_db WITH (FORCE)'"
# outside TRASH: a story may list or measure its trash directory
_fleet_s3=$(mktemp -d /tmp/dits-fleet-s3.XXXXXX) || exit 1
test_at_end "rm -rf \"$_fleet_s3\""
. "$SRCDIR/tests/t/lib-sync.sh"
start_s3 "$_fleet_s3" fleet || exit 1
test_at_end "stop_s3 $S3_PID"
export DITS_FLEET_REAL=$DITS
export DITS_FLEET_DB=${DITS_TEST_METADB_URL%/*}/$_fleet_db
export DITS_FLEET_STORE=s3://fleet/$TEST_NAME
# where the S3 test server keeps the objects under that prefix (server_packs)
DITS_FLEET_S3_DATA=$_fleet_s3/data/fleet/$TEST_NAME
DITS=$SRCDIR/tests/fleet/dits-fleet.sh
export DITS
echo "# fleet servers: --db $DITS_FLEET_DB --store $DITS_FLEET_STORE ($AWS_ENDPOINT_URL)" >&2
