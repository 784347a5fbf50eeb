#!/usr/bin/env bash
# The web page story (issue 19, "Must show"): a producer opens the server's
# page in a real browser (Debian's chromium, headless, driven by
# puppeteer-core from tests/web) and sees the clips the cutting room pushed:
# every poster, a scrub bar over the sprite sheet, the preview playing, a
# failed proxy with its reason, a queue that moves by itself, hostile file
# names as text, a login, and range downloads. Screenshots of the pages at
# laptop and phone widths land in $DITS_WEB_SHOTS (the build directory's
# web-shots when run by meson).
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/lib-sync.sh"

WEB_DIR=$(cd "$TEST_DIR/../web" && pwd)
SHOTS=${DITS_WEB_SHOTS:-$TRASH/shots}

test_expect_success 'chromium, node and puppeteer-core are installed (scripts/install-deps.sh)' '
	command -v chromium && command -v node &&
	assert_exists "$WEB_DIR/node_modules/puppeteer-core/package.json"
'

# small_clip FILE HUE: two seconds of 320x180 at 24 fps with a timecode
small_clip () {
	ffmpeg -nostdin -loglevel error -y \
		-f lavfi -i "testsrc2=size=320x180:rate=24:duration=2,hue=h=$2" \
		-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
		-c:v mpeg4 -q:v 5 -c:a pcm_s16le -timecode 01:00:00:00 "$1"
}

test_expect_success 'a server that needs a token, with one worker' '
	cat >auth.conf <<-EOF &&
	token wtok-web-1 write *
	token rtok-web-2 read film
	anonymous read pub*
	EOF
	DITS_PROXY_AUTO=1 start_server web "$TRASH/srv" --workers 1 --auth auth.conf &&
	curl -sf "$SERVER_URL/healthz"
'

test_expect_success 'the cutting room pushes clips, a broken file and hostile names' '
	dits init room && cd room &&
	small_clip a.mov 0 && small_clip b.mov 120 && small_clip "<img src=x onerror=alert(1)>.mov" 240 &&
	mkdir "<script>alert(1)<" && small_clip "<script>alert(1)</script>.mov" 60 &&
	printf "this is not a video" >bad.mov &&
	mkdir notes && echo "day one" >notes/readme.txt &&
	dits add . && dits commit -m "day 1" &&
	dits remote add origin "$SERVER_URL/film" &&
	DITS_TOKEN=wtok-web-1 dits push origin main
'

test_expect_success 'the workers make the proxies, and fail the broken file for good' '
	n=0 &&
	while [ "$(curl -s -H "Authorization: Bearer rtok-web-2" "$SERVER_URL/film/queue" | json_num queued)$(curl -s -H "Authorization: Bearer rtok-web-2" "$SERVER_URL/film/queue" | json_num running)" != "00" ]; do
		[ $n -lt 600 ] || return 1
		sleep 0.2 && n=$((n + 1)) || return 1
	done &&
	curl -s -H "Authorization: Bearer rtok-web-2" "$SERVER_URL/film/tree" >tree.json &&
	assert_eq 3 "$(json_num proxies_ready <tree.json)" &&
	curl -s -H "Authorization: Bearer rtok-web-2" "$SERVER_URL/film/asset?path=bad.mov" >bad.json &&
	assert_file_has bad.json "not a media file"
'

test_expect_success 'anonymous reading where the auth file allows it, and only there' '
	dits init pubroom && cd pubroom &&
	echo "call sheet" >callsheet.txt && dits add callsheet.txt && dits commit -m "public notes" &&
	dits remote add origin "$SERVER_URL/pub1" &&
	DITS_TOKEN=wtok-web-1 dits push origin main &&
	curl -s "$SERVER_URL/_repos" >anon.json &&
	assert_file_has anon.json "\"name\":\"pub1\"" &&
	assert_file_lacks anon.json "\"name\":\"film\"" &&
	assert_eq 200 "$(curl -s -o /dev/null -w "%{http_code}" "$SERVER_URL/pub1/tree")" &&
	assert_eq 200 "$(curl -s -o /dev/null -w "%{http_code}" "$SERVER_URL/pub1")" &&
	assert_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" "$SERVER_URL/film/tree")" &&
	assert_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" "$SERVER_URL/film")" &&
	assert_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" -H "Cookie: dits_token=nope" "$SERVER_URL/pub1/tree")" &&
	assert_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Cookie: dits_token=wtok-web-1" -d "{}" "$SERVER_URL/film/create")"
'

# run_browser: the browser checks of tests/web/web.test.js; their report is
# in browser.out (and on the terminal when they fail, with the server's log)
run_browser () {
	BASE=$SERVER_URL REPO=film TOKEN=rtok-web-2 MASTER="$TRASH/room/a.mov" PUSH_CMD="sh $TRASH/push.sh" \
		SHOTS="$SHOTS" NODE_PATH="$WEB_DIR/node_modules" timeout 300 node "$WEB_DIR/web.test.js" >browser.out 2>&1 && return 0
	cat browser.out
	server_log web
	return 1
}

test_expect_success 'in the browser: login, grid, scrub, preview, failure, names, queue, ranges' '
	cat >push.sh <<-EOF &&
	cd "$TRASH/room" &&
	ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=24:duration=12,hue=h=300" -c:v mpeg4 -q:v 5 -timecode 01:00:00:00 c.mov &&
	"$DITS" add c.mov >/dev/null && "$DITS" commit -m "day 2" >/dev/null &&
	DITS_TOKEN=wtok-web-1 "$DITS" push origin main >/dev/null
	EOF
	run_browser &&
	cat browser.out &&
	assert_file_lacks browser.out "FAIL" &&
	assert_file_has browser.out "all passed" &&
	for p in repository asset queue; do
		for w in laptop phone; do
			assert_exists "$SHOTS/$p-$w.png" || return 1
		done
	done
'

test_done
