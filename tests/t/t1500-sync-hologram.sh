#!/usr/bin/env bash
# The weak-link story (issue 5, "Must show"): 8K masters are pushed once from
# the cutting room, the server's own workers make their proxies, and an
# editor on a slow link clones in proxy mode: a few percent of the bytes,
# every path the timeline references present and decodable with the master's
# start timecode. Switching one path to master fetches that master only.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

metric () { # metric NAME: a counter of the server's /metrics
	curl -s "$SERVER_URL/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}

test_expect_success 'a server with one worker starts on loopback' '
	DITS_PROXY_AUTO=1 start_server main "$TRASH/srv" --workers 1 &&
	curl -sf "$SERVER_URL/healthz"
'

test_expect_success 'the cutting room commits two 8K masters and a timeline' '
	dits init room && cd room &&
	mkdir -p media/day1 edit &&
	make_8k_master media/day1/A001.mov 0.5 01:00:00:00 2 0 &&
	make_8k_master media/day1/B002.mov 0.5 02:10:00:00 4 120 &&
	cat >edit/cut1.edl <<-\EOF &&
	TITLE: CUT 1
	FCM: NON-DROP FRAME

	001  A001     V     C        01:00:00:00 01:00:00:06 00:00:00:00 00:00:00:06
	* FROM CLIP NAME: A001.mov
	* SOURCE FILE: media/day1/A001.mov

	002  B002     V     C        02:10:00:00 02:10:00:06 00:00:00:06 00:00:00:12
	* FROM CLIP NAME: B002.mov
	* SOURCE FILE: media/day1/B002.mov
	EOF
	dits add media edit && dits commit -m "day 1" &&
	assert_eq "$(probe_v media/day1/A001.mov width)" 7680
'

test_expect_success 'the push lands and the server makes both proxies' '
	cd room &&
	dits remote add origin "$SERVER_URL/film" &&
	dits push origin main --json >"$TRASH/push.json" &&
	sent=$(json_num bytes_sent <"$TRASH/push.json") &&
	masters=$(( $(file_size media/day1/A001.mov) + $(file_size media/day1/B002.mov) )) &&
	assert_ge "$sent" "$masters" &&
	wait_proxies "$SERVER_URL" film 2 300
'

test_expect_success 'a full clone receives the masters, byte for byte' '
	dits clone "$SERVER_URL/film" full --mode master --json >"$TRASH/full.json" &&
	sums_of room >"$TRASH/room.sums" && sums_of full >"$TRASH/full.sums" &&
	assert_files_eq "$TRASH/room.sums" "$TRASH/full.sums" &&
	(cd full && dits fsck)
'

test_expect_success 'a proxy clone receives at most 3 % of the full clone'"'"'s bytes' '
	dits clone "$SERVER_URL/film" edit --mode proxy --json >"$TRASH/proxy.json" &&
	full=$(json_num bytes_received <"$TRASH/full.json") &&
	part=$(json_num bytes_received <"$TRASH/proxy.json") &&
	say "proxy clone: $part of $full bytes ($(awk -v p="$part" -v f="$full" "BEGIN { printf \"%.2f\", 100 * p / f }") %)" |
		tee "$TRASH/ratio.txt" &&
	assert_ge "$part" 1 &&
	assert_le $((part * 100)) $((full * 3))
'

test_expect_success 'every path the timeline references is there, a decodable proxy with the master'"'"'s timecode' '
	cd edit &&
	assert_exists edit/cut1.edl &&
	awk "/^[0-9][0-9][0-9] / { tc = \$5 } /SOURCE FILE:/ { print \$4, tc }" edit/cut1.edl >"$TRASH/refs" &&
	assert_eq "$(wc -l <"$TRASH/refs" | tr -d " ")" 2 &&
	while read -r path tc; do
		assert_exists "$path" &&
		assert_le "$(probe_v "$path" height)" 1080 &&
		assert_eq "$(probe_tc "$path")" "$tc" &&
		assert_eq "$(probe_v "$path" nb_read_frames)" "$(probe_v "$TRASH/room/$path" nb_read_frames)" &&
		assert_eq "$(probe_channels "$path")" "$(probe_channels "$TRASH/room/$path")" || return 1
	done <"$TRASH/refs"
'

