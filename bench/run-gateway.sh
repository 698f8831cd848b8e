#!/usr/bin/env bash
# run-gateway.sh measures the AI gateway end to end: chat completions over
# HTTPS from a separate load process (lkload chat) through the gateway to an
# OpenAI-compatible upstream (fakeupstream), next to the same calls made to
# the upstream directly, through a TLS relay that decrypts and encrypts again
# and reads nothing (the floor under any gateway that must read a request),
# and through a bare httputil.ReverseProxy (the cost of a Go proxy hop
# alone), in the same run; JSON answers and streams, at each connection
# count. See bench/README.md for how to read the table it prints.
#
#   bench/run-gateway.sh                         # 1 and 32 connections, 10 s each
#   DURATION=5 CONNECTIONS="1 8 32" bench/run-gateway.sh
#   UPSTREAM_HTTP1=1 bench/run-gateway.sh        # the runner keeps to HTTP/1.1 upstream
#   GATEWAY=latchkey bench/run-gateway.sh        # measure latchkey dev's own gateway
#
# The gateway measured: with GATEWAY=latchkey, the latchkey dev server itself:
# an account "bench" forwarding to fakeupstream, called with its key1 through
# authentication, audit, metrics and the gateway (latchkey trusts the dev CA
# for the upstream through SSL_CERT_FILE). Otherwise a standalone gateway
# built from the package's test binary
# (-tags gatewaybench; internal/gateway/runner_bench_test.go) with latchkey
# serve's TLS and timeout settings, which also serves the relay and the bare
# proxy. To
# measure another gateway instead (the
# real server, once an account there forwards to https://127.0.0.1:$UPSTREAM_PORT/v1
# with the key $UPSTREAM_KEY), set GATEWAY_URL (its chat completions URL),
# GATEWAY_KEY (the caller's api-key) and GATEWAY_PID (its process, for the
# CPU figures); the relay and the bare proxy are then left out. `latchkey dev` is started in
# every case: its CA and server certificate serve all the processes.
#
# Everything listens on 127.0.0.1 only, every step has a time limit, and the
# servers it starts are stopped on exit. The shared steps are in bench/lib.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-1 32}
source bench/lib.sh

UPSTREAM_PORT=${UPSTREAM_PORT:-18445}
GATEWAY_PORT=${GATEWAY_PORT:-18446}
PROXY_PORT=${PROXY_PORT:-18447}
RELAY_PORT=${RELAY_PORT:-18448}
UPSTREAM_KEY=${UPSTREAM_KEY:-sk-bench-upstream}
GATEWAY_URL=${GATEWAY_URL:-}
GATEWAY_KEY=${GATEWAY_KEY:-bench-caller-key}
GATEWAY_PID=${GATEWAY_PID:-}
UPSTREAM_HTTP1=${UPSTREAM_HTTP1:-}
GATEWAY=${GATEWAY:-}
upstream_url="https://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions"
proxy_url=""
relay_url=""
paths="direct gateway"

build_all
echo "== build fakeupstream and the gateway runner"
timeout 300 go build -o "$work/bin/fakeupstream" ./bench/fakeupstream
[[ -n $GATEWAY_URL || $GATEWAY == latchkey ]] || timeout 300 go test -c -tags gatewaybench -o "$work/bin/gateway.test" ./internal/gateway
# latchkey dev makes its CA in $data at start, before any call to the upstream.
[[ $GATEWAY == latchkey ]] && export SSL_CERT_FILE="$data/ca.pem"
start_latchkey

echo "== start fakeupstream on 127.0.0.1:$UPSTREAM_PORT"
"$work/bin/fakeupstream" --data "$data" --addr "127.0.0.1:$UPSTREAM_PORT" --key "$UPSTREAM_KEY" 2>"$work/upstream.err" &
pids+=($!)
upstream_pid=$!

if [[ $GATEWAY == latchkey ]]; then
	echo "== create the account bench on latchkey dev, forwarding to fakeupstream"
	printf '%s' "$UPSTREAM_KEY" >"$work/upstream.key"
	timeout 60 "$work/bin/latchkey" cognitiveservices account create --data "$data" --hub default --name bench \
		--upstream "https://127.0.0.1:$UPSTREAM_PORT/v1" --upstream-key-file "$work/upstream.key" >/dev/null
	GATEWAY_KEY=$(timeout 60 "$work/bin/latchkey" cognitiveservices account keys list --data "$data" --name bench |
		sed -n 's/.*"key1": *"\([^"]*\)".*/\1/p')
	[[ -n $GATEWAY_KEY ]] || { echo "no key1 from keys list" >&2; exit 1; }
	GATEWAY_URL="https://127.0.0.1:$LATCHKEY_PORT/accounts/bench/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	GATEWAY_PID=${pids[0]}
