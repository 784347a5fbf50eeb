#!/usr/bin/env bash
# An editor works in a proxy clone: the masters stay on the server until a
# path needs one. Switching a mounted file to its master fetches that master
# first (or refuses, changing nothing, when it cannot); fetch and pull leave
# out a master whose proxy the server is still making, and bring the proxy
# once it is ready. A program that reads a master through the library gets
# it from the server too (the store's promisor backend).
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	test_skip 'partial clone' 'ffmpeg is not installed'
	test_done
fi

MNT=$TRASH/mnt
A=media/day1/A001.mov
B=media/day1/B002.mov
C=media/day2/C003.mov
E=media/day3/E004.mov

# proxies_now: the server makes the proxies it has queued (it runs no
# workers of its own here, so a proxy stays queued until this is called)
proxies_now () {
	if [ "${DITS_TEST_FLEET:-}" = 1 ]; then
		# a worker of the fleet (docs/SERVER.md): the repository's packs
		# are in S3, its queue in PostgreSQL
		"$DITS" worker --root "$TRASH/srv" --once --db "$DITS_FLEET_DB" \
			--store "$DITS_FLEET_STORE" >/dev/null 2>&1
	else
		(cd "$TRASH/srv/film" && dits worker --drain >/dev/null 2>&1)
	fi
}

mode_in () { # mode_in DIR PATH: the marker of PATH in `dits mode` run in DIR
	(cd "$1" && dits mode) | grep " $2\$" | cut -c2
}

test_expect_success 'setup: two masters pushed; the server makes their proxies' '
	DITS_PROXY_AUTO=1 start_server main "$TRASH/srv" --workers 0 &&
	dits init room >/dev/null && cd room &&
	mkdir -p media/day1 &&
	make_master $A 1280x720 2 01:00:00:00 2 25 &&
	make_master $B 1280x720 2 02:00:00:00 2 25 &&
	dits add media >/dev/null && dits commit -m "day 1" >/dev/null &&
	dits remote add origin "$SERVER_URL/film" &&
	dits push origin main >/dev/null 2>&1 &&
	proxies_now &&
	wait_proxies "$SERVER_URL" film 2 60
'

test_expect_success 'a proxy clone holds the proxies, not the masters' '
	dits clone "$SERVER_URL/film" edit --mode proxy >/dev/null 2>&1 &&
	cd edit &&
	assert_eq P "$(mode_in . $A)" &&
	assert_eq P "$(mode_in . $B)" &&
	b3 $B >../B.proxy.b3 &&
	assert_ne "$(b3 $B)" "$(b3 ../room/$B)" "the proxy differs from the master"
'

fuse_reason=
if [ ! -e /dev/fuse ]; then
	fuse_reason="/dev/fuse is not available here"
else
	mkdir -p "$TRASH/probe"
	if (cd "$TRASH/edit" && dits mount "$TRASH/probe" >"$TRASH/probe.out" 2>&1); then
		(cd "$TRASH/edit" && dits umount "$TRASH/probe" >/dev/null 2>&1)
	else
		fuse_reason="mounting is not permitted here: $(head -n 1 "$TRASH/probe.out")"
	fi
fi
if [ -n "$fuse_reason" ]; then
	for step in 'mount: mode master fetches the master' 'mount: refusal when the server is gone' \
		'mount: the control file refuses an absent master'; do
		test_skip "$step" "$fuse_reason"
	done
else
	test_at_end "dits umount --lazy '$MNT'; fusermount3 -uz '$MNT'"

	test_expect_success 'mount, then mode master PATH: the master is fetched first and reads byte for byte' '
		mkdir "$MNT" &&
		(cd edit && dits mount "$MNT" --mode proxy >/dev/null) &&
		cd "$MNT" &&
		dits mode master $A >../mode.out 2>../mode.err &&
		assert_file_has ../mode.err "fetched 1 master" &&
		assert_eq M "$(mode_in "$MNT" $A)" &&
		assert_eq P "$(mode_in "$MNT" $B)" &&
		assert_eq "$(b3 "$MNT/$A")" "$(b3 "$TRASH/room/$A")"
	'

	test_expect_success 'with the server gone, mode master PATH refuses in one line; the proxy is still served' '
		{ kill -9 $SERVER_PID; wait $SERVER_PID; true; } 2>/dev/null &&
		cd "$MNT" &&
		test_expect_code 1 dits mode master $B 2>../refuse.err &&
		assert_one_line_error ../refuse.err "$B" &&
		assert_eq P "$(mode_in "$MNT" $B)" &&
		assert_eq "$(cat ../B.proxy.b3)" "$(b3 "$MNT/$B")"
	'

	test_expect_success 'the mount itself refuses to switch to a master whose chunks are absent' '
		{ printf "master %s\n" $B >"$MNT/.dits-control"; rc=$?; } 2>/dev/null &&
		assert_ne 0 "$rc" "the control write" &&
		assert_eq P "$(mode_in "$MNT" $B)" &&
		assert_eq "$(cat B.proxy.b3)" "$(b3 "$MNT/$B")" &&
		(cd edit && dits umount "$MNT")
	'