test_expect_success 'the proxy clone is clean: status, mode and fsck' '
	cd edit &&
	dits status --json >"$TRASH/st.json" &&
	assert_eq "$(json_raw clean <"$TRASH/st.json")" true &&
	dits mode >"$TRASH/mode.txt" &&
	assert_file_has "$TRASH/mode.txt" "^\\[P\\] media/day1/A001.mov$" &&
	assert_file_has "$TRASH/mode.txt" "^\\[P\\] media/day1/B002.mov$" &&
	dits fsck
'

test_expect_success 'proxy verify in the proxy clone: the master'"'"'s recorded facts, the proxy probed' '
	cd edit &&
	dits proxy verify >"$TRASH/verify.txt" &&
	assert_file_has "$TRASH/verify.txt" "^media/day1/A001.mov: pass \\(master recorded, proxy probed\\)$" &&
	assert_file_has "$TRASH/verify.txt" "^media/day1/B002.mov: pass \\(master recorded, proxy probed\\)$" &&
	assert_file_has "$TRASH/verify.txt" "frame size +7680x4320 \\(proxy 1920x1080\\) +1920x1080 +pass" &&
	assert_file_has "$TRASH/verify.txt" "^2 proxies pass, 0 fail, 0 without a ready proxy$"
'

test_expect_success 'a render job on the server: the proxy clone receives under 2 % of the masters'"'"' bytes' '
	cd edit &&
	dits render edit/cut1.edl --remote origin --rate 24000/1001 --target 4k_master --json >"$TRASH/rr.json" &&
	assert_eq done "$(json_str state <"$TRASH/rr.json")" &&
	got=$(json_num bytes_received <"$TRASH/rr.json") &&
	masters=$(( $(file_size "$TRASH/room/media/day1/A001.mov") + $(file_size "$TRASH/room/media/day1/B002.mov") )) &&
	say "render --remote: received $got of the masters'"'"' $masters bytes ($(awk -v p="$got" -v f="$masters" "BEGIN { printf \"%.2f\", 100 * p / f }") %)" |
		tee -a "$TRASH/ratio.txt" &&
	assert_ge "$got" 1 &&
	assert_le $((got * 100)) $((masters * 2)) &&
	dits pull origin >/dev/null &&
	dits mode >"$TRASH/mode2.txt" &&
	assert_file_has "$TRASH/mode2.txt" "^\\[P\\] renders/cut1.mov$"
'

test_expect_success 'on a 50 Mbit/s link the proxy clone completes, at that rate' '
	start=$(now_ms) &&
	dits clone "$SERVER_URL/film" slow --mode proxy --limit-rate 50Mbit --json >"$TRASH/slow.json" &&
	ms=$(( $(now_ms) - start )) &&
	part=$(json_num bytes_received <"$TRASH/slow.json") &&
	say "proxy clone at 50 Mbit/s: $part bytes in $ms ms" &&
	# 6 250 000 bytes/s: the cap must have held (some slack for bursts)
	assert_ge "$ms" $(( part / 6250 * 7 / 10 )) &&
	sums_of edit >"$TRASH/edit.sums" && sums_of slow >"$TRASH/slow.sums" &&
	assert_files_eq "$TRASH/edit.sums" "$TRASH/slow.sums"
'

test_expect_success 'checkout --mode master PATH fetches that master only, byte-identical' '
	cd edit &&
	before=$(metric dits_http_bytes_sent_total) &&
	dits checkout --mode master -- media/day1/A001.mov &&
	after=$(metric dits_http_bytes_sent_total) &&
	a=$(file_size "$TRASH/room/media/day1/A001.mov") &&
	b=$(file_size "$TRASH/room/media/day1/B002.mov") &&
	say "fetched $((after - before)) bytes for a $a-byte master" &&
	assert_ge $((after - before)) $((a * 9 / 10)) &&
	assert_le $((after - before)) $((a + b / 4)) &&
	assert_eq "$(b3 media/day1/A001.mov)" "$(b3 "$TRASH/room/media/day1/A001.mov")" &&
	dits mode >"$TRASH/mode2.txt" &&
	assert_file_has "$TRASH/mode2.txt" "^\\[M\\] media/day1/A001.mov$" &&
	assert_file_has "$TRASH/mode2.txt" "^\\[P\\] media/day1/B002.mov$" &&
	dits status --json | json_raw clean | grep -qx true &&
	dits fsck
'

test_expect_success 'the server'"'"'s repository is whole' '
	server_fsck "$TRASH/srv" film "$SERVER_URL"
'

test_done
