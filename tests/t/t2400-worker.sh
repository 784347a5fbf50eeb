#!/usr/bin/env bash
# A fleet of workers: `dits worker --root` runs a server's workers with no
# HTTP listener. Two of them share a ROOT and its job queue (SQLite, or
# PostgreSQL under tests/pg/pg.sh); the one that claimed a job is killed
# with -9 in the middle of it, the other takes the job over once the lease
# expires, never while the lease is held, and exactly one ready proxy comes
# out. The database refuses a second ready variant for one recipe. With
# PostgreSQL, an idle worker is woken by the NOTIFY of a job queued by
# another process, not by its look through ROOT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-sync.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'a fleet of workers' 'ffmpeg is not installed'
	test_done
fi
PSQL=${PGBIN:-/usr/lib/postgresql/15/bin}/psql
if [ -z "${DITS_METADB_URL:-}" ] && ! command -v sqlite3 >/dev/null 2>&1; then
	test_skip 'a fleet of workers' 'sqlite3 is not installed'
	test_done
fi

cd "$TRASH" || exit 1

# sql QUERY: one query on the repository's metadata, unaligned output
sql () {
	if [ -n "${DITS_METADB_URL:-}" ]; then
		"$PSQL" -qAt -v ON_ERROR_STOP=1 -d "$DITS_METADB_URL" -c "$1"
	else
		sqlite3 -bail "$TRASH/root/shot/.dits/dits.db" "$1"
	fi
}

# test_must_fail_sql QUERY: the database must refuse QUERY
test_must_fail_sql () {
	if sql "$1"; then
		say "the database took: $1"
		return 1
	fi
}

# start_worker TAG ARGS...: `dits worker --root root --json ARGS` in the
# background; sets WPID. Its lines go to TAG.out, its errors to TAG.err.
start_worker () {
	_tag=$1
	shift
	"$DITS" worker --root root --json "$@" >"$TRASH/$_tag.out" 2>"$TRASH/$_tag.err" &
	WPID=$!
	test_at_end "kill -9 $WPID 2>/dev/null"
}

test_expect_success 'setup: a repository under ROOT with a master whose proxy takes a few seconds' '
	mkdir root &&
	dits init root/shot >/dev/null &&
	cd root/shot &&
	make_master A001C001.mov 1920x1080 5 01:00:00:00 2 &&
	dits add A001C001.mov >/dev/null &&
	dits commit -m "a long take" >/dev/null &&
	dits proxy generate --queue --no-extras A001C001.mov >../../q.out &&
	assert_eq queued "$(sql "SELECT state FROM jobs")"
'

test_expect_success 'dits worker --root refuses what is for one repository, and a bad ROOT' '
	test_expect_code 2 dits worker --root root --drain 2>err &&
	assert_file_has err "^dits: error: worker: --root runs until stopped" &&
	test_expect_code 2 dits worker --json 2>err &&
	assert_file_has err "need --root$" &&
	test_expect_code 2 dits worker --root root --workers 0 2>err &&
	assert_file_has err "^dits: error: worker: --workers takes 1..64" &&
	test_expect_code 1 dits worker --root nowhere --once 2>err &&
	assert_one_line_error err "nowhere"
'