fi

test_expect_success 'a new master is pushed; its proxy stays queued on the server' '
	{ kill -9 $SERVER_PID; wait $SERVER_PID; true; } 2>/dev/null &&
	DITS_PROXY_AUTO=1 start_server again "$TRASH/srv" --workers 0 &&
	(cd edit && dits config remote.origin.url "$SERVER_URL/film") &&
	cd room &&
	dits config remote.origin.url "$SERVER_URL/film" &&
	mkdir -p media/day2 &&
	make_master $C 1024x576 2 03:00:00:00 2 25 &&
	dits add media >/dev/null && dits commit -m "day 2" >/dev/null &&
	dits push origin main >/dev/null 2>&1 &&
	curl -s "$SERVER_URL/film/variants" >../variants.json &&
	assert_file_has ../variants.json "\"type\":\"proxy_1080p\",\"status\":\"queued\"" &&
	assert_eq 2 "$(ready_proxies "$SERVER_URL" film)"
'

test_expect_success 'fetch-proxy names the file whose proxy is still queued there, exit 1, makes none here' '
	cd room &&
	test_expect_code 1 dits fetch-proxy $C >../fp.out 2>../fp.err &&
	assert_eq "dits: $C: the proxy on origin is queued (pending); use --wait" "$(cat ../fp.err)" &&
	test_expect_code 1 dits fetch-proxy --wait --timeout 1 $C >/dev/null 2>../fpw.err &&
	assert_eq "dits: $C: the proxy on origin is queued (pending); gave up waiting" "$(cat ../fpw.err)" &&
	dits proxy status $C >../ps.out 2>&1 &&
	assert_file_lacks ../ps.out "^ready" &&
	assert_eq 2 "$(ready_proxies "$SERVER_URL" film)"
'

test_expect_success 'fetch in the proxy clone leaves that master out and says its proxy is not ready' '
	cd edit &&
	dits fetch --json >../f1.json 2>../f1.err &&
	assert_eq 1 "$(grep -c "^dits: $C: proxy not ready on origin yet (its proxy_1080p on the remote is queued)" ../f1.err)" &&
	assert_eq 1 "$(wc -l <../f1.err | tr -d " ")" &&
	json_array proxies_not_ready <../f1.json | json_objects | grep -q "\"path\":\"$C\"" &&
	assert_eq 1 "$(json_num refs_updated <../f1.json)" &&
	got=$(json_num bytes_received <../f1.json) &&
	say "fetched $got bytes; the master is $(file_size ../room/$C) bytes" &&
	assert_le "$got" $(( $(file_size ../room/$C) / 4 ))
'

test_expect_success 'pull does not write that file without its master: one line, nothing changed' '
	cd edit &&
	dits log >../log.before &&
	test_expect_code 1 dits pull >../p1.out 2>../p1.err &&
	tail -n 1 ../p1.err >../p1.last &&
	assert_one_line_error ../p1.last "$C" &&
	assert_file_has ../p1.last "pull again once it is ready" &&
	dits log >../log.after &&
	assert_files_eq ../log.before ../log.after &&
	assert_missing $C &&
	dits status --json | json_raw clean | grep -qx true
'

test_expect_success 'once the proxy is ready, fetch brings the proxy and pull writes it in proxy mode' '
	proxies_now &&
	wait_proxies "$SERVER_URL" film 3 60 &&
	cd edit &&
	dits fetch --json >../f2.json 2>../f2.err &&
	assert_file_lacks ../f2.err "not ready" &&
	assert_ge "$(json_num variants_imported <../f2.json)" 1 &&
	dits pull >/dev/null 2>../p2.err &&
	assert_eq P "$(mode_in . $C)" &&
	got=$(json_num bytes_received <../f2.json) &&
	say "fetched $got bytes for a $(file_size $C)-byte proxy of a $(file_size ../room/$C)-byte master" &&
	assert_le "$got" $(( $(file_size $C) * 11 / 10 + 65536 )) &&
	assert_eq "$(probe_tc $C)" 03:00:00:00 &&
	assert_ne "$(b3 $C)" "$(b3 ../room/$C)" "the proxy, not the master" &&
	dits status --json | json_raw clean | grep -qx true &&
	dits fsck >/dev/null 2>&1
