# shellcheck shell=bash
# The status page (GET /) of a running berth run, in a real browser: berth run follows a git
# repository whose spec has a swarm service with a secret and an Azure section (a scale set, a
# container group with a secure value, a weighted Traffic Manager profile) on the ARM simulator.
# Debian's chromium (headless) loads the page: its screenshot is a PNG of the window's size that
# is not blank, its DOM holds the service, the weights, the commit message (escaped) and the node
# map, tidy finds no error in the HTML, and no secret is anywhere on the page.

# shellcheck source=tests/integration/azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"

IMG=berth-test/busybox:latest
export T_SWARM_SECRET=Sw4rm-Secr3t-Value WEB_TOKEN=Web-T0ken-Secure-Value

# The spec, committed to a bare repository on disk with a hostile commit message.
page_repo() {
	local owner=$1
	BARE=$(mktemp -d)/spec.git WORK=$(mktemp -d)/work
	git init -q --bare -b main "$BARE"
	git init -q -b main "$WORK"
	git -C "$WORK" config user.email t@example.test
	git -C "$WORK" config user.name "Page & Tester"
	mkdir -p "$WORK/deploy"
	cat >"$WORK/deploy/berth.yaml" <<EOF
version: 1
name: $owner
swarm:
  secrets:
    $owner-db: {value: "\${env:T_SWARM_SECRET}"}
  services:
    $owner-web:
      image: $IMG
      command: [sleep, "3600"]
      secrets: [$owner-db]
      deploy: {replicas: 2}
azure:
  subscription: $SUB
  resource_group: $RG
  location: westeurope
  scale_sets:
    workers: {capacity: 2}
  container_groups:
    shop:
      ip: public
      dns_label: berth-shop-$owner
      containers:
        app:
          image: nginx:1.25
          cpu: 1
          memory_gb: 1.5
          ports: [80]
          secure_environment: {API_TOKEN: "\${env:WEB_TOKEN}"}
  traffic_manager:
    front-$owner:
      endpoints:
        blue: {container_group: shop, weight: 700}
        ext: {target: www.example.com, weight: 300}
EOF
	git -C "$WORK" add -A
	git -C "$WORK" commit -q -m 'web: <b>two</b> replicas & "a secret"'
	git -C "$WORK" remote add origin "$BARE"
	git -C "$WORK" push -q origin main
}

page_ready() {
	local s
	s=$(curl -fsS "http://127.0.0.1:$PORT/status") || return 1
	printf '%s' "$s" | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
svc = [r for r in s["resources"] if r.get("kind") == "swarm_service"]
assert s["last_reconcile"]["result"] == "success", s["last_reconcile"]
assert svc and svc[0]["running"] == 2, svc'
}

# chromium headless: a screenshot of URL into FILE, or its DOM (--dump-dom) on stdout.
chromium_run() {
	timeout 90 chromium --headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage \
		--user-data-dir="$T_DIR/chromium" --hide-scrollbars "$@" 2>>"$T_DIR/chromium.log"
}

# png_check FILE W H: prints "WxH colours=N nonwhite=F" after decoding the PNG with the standard
# library (zlib, struct), filters undone; fails on anything that is not a valid 8-bit RGB(A) PNG.
png_check() {
	/usr/bin/python3 - "$@" <<'EOF'
import struct, sys, zlib
path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(kind + body) & 0xffffffff == crc, "bad CRC in %r" % kind
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    elif kind == b"IEND":
        break
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
assert (w, h) == (want_w, want_h), "size %dx%d, want %dx%d" % (w, h, want_w, want_h)
assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected format %r" % (ihdr,)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
assert len(raw) == h * (stride + 1), "truncated image data"
prev = bytearray(stride)
colours, nonwhite = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        else: assert f == 0, "bad filter %d" % f
    for x in range(0, stride, bpp * 2):  # every other pixel is plenty
        px = bytes(line[x:x + 3])
        colours.add(px)
        nonwhite += px != b"\xff\xff\xff" and px != b"\xfa\xfa\xfa"
    prev = line
print("%dx%d colours=%d nonwhite=%.4f" % (w, h, len(colours), nonwhite / (w * h / 2)))
EOF
}

