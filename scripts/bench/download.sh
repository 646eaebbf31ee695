#!/usr/bin/env bash
# Download throughput, side by side: nginx (Debian's) serves one file on loopback, unthrottled
# and with `limit_rate 20m` per connection; curl, curl + fsync, aria2c -x8 (and -x8 -s8) and the
# agent's downloader (the downloadbench helper: the real download package, sha256 verified,
# fsynced, published) fetch it in turn, ROUNDS times, interleaved, so a machine whose load
# changes slows every client of a round alike. Prints per round the agent's time with its
# ratio to curl and to curl + fsync, then per client the median time, the median ratios to
# curl, curl + fsync and aria2c -x8 (> 1: faster), the CPU seconds it used (user + system;
# a loaded machine disturbs them least) and nginx's, the bytes nginx sent beyond the file (body_bytes_sent
# from its access log, summed per client run, minus the file size: bytes fetched twice or past
# a segment) and its peak RSS. The agent makes the file durable before it is done and curl
# does not: curl + fsync (coreutils sync FILE) is the peer that makes the file as durable, and
# curl + openssl sha256 + fsync the one that also verifies it, as the agent does.
#
# Usage: scripts/bench/download.sh [SIZE_MIB]   (default 512; the issue's reference is 2048)
# Env:   DOWNLOADBENCH=path  use a prebuilt downloadbench binary (e.g. one built from an older
#                            commit, to compare before/after); AGENT_ARGS="-conns 8" its flags.
#        MODES="free slow"   which nginx locations to run.
#        ROUNDS=3            runs of every client per mode.
# Also prints, per round and as a median, how long the agent's sha256 of that many bytes in memory
# takes: no verified download can be faster, so curl / that is the best ratio the machine allows.
# Needs: go, nginx, aria2c, curl, openssl, python3, bc, /usr/bin/time (apt-get install nginx
# aria2 curl openssl time python3 bc). Writes the file and one copy at a time under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-512}
SIZE=$((SIZE_MIB * 1024 * 1024))
MODES=${MODES:-free slow}
ROUNDS=${ROUNDS:-3}
AGENT_ARGS=${AGENT_ARGS:-}

missing=()
for tool in nginx aria2c curl openssl python3 bc /usr/bin/time; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "missing: ${missing[*]}; install with: apt-get install nginx aria2 curl openssl time python3 bc" >&2
	exit 2
fi
NGINX=$(command -v nginx)

WORK=$(mktemp -d)
chmod 755 "$WORK"
NGINX_PID=
cleanup() {
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# The hash floor always comes from this tree's helper (an older DOWNLOADBENCH may lack it).
go build -o "$WORK/downloadbench" ./agent/internal/models/download/downloadbench
BENCH=${DOWNLOADBENCH:-$WORK/downloadbench}

mkdir -p "$WORK/www" "$WORK/logs"
head -c "$SIZE" /dev/urandom >"$WORK/www/file.bin"
SHA=$(sha256sum "$WORK/www/file.bin" | cut -d' ' -f1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$WORK/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 256; }
http {
	log_format bench '\$arg_client \$status \$body_bytes_sent "\$http_range"';
	access_log $WORK/logs/access.log bench;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$PORT;
		root $WORK/www;
		location /free/ { alias $WORK/www/; }
		location /slow/ { alias $WORK/www/; limit_rate 20m; }
	}
}
EOF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/free/file.bin" -r 0-0 && break; sleep 0.1; done