test_expect_success 'two workers on one ROOT: the claimer is killed -9 mid-job, the other takes over after the lease' '
	start_worker w1 --lease 3 && p1=$WPID &&
	start_worker w2 --lease 3 && p2=$WPID &&
	n=0 &&
	while [ "$(sql "SELECT state FROM jobs")" != running ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done &&
	assert_eq running "$(sql "SELECT state FROM jobs")" &&
	owner=$(sql "SELECT lease_owner FROM jobs") &&
	pid=$(echo "$owner" | cut -d: -f2) &&
	if [ "$pid" = "$p1" ]; then victim=$p1 victim_tag=w1 survivor=w2 spid=$p2; elif [ "$pid" = "$p2" ]; then victim=$p2 victim_tag=w2 survivor=w1 spid=$p1;
	else say "lease owner $owner is neither worker ($p1, $p2)"; false; fi &&
	sleep 1 &&
	kill -9 "$victim" &&
	killed=$(now_ms) &&
	{ wait "$victim" 2>/dev/null; true; } &&
	expires=$(sql "SELECT lease_expires FROM jobs") &&
	: >owners.log &&
	n=0 &&
	while ! grep -q "\"state\": \"ready\"" "$survivor.out" && [ $n -lt 1200 ]; do
		now=$(date +%s) &&
		echo "$now $(sql "SELECT lease_owner || '\'' '\'' || attempts FROM jobs")" >>owners.log &&
		sleep 0.1 && n=$((n + 1))
	done &&
	done_ms=$(now_ms) &&
	# "ready" is printed as the proxy is registered, just before the job is marked done
	n=0 &&
	while [ "$(sql "SELECT state FROM jobs")" != done ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done &&
	assert_file_has "$survivor.out" "^{\"repo\": \"shot\", \"path\": \"A001C001.mov\", \"state\": \"ready\", \"message\": null}$" &&
	# Nobody else held the job while the killed worker'\''s lease was valid.
	awk -v o="$owner" -v e="$expires" "\$2 != o && \$1 < e { bad = 1 } END { exit bad }" owners.log &&
	taken=$(awk -v o="$owner" "\$2 != o { print \$1; exit }" owners.log) &&
	test -n "$taken" &&
	assert_ge "$taken" "$expires" &&
	say "lease takeover: killed at $killed ms, lease expired at ${expires}000 ms, taken over at ~${taken}000 ms, proxy ready $((done_ms - killed)) ms after the kill" &&
	assert_eq "done 2" "$(sql "SELECT state || '\'' '\'' || attempts FROM jobs")" &&
	assert_eq 1 "$(sql "SELECT count(*) FROM asset_variants WHERE variant_type = '\''proxy_1080p'\'' AND status = '\''ready'\''")" &&
	kill -TERM $spid &&
	wait $spid &&
	test ! -s "$victim_tag.out"
'

test_expect_success 'the proxy is the one recipe'\''s only variant, intact' '
	cd root/shot &&
	dits proxy status --json A001C001.mov >../../ps.json &&
	assert_eq ready "$(json_str state <../../ps.json)" &&
	dits fsck >../../fsck.out &&
	assert_eq ok "$(cat ../../fsck.out)"
'

test_expect_success 'the database refuses a second ready variant for one recipe' '
	if [ -n "${DITS_METADB_URL:-}" ]; then
		dup="INSERT INTO asset_variants(id, repo, parent_asset_id, variant_type, recipe_hash, status, created_at, updated_at)
		     SELECT gen_random_uuid(), repo, parent_asset_id, variant_type, recipe_hash, '\''ready'\'', 0, 0
		     FROM asset_variants WHERE variant_type = '\''proxy_1080p'\''"
	else
		dup="INSERT INTO asset_variants(id, parent_asset_id, variant_type, recipe_hash, status, created_at, updated_at)
		     SELECT lower(hex(randomblob(16))), parent_asset_id, variant_type, recipe_hash, '\''ready'\'', 0, 0
		     FROM asset_variants WHERE variant_type = '\''proxy_1080p'\''"
	fi &&
	test_must_fail_sql "$dup" 2>err &&
	grep -qi "unique\|duplicate" err &&
	assert_eq 1 "$(sql "SELECT count(*) FROM asset_variants WHERE variant_type = '\''proxy_1080p'\''")"
'

test_expect_success 'SIGTERM while a job runs: the job finishes and is recorded, exit 0' '
	cd root/shot &&
	make_master A001C002.mov 1280x720 2 02:00:00:00 2 &&
	dits add A001C002.mov >/dev/null &&
	dits commit -m "another take" >/dev/null &&
	dits proxy generate --queue --no-extras A001C002.mov >/dev/null &&
	cd ../.. &&
	start_worker w3 &&
	n=0 &&
	# its own claim: the signal comes while its job runs
	while ! sql "SELECT lease_owner FROM jobs WHERE state = '\''running'\''" | grep -q ":$WPID:" &&
		[ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done &&
	kill -TERM $WPID &&
	wait $WPID &&
	assert_file_has w3.out "\"path\": \"A001C002.mov\", \"state\": \"ready\"" &&
	assert_eq 0 "$(sql "SELECT count(*) FROM jobs WHERE state <> '\''done'\''")"
'

test_expect_success '--once ends, exit 1, when a repository with a ready job cannot be opened' '
	dits init root/broken >/dev/null &&
	cd root/broken &&
	make_master B001.mov 320x180 1 04:00:00:00 2 &&
	dits add B001.mov >/dev/null &&
	dits commit -m "a take" >/dev/null &&
	dits proxy generate --queue --no-extras B001.mov >/dev/null &&
	mv .dits/objects .dits/objects.moved &&
	: >.dits/objects &&
	cd ../.. &&
	test_expect_code 1 timeout 60 "$DITS" worker --root root --once >once.out 2>once.err &&
	assert_file_has once.err "^dits: worker: broken: .*objects" &&
	assert_eq "worker: 0 done, 0 failed, 0 retried" "$(cat once.out)" &&
	rm root/broken/.dits/objects &&
	mv root/broken/.dits/objects.moved root/broken/.dits/objects &&
	"$DITS" worker --root root --once --json >once.json &&
	assert_eq "{\"repo\": \"broken\", \"path\": \"B001.mov\", \"state\": \"ready\", \"message\": null}" "$(cat once.json)"
'

# serve_s3 TAG [ROOT [PREFIX [ARGS...]]]: `dits serve` on ROOT (s3root)
# with its packs in the S3 test server under PREFIX (fleet) and no workers
# of its own; sets SURL.
serve_s3 () {
	_t=$1 _r=${2:-s3root} _p=${3:-fleet}
	shift $(($# < 3 ? $# : 3))
	mkdir -p "$_r"
	DITS_PROXY_AUTO=1 "$DITS" serve --root "$_r" --listen 127.0.0.1:0 --workers 0 --store "s3://media/$_p" \
		--store-cache-dir "$TRASH/cache-$_t" "$@" >"$TRASH/$_t.out" 2>"$TRASH/$_t.err" &
	test_at_end "kill -9 $!"
	for _i in $(seq 100); do grep -q '^listening on ' "$TRASH/$_t.out" && break; sleep 0.1; done
	SURL=$(sed -n 's/^listening on //p' "$TRASH/$_t.out")
	test -n "$SURL"
}

if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRCDIR/tests/s3/node_modules/s3rver" ]; then
	test_skip 'workers beside two servers on S3' 'node or tests/s3/node_modules is missing'
else
	test_expect_success 'S3: pushed through one server, proxy made by a worker, proxy clone from the other' '
		start_s3 "$TRASH/s3" media && test_at_end "stop_s3 $S3_PID" &&
		serve_s3 s1 && url1=$SURL &&
		serve_s3 s2 && url2=$SURL &&
		dits init team >/dev/null &&
		cd team &&
		make_master C001.mov 640x360 1 05:00:00:00 2 &&
		dits add C001.mov >/dev/null &&
		dits commit -m "a take" >/dev/null &&
		dits remote add origin "$url1/team" >/dev/null &&
		dits push origin main >/dev/null 2>&1 &&
		cd .. &&
		# server 2 lists the packs now, before the worker publishes the proxy
		curl -sf "$url2/team/variants" >/dev/null &&
		"$DITS" worker --root s3root --once --json --store s3://media/fleet \
			--store-cache-dir "$TRASH/cache-w" >s3w.json &&
		assert_file_has s3w.json "\"path\": \"C001.mov\", \"state\": \"ready\"" &&
		test ! -e s3root/team/.dits/objects/pack/*.pack &&
		dits clone "$url2/team" editor --mode proxy >clone.out &&
		assert_file_has clone.out "1 file, 1 as a proxy" &&
		cd editor &&
		dits mode >../mode.out &&
		assert_eq "[P] C001.mov" "$(cat ../mode.out)"
	'
fi

if [ -z "${DITS_METADB_URL:-}" ]; then
	test_skip 'a NOTIFY wakes an idle worker' 'the metadata is in SQLite (run through tests/pg/pg.sh)'
	test_done
fi

test_expect_success 'PostgreSQL: a job queued by another process wakes an idle worker at once' '
	# Looks through ROOT only every 60 s: only the notification can be in time.
	DITS_WORKER_SCAN=60 start_worker w4 &&
	sleep 1 &&
	cd root/shot &&
	make_master A001C003.mov 320x180 1 03:00:00:00 2 &&
	dits add A001C003.mov >/dev/null &&
	dits commit -m "a short take" >/dev/null &&
	t0=$(now_ms) &&
	dits proxy generate --queue --no-extras A001C003.mov >/dev/null &&
	n=0 &&
	while [ "$(sql "SELECT count(*) FROM jobs WHERE state = '\''queued'\''")" != 0 ] && [ $n -lt 200 ]; do sleep 0.01; n=$((n + 1)); done &&
	t1=$(now_ms) &&
	say "queued to claimed: $((t1 - t0)) ms" &&
	assert_le $((t1 - t0)) 3000 &&
	cd ../.. &&
	n=0 &&
	while ! grep -q "A001C003.mov" w4.out && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done &&
	assert_file_has w4.out "\"path\": \"A001C003.mov\", \"state\": \"ready\"" &&
	kill -TERM $WPID &&
	wait $WPID
'

if [ ! -s "$TRASH/s3/port" ]; then
	test_skip 'a worker of a fleet (--db)' 'no S3 test server (node or tests/s3/node_modules is missing)'
else
	test_expect_success 'PostgreSQL fleet: a worker with --db and a ROOT of its own makes the proxy of a push' '
		serve_s3 f1 fleet-s1 dbfleet --db "$DITS_METADB_URL" && furl=$SURL &&
		dits init fl >/dev/null &&
		cd fl &&
		make_master D001.mov 320x180 1 06:00:00:00 2 &&
		dits add D001.mov >/dev/null &&
		dits commit -m "a take" >/dev/null &&
		dits remote add origin "$furl/fl" >/dev/null &&
		dits push origin main >/dev/null 2>&1 &&
		cd .. &&
		test ! -e fleet-w &&
		mkdir fleet-w &&
		"$DITS" worker --root fleet-w --db "$DITS_METADB_URL" --store s3://media/dbfleet \
			--store-cache-dir "$TRASH/cache-fw" --once --json >fw.json &&
		assert_eq "{\"repo\": \"fl\", \"path\": \"D001.mov\", \"state\": \"ready\", \"message\": null}" "$(cat fw.json)" &&
		dits clone "$furl/fl" fl-editor --mode proxy >fclone.out &&
		assert_file_has fclone.out "1 file, 1 as a proxy"
	'
fi

test_done
