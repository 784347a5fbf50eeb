#!/usr/bin/env bash
# Reliability of sync (issue 5, "Must show"): 32 clients pushing and fetching
# against one server at once lose nothing; racing pushes to one branch never
# lose a commit; a server killed in the middle of a push leaves a consistent
# repository and the push completes on retry.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

N=32

test_expect_success 'a server starts and a seed repository is pushed' '
	start_server main "$TRASH/srv" --workers 0 &&
	dits init seed && cd seed &&
	gen_data base.bin 3000000 seed-base &&
	dits add base.bin && dits commit -m base &&
	dits remote add origin "$SERVER_URL/team" &&
	dits push origin main
'

test_expect_success "$N clients clone at once" '
	pids= i=1 &&
	while [ $i -le $N ]; do
		dits clone "$SERVER_URL/team" "c$i" >"$TRASH/clone-$i.log" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done &&
	for p in $pids; do wait "$p" || return 1; done &&
	i=1 &&
	while [ $i -le $N ]; do
		assert_eq "$(b3 "c$i/base.bin")" "$(b3 seed/base.bin)" || return 1
		i=$((i + 1))
	done
'

test_expect_success "$N clients push their own branches while others fetch, all at once" '
	i=1 &&
	while [ $i -le $N ]; do
		(cd "c$i" && dits checkout -b "b$i" >/dev/null &&
			gen_data "own-$i.bin" $((400000 + i * 1000)) "client-$i" &&
			dits add "own-$i.bin" && dits commit -m "client $i" >/dev/null) || return 1
		i=$((i + 1))
	done &&
	pids= i=1 &&
	while [ $i -le $N ]; do
		(cd "c$i" && dits push origin "b$i" && dits fetch origin) >"$TRASH/push-$i.log" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done &&
	fails=0 &&
	for p in $pids; do wait "$p" || fails=$((fails + 1)); done &&
	if [ $fails -ne 0 ]; then cat "$TRASH"/push-*.log; fi &&
	assert_eq $fails 0
'

test_expect_success 'nothing was lost: every branch is on the server with its bytes' '
	i=1 &&
	while [ $i -le $N ]; do
		assert_eq "$(server_ref srv team refs/heads/b$i "$SERVER_URL")" "$(cat "c$i/.dits/refs/heads/b$i")" ||
			return 1
		i=$((i + 1))
	done &&
	dits clone "$SERVER_URL/team" check && cd check &&
	i=1 &&
	while [ $i -le $N ]; do
		dits checkout "origin/b$i" -- "own-$i.bin" &&
		assert_eq "$(b3 "own-$i.bin")" "$(b3 "$TRASH/c$i/own-$i.bin")" || return 1
		i=$((i + 1))
	done
'

test_expect_success 'fsck is clean on the server and on every client' '
	server_fsck srv team "$SERVER_URL" &&
	i=1 &&
	while [ $i -le $N ]; do
		(cd "c$i" && dits fsck >/dev/null) || return 1
		i=$((i + 1))
	done
'

test_expect_success 'eight racing pushes to one branch: one wins, the others are refused, none is lost' '
	i=1 &&
	while [ $i -le 8 ]; do
		(cd "c$i" && dits checkout main >/dev/null && dits pull origin main >/dev/null &&
			gen_data "race-$i.bin" 200000 "race-$i" && dits add "race-$i.bin" &&
			dits commit -m "race $i" >/dev/null) || return 1
		i=$((i + 1))
	done &&
	pids= i=1 &&
	while [ $i -le 8 ]; do
		(cd "c$i" && dits push origin main) >"$TRASH/race-$i.log" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done &&
	wins=0 &&
	for p in $pids; do if wait "$p"; then wins=$((wins + 1)); fi; done &&
	assert_eq "$wins" 1 &&
	main=$(server_ref srv team refs/heads/main "$SERVER_URL") &&
	winner=0 && i=1 &&
	while [ $i -le 8 ]; do
		if [ "$(cat "c$i/.dits/refs/heads/main")" = "$main" ]; then winner=$i; fi
		i=$((i + 1))
	done &&
	assert_ne "$winner" 0 &&
	# every loser was told, and kept its commit
	i=1 &&
	while [ $i -le 8 ]; do
		if [ $i -ne $winner ]; then
			assert_file_has "$TRASH/race-$i.log" "fetch|pull|fast-forward" &&
			assert_exists "c$i/race-$i.bin" || return 1
		fi
		i=$((i + 1))
	done &&
	server_fsck srv team "$SERVER_URL"
'

test_expect_success 'a server killed in the middle of a push: consistent after restart, and the push completes' '
	cd seed &&
	dits pull origin main >/dev/null &&
	gen_data big.bin 300000000 big-push &&
	dits add big.bin && dits commit -m big >/dev/null &&
	{ (dits push origin main --jobs 1 --limit-rate 40M --json >"$TRASH/kill-push.json" 2>"$TRASH/kill-push.err"; echo $? >"$TRASH/kill-push.rc") & } &&
	pusher=$! &&
	# kill the server once two upload requests have been stored (two new packs)
	before=$(server_packs "$TRASH/srv" team) &&
	t=0 &&
	while [ $t -lt 1200 ]; do
		[ "$(server_packs "$TRASH/srv" team)" -ge $((before + 2)) ] && break
		sleep 0.05
		t=$((t + 1))
	done &&
	kill -9 "$SERVER_PID" &&
	wait "$pusher" &&
	assert_ne "$(cat "$TRASH/kill-push.rc")" 0 &&
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		fleet_skip_check "fsck of the killed server before its restart" \
			"a fleet repository is checked through a clone, which needs a running server"
	else
		server_fsck "$TRASH/srv" team
	fi &&
	start_server main2 "$TRASH/srv" --workers 0 --listen "127.0.0.1:$SERVER_PORT" &&
	dits push origin main --json >"$TRASH/retry.json" &&
	sent=$(json_num bytes_sent <"$TRASH/retry.json") &&
	say "retry sent $sent bytes of a 300000000-byte file" &&
	assert_ge "$sent" 1 &&
	assert_le "$sent" 250000000 &&
	server_fsck "$TRASH/srv" team "$SERVER_URL" &&
	cd "$TRASH" && dits clone "$SERVER_URL/team" after &&
	assert_eq "$(b3 after/big.bin)" "$(b3 seed/big.bin)"
'

test_expect_success 'clients turned away by --max-per-client wait, retry and all complete' '
	start_server narrow "$TRASH/srv-narrow" --workers 0 --max-per-client 12 &&
	dits init small && cd small &&
	gen_data a.bin 4000000 small-a && gen_data b.bin 2000000 small-b &&
	dits add . >/dev/null && dits commit -m small >/dev/null &&
	dits remote add origin "$SERVER_URL/small" &&
	dits push origin main >/dev/null 2>&1 &&
	cd "$TRASH" &&
	pids= i=1 &&
	while [ $i -le 8 ]; do
		dits clone "$SERVER_URL/small" "n$i" >"$TRASH/narrow-$i.log" 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done &&
	for p in $pids; do wait "$p" || { cat "$TRASH"/narrow-*.log; return 1; }; done &&
	i=1 &&
	while [ $i -le 8 ]; do
		assert_eq "$(b3 "n$i/a.bin")" "$(b3 small/a.bin)" &&
		assert_eq "$(b3 "n$i/b.bin")" "$(b3 small/b.bin)" || return 1
		i=$((i + 1))
	done
'

test_done
