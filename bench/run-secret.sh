#!/usr/bin/env bash
# run-secret.sh measures the Key Vault secret GET end to end: GETs of a
# 100-byte secret over HTTPS to a real `latchkey dev` server's default vault
# from a separate load process (lkload secret), next to GETs of the same shape
# to a trivial Go HTTPS server (trivialserver) answering a body of the same
# size, in the same run. See bench/README.md for how to read the table it prints.
#
#   bench/run-secret.sh                     # 16 and 64 connections, 10 s each
#   DURATION=5 CONNECTIONS="8 32" bench/run-secret.sh
#
# Everything listens on 127.0.0.1 only (lkload dials the vault's host,
# default.vault.localhost, at the server's address), every step has a time
# limit, and the servers it starts are stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10} # seconds measured per run
WARMUP=${WARMUP:-1}      # seconds of unmeasured requests before each run
CONNECTIONS=${CONNECTIONS:-16 64}
LATCHKEY_PORT=${LATCHKEY_PORT:-18443}
TRIVIAL_PORT=${TRIVIAL_PORT:-18444}

cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build"
timeout 300 go build -o "$work/bin/latchkey" ./cmd/latchkey
timeout 300 go build -o "$work/bin/lkload" ./bench/lkload
timeout 300 go build -o "$work/bin/trivialserver" ./bench/trivialserver

data="$work/data"
mkdir -m 0700 "$data"
echo "== start latchkey dev on 127.0.0.1:$LATCHKEY_PORT (token throttling off)"
"$work/bin/latchkey" dev --data "$data" --addr "127.0.0.1:$LATCHKEY_PORT" \
	--token-rate-per-client off --token-rate-per-address off --log-level warn \
	>"$work/latchkey.out" 2>"$work/latchkey.err" &
pids+=($!)
for _ in $(seq 600); do # up to 60 s
	[[ -s "$data/dev.json" ]] && break
	if ! kill -0 "${pids[0]}" 2>/dev/null; then
		echo "latchkey dev exited:" >&2
		cat "$work/latchkey.err" >&2
		exit 1
	fi
	sleep 0.1
done
[[ -s "$data/dev.json" ]] || { echo "no dev.json after 60 s" >&2; cat "$work/latchkey.err" >&2; exit 1; }

# One GET tells the size of Latchkey's answer and of its bearer token, so that
# the trivial server answers as many bytes and is sent as many.
probe=$(timeout 30 "$work/bin/lkload" secret --data "$data" --probe)
echo "$probe"
size=$(sed -n 's/.* answer_bytes=\([0-9]*\).*/\1/p' <<<"$probe")
bearer=$(sed -n 's/.* bearer_bytes=\([0-9]*\).*/\1/p' <<<"$probe")
[[ -n $size && -n $bearer ]] || { echo "lkload secret --probe printed no sizes" >&2; exit 1; }

echo "== start trivialserver on 127.0.0.1:$TRIVIAL_PORT answering $size bytes"
"$work/bin/trivialserver" --data "$data" --addr "127.0.0.1:$TRIVIAL_PORT" --size "$size" 2>"$work/trivial.err" &
pids+=($!)
for _ in $(seq 100); do # up to 10 s
	curl -fsS --max-time 1 --cacert "$data/ca.pem" "https://127.0.0.1:$TRIVIAL_PORT/" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "== $(date -u +%FT%TZ), $(nproc) cores, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Each pair runs back to back, so that both servers see the same machine.
limit=$((DURATION + WARMUP + 30))
hz=$(getconf CLK_TCK)
# cpu_seconds prints the user+system CPU time a process has used so far.
cpu_seconds() { awk -v hz="$hz" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
declare -A result cores
for c in $CONNECTIONS; do
	for mode in secret baseline; do
		if [[ $mode == secret ]]; then
			pid=${pids[0]} args=(secret --data "$data")
		else
			# The same request line and Authorization header size as the secret GET.
			pid=${pids[1]} args=(baseline --url "https://127.0.0.1:$TRIVIAL_PORT/secrets/bench?api-version=7.5"
				--ca "$data/ca.pem" --like secret --bearer-bytes "$bearer")
		fi
		cpu0=$(cpu_seconds "$pid") t0=$(date +%s.%N)
		if ! out=$(timeout "$limit" "$work/bin/lkload" "${args[@]}" --connections "$c" --duration "${DURATION}s" --warmup "${WARMUP}s"); then
			echo "$out"
			echo "lkload $mode at $c connections failed; no summary" >&2
			exit 1
		fi
		cpu1=$(cpu_seconds "$pid") t1=$(date +%s.%N)
		echo "$out"
		result[$mode,$c]=$(grep '^result:' <<<"$out")
		# Cores the server kept busy, averaged over the run (warm-up included).
		cores[$mode,$c]=$(awk -v a="$cpu0" -v b="$cpu1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')
	done
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
div() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, (b > 0 ? a / b : 0) }'; }
echo
echo "rps: good answers per second; cores: CPU the server process used (of $(nproc)); per core: rps / cores"
printf '%-5s | %-32s | %-32s | %s\n' "" "latchkey secret GET" "trivial server ($size bytes)" "latchkey / trivial"
printf '%-5s | %6s %6s %6s %5s %5s | %6s %6s %6s %5s %5s | %5s %8s\n' conns rps "p50ms" "p99ms" cores "/core" rps "p50ms" "p99ms" cores "/core" rps "per core"
for c in $CONNECTIONS; do
	s=${result[secret,$c]} b=${result[baseline,$c]}
	sr=$(field "$s" rps) br=$(field "$b" rps)
	sc=$(div "$sr" "${cores[secret,$c]}" %.0f) bc=$(div "$br" "${cores[baseline,$c]}" %.0f)
	printf '%-5s | %6s %6s %6s %5s %5s | %6s %6s %6s %5s %5s | %5s %8s\n' "$c" \
		"$sr" "$(field "$s" p50_ms)" "$(field "$s" p99_ms)" "${cores[secret,$c]}" "$sc" \
		"$br" "$(field "$b" p50_ms)" "$(field "$b" p99_ms)" "${cores[baseline,$c]}" "$bc" \
		"$(div "$sr" "$br" %.2f)" "$(div "$sc" "$bc" %.2f)"
done