test_page_in_chromium() {
	command -v chromium >/dev/null || t_fail "chromium is not installed (scripts/install-deps.sh installs it)"
	command -v tidy >/dev/null || t_fail "tidy is not installed (scripts/install-deps.sh installs it)"
	local owner
	owner=$(unique_owner)
	sim_start "$owner"
	page_repo "$owner"
	PORT=$(free_port)
	"$BERTH" run --repo "$BARE" --path deploy --cache-dir "$T_DIR/cache" --listen "127.0.0.1:$PORT" \
		--interval 1h >"$T_DIR/run.log" 2>&1 &
	local pid=$!
	trap 'kill -TERM '"$pid"' 2>/dev/null; wait '"$pid"' 2>/dev/null; sim_stop' EXIT
	wait_until 120 "berth run applied the spec and both tasks run" page_ready

	local url="http://127.0.0.1:$PORT/" html
	html=$(curl -fsS -D "$T_DIR/headers" "$url")
	assert_contains "$(cat "$T_DIR/headers")" "Content-Type: text/html; charset=utf-8"
	printf '%s' "$html" >"$T_DIR/page.html"

	# tidy (HTML5): neither an error nor a warning
	local rc=0
	tidy -q -e --show-warnings yes "$T_DIR/page.html" >"$T_DIR/tidy.log" 2>&1 || rc=$?
	sed 's/^/tidy: /' "$T_DIR/tidy.log"
	[ "$rc" -eq 0 ] || t_fail "tidy found problems in the page (status $rc): $(head -n 3 "$T_DIR/tidy.log")"

	# the screenshot: the window's size, not blank
	chromium_run --screenshot="$T_DIR/page.png" --window-size=1280,2000 "$url" >/dev/null
	local png
	png=$(png_check "$T_DIR/page.png" 1280 2000)
	t_log "screenshot: $png"
	local colours nonwhite
	colours=$(printf '%s' "$png" | sed -n 's/.*colours=\([0-9]*\).*/\1/p')
	nonwhite=$(printf '%s' "$png" | sed -n 's/.*nonwhite=\([0-9.]*\).*/\1/p')
	[ "$colours" -ge 8 ] || t_fail "the screenshot has $colours colours: blank?"
	/usr/bin/python3 -c "import sys; sys.exit(0 if $nonwhite >= 0.01 else 1)" ||
		t_fail "the screenshot is $nonwhite non-background: blank?"

	# the DOM as chromium built it
	local dom
	dom=$(chromium_run --dump-dom "$url")
	assert_contains "$dom" "<td class=\"service\">$owner-web</td>"
	assert_contains "$dom" "2 / 2"
	assert_contains "$dom" "<td class=\"weight\">700</td>"
	assert_contains "$dom" "<td class=\"weight\">300</td>"
	assert_contains "$dom" '<meter min="0" max="100" value="70" title="70%">70%</meter>'
	assert_contains "$dom" "front-$owner"
	assert_contains "$dom" 'web: &lt;b&gt;two&lt;/b&gt; replicas &amp; "a secret"'
	assert_contains "$dom" "by Page &amp; Tester"
	assert_not_contains "$dom" "<b>two</b>"
	assert_contains "$dom" '<div class="map" id="nodemap">'
	assert_contains "$dom" "<b>$owner-web</b>.1"
	assert_contains "$dom" "<b>$owner-web</b>.2"
	assert_contains "$dom" "$(hostname)"
	assert_contains "$dom" "<td>workers</td><td>2 / 2</td>"
	assert_contains "$dom" "<span class=\"st-success\">success</span>"
	assert_contains "$dom" '<table id="groups"><tbody><tr><th>group</th>'
	assert_contains "$dom" "<tr><td>shop</td><td><span class=\"st-Succeeded\">Succeeded</span>"
	assert_contains "$dom" "<td>create</td><td>service</td><td>$owner-web</td>"
	assert_contains "$dom" "<td>create</td><td>container group</td><td>shop</td>"
	# no secret anywhere: the swarm secret, the secure value, the service principal's secret,
	# the storage account's key
	local v
	for v in "$T_SWARM_SECRET" "$WEB_TOKEN" "$AZURE_CLIENT_SECRET" "S3y-Ac60unt-K3y=="; do
		assert_not_contains "$html" "$v" "a secret on the page"
		assert_not_contains "$dom" "$v" "a secret in the DOM"
		assert_not_contains "$(curl -fsS "http://127.0.0.1:$PORT/status")" "$v" "a secret in /status"
	done
	grep -qF "$T_SWARM_SECRET" "$T_DIR/page.png" && t_fail "the secret's bytes in the screenshot file"
	kill -TERM "$pid"
	wait "$pid" || t_fail "berth run did not stop cleanly"
	trap 'sim_stop' EXIT
}