'

# codec FILE: the video codec ffprobe reads (prores, h264, dnxhd)
codec () {
	ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 "$1"
}

test_expect_success 'three recipes for one master: checkout --mode proxy takes the configured one, else the default' '
	cd room &&
	orig=$(b3 $A) &&
	dits proxy generate --no-extras --profile h264 $A >/dev/null 2>&1 &&
	dits proxy generate --no-extras $A >/dev/null 2>&1 &&
	dits proxy generate --no-extras --profile dnxhr_lb --resolution 720 $A >/dev/null 2>&1 &&
	for c in ":prores" "h264:1080:h264" "dnxhr_lb:720:dnxhd" "h264:540:prores" "prores_proxy:720:prores"; do
		prof=${c%%:*} want=${c##*:} res=${c#*:} && res=${res%:*} &&
		{ dits config --unset proxy.profile 2>/dev/null; dits config --unset proxy.resolution 2>/dev/null; true; } &&
		if [ -n "$prof" ]; then dits config proxy.profile $prof && dits config proxy.resolution $res; fi &&
		dits checkout --mode proxy -- $A >/dev/null 2>&1 &&
		assert_eq "$want" "$(codec $A)" "proxy for profile ${prof:-default} at ${res:-default}" &&
		dits checkout --mode master -- $A >/dev/null 2>&1 || return 1
	done &&
	assert_eq "$orig" "$(b3 $A)"
'

if [ -z "$fuse_reason" ]; then
	test_expect_success 'the mount serves the proxy of the configured recipe' '
		cd room &&
		dits config proxy.profile h264 && dits config proxy.resolution 1080 &&
		dits mount "$MNT" --mode proxy >/dev/null &&
		{ got=$(codec "$MNT/$A"); dits umount "$MNT"; } &&
		assert_eq h264 "$got" &&
		dits config --unset proxy.profile && dits config --unset proxy.resolution &&
		dits mount "$MNT" --mode proxy >/dev/null &&
		{ got=$(codec "$MNT/$A"); dits umount "$MNT"; } &&
		assert_eq prores "$got"
	'
else
	test_skip 'the mount serves the proxy of the configured recipe' "$fuse_reason"
fi

test_expect_success 'a proxy clone fetches and checks out the proxy of its configured recipe' '
	cd room &&
	mkdir -p media/day3 &&
	make_master $E 640x360 1 04:00:00:00 2 25 &&
	dits add media >/dev/null && dits commit -m "day 3" >/dev/null &&
	dits proxy generate --no-extras --profile h264 $E >/dev/null 2>&1 &&
	dits proxy generate --no-extras $E >/dev/null 2>&1 &&
	dits push origin main >/dev/null 2>&1 &&
	cd ../edit &&
	dits config proxy.profile h264 &&
	dits pull >/dev/null 2>../p3.err &&
	assert_eq P "$(mode_in . $E)" &&
	assert_eq h264 "$(codec $E)" &&
	cd .. &&
	dits clone "$SERVER_URL/film" edit2 --mode proxy >/dev/null 2>&1 &&
	assert_eq prores "$(codec edit2/$E)" &&
	(cd edit2 && dits fsck >/dev/null 2>&1)
'

test_expect_success 'a program reading an absent master through the library fetches it from the partial remote' '
	cd edit2 &&
	asset=$(dits ls-files | awk -v p="$A" "\$NF == p { print \$2 }") &&
	before=$(dits stats --json | json_num stored_bytes) &&
	"$NET_TOOL" cat . "$asset" >../A.read &&
	assert_eq "$(b3 ../room/$A)" "$(b3 ../A.read)" &&
	after=$(dits stats --json | json_num stored_bytes) &&
	say "read a $(file_size ../A.read)-byte master; the store grew by $((after - before)) bytes" &&
	assert_ge $((after - before)) "$(file_size ../room/$A)" &&
	dits fsck >/dev/null 2>&1
'

test_done