elif [[ -z $GATEWAY_URL ]]; then
	echo "== start the gateway runner on 127.0.0.1:$GATEWAY_PORT"
	"$work/bin/gateway.test" -test.run '^TestRunGateway$' -test.timeout 0 -gateway.data "$data" \
		-gateway.addr "127.0.0.1:$GATEWAY_PORT" -gateway.proxy-addr "127.0.0.1:$PROXY_PORT" \
		-gateway.relay-addr "127.0.0.1:$RELAY_PORT" \
		-gateway.upstream "https://127.0.0.1:$UPSTREAM_PORT/v1" \
		-gateway.upstream-key "$UPSTREAM_KEY" -gateway.caller-key "$GATEWAY_KEY" \
		-gateway.upstream-http1="$([[ -n $UPSTREAM_HTTP1 ]] && echo true || echo false)" 2>"$work/gateway.err" &
	pids+=($!)
	GATEWAY_PID=$!
	GATEWAY_URL="https://127.0.0.1:$GATEWAY_PORT/accounts/bench/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	proxy_url="https://127.0.0.1:$PROXY_PORT/chat/completions"
	relay_url="https://127.0.0.1:$RELAY_PORT/v1/chat/completions"
	paths="direct relay proxy gateway"
fi
[[ -n $GATEWAY_PID ]] || { echo "GATEWAY_URL is set: set GATEWAY_PID to its process too" >&2; exit 1; }

# Wait up to 10 s for a good answer through the gateway (and so from the upstream).
for _ in $(seq 100); do
	curl -fsS --max-time 1 --cacert "$data/ca.pem" -H "Api-Key: $GATEWAY_KEY" -H 'Content-Type: application/json' \
		-d '{"messages":[]}' "$GATEWAY_URL" >/dev/null 2>&1 && break
	sleep 0.1
done

# run KIND PATH C runs lkload chat for KIND (json or stream) on PATH (direct,
# relay, proxy or gateway) at C connections and keeps its result line and the CPU
# the server processes used: the upstream's, and the gateway's (the runner
# serves the relay and the bare proxy too).
declare -A result cpu_up cpu_gw
run() {
	local kind=$1 path=$2 c=$3 limit=$((DURATION + WARMUP + 30)) out u0 u1 g0 g1 t0 t1
	local args=(chat --ca "$data/ca.pem")
	[[ $kind == stream ]] && args+=(--stream)
	case $path in
	direct) args+=(--url "$upstream_url" --header authorization --key "$UPSTREAM_KEY") ;;
	relay) args+=(--url "$relay_url" --header authorization --key "$UPSTREAM_KEY") ;;
	proxy) args+=(--url "$proxy_url" --header api-key --key "$GATEWAY_KEY") ;;
	gateway) args+=(--url "$GATEWAY_URL" --header api-key --key "$GATEWAY_KEY") ;;
	esac
	u0=$(cpu_seconds "$upstream_pid") g0=$(cpu_seconds "$GATEWAY_PID") t0=$(date +%s.%N)
	if ! out=$(timeout "$limit" "$work/bin/lkload" "${args[@]}" --connections "$c" --duration "${DURATION}s" --warmup "${WARMUP}s"); then
		echo "$out"
		echo "lkload chat ($kind, $path) at $c connections failed; no summary" >&2
		exit 1
	fi
	u1=$(cpu_seconds "$upstream_pid") g1=$(cpu_seconds "$GATEWAY_PID") t1=$(date +%s.%N)
	echo "$out"
	result[$kind,$path,$c]=$(grep '^result:' <<<"$out")
	cpu_up[$kind,$path,$c]=$(awk -v a="$u0" -v b="$u1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')
	cpu_gw[$kind,$path,$c]=$(awk -v a="$g0" -v b="$g1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')
}

echo "== $(date -u +%FT%TZ), $(nproc) cores, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $CONNECTIONS; do
	for kind in json stream; do
		for path in $paths; do
			run "$kind" "$path" "$c"
		done
	done
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "rps: good answers per second; p50, p99: latency in ms; cores: CPU used by the upstream (up) and the"
echo "gateway's process (gw, which serves the relay and the bare proxy too), of $(nproc); µs/call: gw CPU per answer; the last"
echo "two columns compare each path with the direct calls of the same row group"
printf '%-5s %-6s %-8s | %6s %6s %6s | %5s %5s %7s | %9s %12s\n' conns kind path rps p50 p99 up gw "µs/call" "rps/direct" "added p50 ms"
for c in $CONNECTIONS; do
	for kind in json stream; do
		d=${result[$kind,direct,$c]}
		for path in $paths; do
			r=${result[$kind,$path,$c]}
			printf '%-5s %-6s %-8s | %6s %6s %6s | %5s %5s %7s | %9s %12s\n' "$c" "$kind" "$path" \
				"$(field "$r" rps)" "$(field "$r" p50_ms)" "$(field "$r" p99_ms)" "${cpu_up[$kind,$path,$c]}" "${cpu_gw[$kind,$path,$c]}" \
				"$(awk -v g="${cpu_gw[$kind,$path,$c]}" -v r="$(field "$r" rps)" 'BEGIN { printf "%.0f", (r > 0 ? g / r * 1e6 : 0) }')" \
				"$(div "$(field "$r" rps)" "$(field "$d" rps)" %.2f)" \
				"$(awk -v a="$(field "$r" p50_ms)" -v b="$(field "$d" p50_ms)" 'BEGIN { printf "%.3f", a - b }')"
		done
	done
done