# server_cpu: CPU seconds (user + system) nginx's workers have used so far. On loopback the
# server's sendfile costs about as much CPU as the client's reads, on the same cores.
TICK=$(getconf CLK_TCK)
server_cpu() {
	local t=0 w
	for w in $(pgrep -P "$NGINX_PID"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$w/stat")))
	done
	echo "scale=2; $t / $TICK" | bc -l
}

# run NAME CMD...: times CMD, records seconds, peak RSS (KiB), its CPU seconds and nginx's in
# $WORK/NAME.{s,rss,cpu,srv}.
run() {
	local name=$1
	shift
	local t0 t1 srv0
	# Every client starts with no dirty pages of the one before: without this, the client
	# that follows curl (which never syncs) pays for writing curl's file back.
	sync
	srv0=$(server_cpu)
	t0=$(date +%s.%N)
	/usr/bin/time -f "%M %U %S" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>&1 || {
		echo "$name failed:" >&2
		cat "$WORK/$name.out" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l >"$WORK/$name.s"
	read -r rss usr sys <"$WORK/$name.time"
	echo "$rss" >"$WORK/$name.rss"
	echo "$usr + $sys" | bc -l >"$WORK/$name.cpu"
	echo "$(server_cpu) - $srv0" | bc -l >"$WORK/$name.srv"
}

# extra NAME: bytes nginx sent to requests tagged client=NAME beyond the file size.
extra() {
	awk -v c="$1" -v size="$SIZE" '$1 == c { n += $3 } END { print n - size }' "$WORK/logs/access.log"
}

check() {
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$got" = "$SHA" ] || {
		echo "$1: sha256 $got, want $SHA" >&2
		exit 1
	}
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

CLIENTS="curl curlsync curlsha aria2c aria2s8 agent"
declare -A SECS RSS EXTRA CPU SRV CONNS HASH
for MODE in $MODES; do
	URL="http://127.0.0.1:$PORT/$MODE/file.bin"
	for r in $(seq 1 "$ROUNDS"); do
		NAME=curl-$MODE-$r
		run "$NAME" curl -sS -o "$WORK/out.bin" "$URL?client=$NAME"
		check "$WORK/out.bin"
		rm -f "$WORK/out.bin"

		# curl, then fsync (coreutils sync FILE): the floor for a client that, like the agent,
		# makes the file durable before it is done; on a disk slower than loopback it is the disk.
		NAME=curlsync-$MODE-$r
		run "$NAME" sh -c 'curl -sS -o "$1" "$2" && sync "$1"' sh "$WORK/out.bin" "$URL?client=$NAME"
		check "$WORK/out.bin"
		rm -f "$WORK/out.bin"

		# curl, then the sha256 (openssl's, with SHA-NI where the CPU has it: coreutils'
		# sha256sum is several times slower), then fsync: the same verified, durable work as
		# the agent's, one step after the other.
		NAME=curlsha-$MODE-$r
		run "$NAME" sh -c 'curl -sS -o "$1" "$2" && openssl dgst -sha256 "$1" >/dev/null && sync "$1"' sh "$WORK/out.bin" "$URL?client=$NAME"
		check "$WORK/out.bin"
		rm -f "$WORK/out.bin"

		# aria2c -x8 is the issue's reference (8 connections per server allowed, its default split
		# of 5); -s8 really opens 8.
		NAME=aria2c-$MODE-$r
		run "$NAME" aria2c -q -x8 --file-allocation=none --allow-overwrite=true -d "$WORK" -o out.bin "$URL?client=$NAME"
		check "$WORK/out.bin"
		rm -f "$WORK/out.bin"

		NAME=aria2s8-$MODE-$r
		run "$NAME" aria2c -q -x8 -s8 -k1M --file-allocation=none --allow-overwrite=true -d "$WORK" -o out.bin "$URL?client=$NAME"
		check "$WORK/out.bin"
		rm -f "$WORK/out.bin"

		# The agent's sha256 of the same number of bytes in memory: no verified download can
		# take less on this machine.
		NAME=hash-$MODE-$r
		run "$NAME" "$WORK/downloadbench" hash -size "$SIZE"
		HASH[$MODE-$r]=$(sed -nE 's/.*seconds=([0-9.]+).*/\1/p' "$WORK/$NAME.out")

		NAME=agent-$MODE-$r
		rm -rf "$WORK/store"
		# shellcheck disable=SC2086
		run "$NAME" "$BENCH" fetch -url "$URL?client=$NAME" -dir "$WORK/store" -sha "$SHA" $AGENT_ARGS
		check "$WORK/store/checkpoints/bench.safetensors"
		CONNS[$MODE-$r]=$(sed -nE 's/.*connections=([0-9]+).*/\1/p' "$WORK/$NAME.out")
		rm -rf "$WORK/store"
		for c in $CLIENTS; do
			k=$c-$MODE-$r
			SECS[$k]=$(cat "$WORK/$k.s")
			RSS[$k]=$(cat "$WORK/$k.rss")
			CPU[$k]=$(cat "$WORK/$k.cpu")
			SRV[$k]=$(cat "$WORK/$k.srv")
			EXTRA[$k]=$(extra "$k")
		done
		printf 'round %d %-5s curl %6.2f s  curl+fsync %6.2f s  sha256 alone %5.2f s  agent %6.2f s (%s conns)  agent x curl %5.2f  x curl+fsync %5.2f  x curl+sha+fsync %5.2f\n' \
			"$r" "$MODE" "${SECS[curl-$MODE-$r]}" "${SECS[curlsync-$MODE-$r]}" "${HASH[$MODE-$r]}" "${SECS[agent-$MODE-$r]}" "${CONNS[$MODE-$r]:-?}" \
			"$(ratio "${SECS[curl-$MODE-$r]}" "${SECS[agent-$MODE-$r]}")" "$(ratio "${SECS[curlsync-$MODE-$r]}" "${SECS[agent-$MODE-$r]}")" \
			"$(ratio "${SECS[curlsha-$MODE-$r]}" "${SECS[agent-$MODE-$r]}")"
	done
done

echo
printf "%-10s %-30s %8s %8s %8s %8s %9s %7s %7s %12s %8s\n" "nginx" "client (${SIZE_MIB} MiB, median)" "seconds" "MiB/s" "x curl" "x c+sync" "x aria2c" "CPU s" "srv CPU" "extra bytes" "RSS MiB"
for MODE in $MODES; do
	label=$MODE
	[ "$MODE" = slow ] && label="20m/conn"
	[ "$MODE" = free ] && label="no limit"
	for c in $CLIENTS; do
		secs=() cpu=() srv=() rss=() extras=() xc=() xs=() xa=() conns=()
		for r in $(seq 1 "$ROUNDS"); do
			k=$c-$MODE-$r
			secs+=("${SECS[$k]}") cpu+=("${CPU[$k]}") srv+=("${SRV[$k]}") rss+=("${RSS[$k]}") extras+=("${EXTRA[$k]}")
			xc+=("$(ratio "${SECS[curl-$MODE-$r]}" "${SECS[$k]}")")
			xs+=("$(ratio "${SECS[curlsync-$MODE-$r]}" "${SECS[$k]}")")
			xa+=("$(ratio "${SECS[aria2c-$MODE-$r]}" "${SECS[$k]}")")
			conns+=("${CONNS[$MODE-$r]:-?}")
		done
		desc=$c
		[ "$c" = curlsync ] && desc="curl + fsync"
		[ "$c" = curlsha ] && desc="curl + openssl sha256 + fsync"
		[ "$c" = aria2c ] && desc="aria2c -x8"
		[ "$c" = aria2s8 ] && desc="aria2c -x8 -s8"
		[ "$c" = agent ] && desc="agent ($(
			IFS=/
			echo "${conns[*]}"
		) conns, sha+fsync)"
		med=$(median "${secs[@]}")
		printf "%-10s %-30s %8.2f %8.1f %8.2f %8.2f %9.2f %7.2f %7.2f %12d %8.1f\n" "$label" "$desc" "$med" \
			"$(echo "$SIZE_MIB / $med" | bc -l)" "$(median "${xc[@]}")" "$(median "${xs[@]}")" "$(median "${xa[@]}")" \
			"$(median "${cpu[@]}")" "$(median "${srv[@]}")" "$(median "${extras[@]}")" "$(echo "$(median "${rss[@]}") / 1024" | bc -l)"
	done
done
for MODE in $MODES; do
	hs=() cs=() as=()
	for r in $(seq 1 "$ROUNDS"); do
		hs+=("${HASH[$MODE-$r]}") cs+=("${SECS[curl-$MODE-$r]}") as+=("${SECS[agent-$MODE-$r]}")
	done
	printf "%-10s sha256 of %d MiB in memory, the floor of any verified download here: %.2f s median; the best\n" "$MODE" "$SIZE_MIB" "$(median "${hs[@]}")"
	printf "%-10s agent x curl this machine allows is curl / floor = %.2f; the agent took %.2f x the floor\n" "" \
		"$(ratio "$(median "${cs[@]}")" "$(median "${hs[@]}")")" "$(ratio "$(median "${as[@]}")" "$(median "${hs[@]}")")"
done
echo "x curl / x c+sync / x aria2c: the median over rounds of the speed relative to curl, curl + fsync"
echo "and aria2c -x8 in the same round (> 1 is faster). The agent hashes (sha256) and fsyncs; curl does neither."
echo "CPU s: the client's user + system seconds; srv CPU: nginx's during that run. Client and server share"
echo "this machine's $(nproc) cores: when their sum exceeds seconds x cores, the run was CPU-bound."
