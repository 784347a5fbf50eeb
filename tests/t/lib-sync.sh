# lib-sync.sh: servers and clients for the sync stories (source after lib.sh).
# start_s3 and stop_s3 need only SRCDIR: tests/s3/serve-s3.sh and
# tests/fleet/fleet.sh, which run outside a story's steps, source this too.

# start_server NAME ROOT [ARGS...]: runs `dits serve --root ROOT` on a free
# loopback port (or the --listen given in ARGS), waits for its "listening on"
# line and sets SERVER_URL (http://127.0.0.1:PORT), SERVER_PORT and
# SERVER_PID. Its output goes to $TRASH/server-NAME.log; it is killed at the end.
start_server () {
	_ss_name=$1 _ss_root=$2
	shift 2
	_ss_listen=127.0.0.1:0
	case " $* " in *" --listen "*) _ss_listen= ;; esac
	mkdir -p "$_ss_root"
	: >"$TRASH/server-$_ss_name.out"
	"$DITS" serve --root "$_ss_root" ${_ss_listen:+--listen "$_ss_listen"} "$@" \
		>"$TRASH/server-$_ss_name.out" 2>>"$TRASH/server-$_ss_name.log" &
	SERVER_PID=$!
	test_at_end "kill -9 $SERVER_PID"
	_ss_i=0
	while [ $_ss_i -lt 200 ]; do
		grep -q '^listening on ' "$TRASH/server-$_ss_name.out" && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
		_ss_i=$((_ss_i + 1))
	done
	SERVER_URL=$(sed -n 's/^listening on //p' "$TRASH/server-$_ss_name.out" | head -n 1)
	SERVER_PORT=${SERVER_URL##*:}
	if [ -z "$SERVER_URL" ]; then
		say "start_server: dits serve did not start:"
		cat "$TRASH/server-$_ss_name.log"
		return 1
	fi
}

# server_log NAME: the server's stderr (for a failing step's output)
server_log () {
	cat "$TRASH/server-$1.log" 2>/dev/null
}

# start_s3 DIR BUCKET: starts the S3 test server (tests/s3/server.mjs: s3rver
# behind a proxy that checks every request's SigV4 signature) on a free
# loopback port with the bucket BUCKET, its objects in DIR/data, its output
# in DIR/log and its port in DIR/port; waits until it listens (30 s at most)
# and exports AWS_ENDPOINT_URL and the credentials it accepts
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Sets S3_PID. When
# the server does not start: its log on stderr, the server stopped, return 1.
# The caller stops it with stop_s3 (a story: test_at_end "stop_s3 $S3_PID").
start_s3 () {
	mkdir -p "$1" || return 1
	node --openssl-legacy-provider "$SRCDIR/tests/s3/server.mjs" --dir "$1/data" --port-file "$1/port" \
		--bucket "$2" >"$1/log" 2>&1 &
	S3_PID=$!
	_s3_i=0
	while [ ! -s "$1/port" ]; do
		if [ $_s3_i -ge 300 ] || ! kill -0 "$S3_PID" 2>/dev/null; then
			echo "start_s3: the S3 test server did not start:" >&2
			cat "$1/log" >&2
			stop_s3 "$S3_PID"
			return 1
		fi
		sleep 0.1
		_s3_i=$((_s3_i + 1))
	done
	export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$1/port")"
	export AWS_ACCESS_KEY_ID=DITSTESTKEY AWS_SECRET_ACCESS_KEY='dits-test-secret/KEY+1' AWS_REGION=us-east-1
}

# stop_s3 PID: stops the S3 test server start_s3 started as PID
stop_s3 () {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# ready_proxies URL REPO: how many proxy_1080p variants the server has ready
ready_proxies () {
	curl -s "$1/$2/variants" | grep -o '"type":"proxy_1080p","status":"ready"' | wc -l | tr -d ' '
}

# wait_proxies URL REPO N [SECONDS]: waits until N proxies are ready
wait_proxies () {
	_wp_t=0
	while [ "$(ready_proxies "$1" "$2")" -lt "$3" ]; do
		if [ $_wp_t -ge $((${4:-300} * 2)) ]; then
			say "wait_proxies: $(ready_proxies "$1" "$2") of $3 proxies ready after ${4:-300} s:"
			curl -s "$1/$2/variants" | head -c 2000
			return 1
		fi
		sleep 0.5
		_wp_t=$((_wp_t + 1))
	done
}

# make_8k_master FILE SECONDS TIMECODE CHANNELS HUE: an 8K ProRes 4444 XQ
# camera master with a start timecode and CHANNELS channels of 24-bit PCM.
# A little temporal noise, as a sensor has, gives frames of about 20 MB
# (a camera's 4444 XQ at 8K is 20-35 MB a frame); HUE (degrees) makes clips
# differ. Encoding 8K takes a while, so clips are kept in
# $DITS_TEST_MEDIA_CACHE when set (scripts/test.sh shares one between its
# two builds).
make_8k_master () {
	_mk_key="8k-4444xq-n3-$2-$(printf '%s' "$3" | tr ':;' '--')-$4-$5.mov"
	if [ -n "${DITS_TEST_MEDIA_CACHE:-}" ] && [ -s "$DITS_TEST_MEDIA_CACHE/$_mk_key" ]; then
		cp "$DITS_TEST_MEDIA_CACHE/$_mk_key" "$1"
		return
	fi
	ffmpeg -nostdin -loglevel error -y \
		-f lavfi -i "testsrc2=size=7680x4320:rate=24000/1001:duration=$2,hue=h=$5,noise=alls=3:allf=t" \
		-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$2" \
		-filter_complex "[1:a]pan=${4}c|c0=c0$(i=1; while [ $i -lt "$4" ]; do printf '|c%d=c0' $i; i=$((i + 1)); done)[a]" \
		-map 0:v -map "[a]" -c:v prores_ks -profile:v 5 -qscale:v 4 -pix_fmt yuv444p10le \
		-c:a pcm_s24le -timecode "$3" "$1" || return 1
	if [ -n "${DITS_TEST_MEDIA_CACHE:-}" ]; then
		mkdir -p "$DITS_TEST_MEDIA_CACHE" &&
			cp "$1" "$DITS_TEST_MEDIA_CACHE/$_mk_key.tmp.$$" &&
			mv "$DITS_TEST_MEDIA_CACHE/$_mk_key.tmp.$$" "$DITS_TEST_MEDIA_CACHE/$_mk_key"
	fi
}

# probe FILE ENTRY: one ffprobe value of the first video stream (width,
# height, nb_read_frames with -count_frames, ...) or of the format tags
probe_v () {
	ffprobe -v error -select_streams v:0 -count_frames -show_entries "stream=$2" -of default=nw=1:nk=1 "$1" | head -n 1
}
probe_tc () {
	ffprobe -v error -show_entries format_tags=timecode:stream_tags=timecode -of default=nw=1:nk=1 "$1" |
		grep -m 1 '[0-9][0-9]:[0-9][0-9]:[0-9][0-9][:;][0-9][0-9]'
}
probe_channels () {
	ffprobe -v error -select_streams a -show_entries stream=channels -of default=nw=1:nk=1 "$1" |
		awk '{ s += $1 } END { print s + 0 }'
}
