# lib.sh holds what run-token.sh and run-secret.sh share: the settings, the
# build, starting `latchkey dev` and trivialserver on 127.0.0.1, the measured
# runs and the summary table. Source it from the repository root; it stops
# every process it started (by PID) when the script exits.

DURATION=${DURATION:-10} # seconds measured per run
WARMUP=${WARMUP:-1}      # seconds of unmeasured requests before each run
CONNECTIONS=${CONNECTIONS:-16 64}
LATCHKEY_PORT=${LATCHKEY_PORT:-18443}
TRIVIAL_PORT=${TRIVIAL_PORT:-18444}

work=$(mktemp -d)
data="$work/data"
pids=() # latchkey dev, then trivialserver
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

# build_all builds latchkey, lkload and trivialserver into $work/bin.
build_all() {
	echo "== build"
	timeout 300 go build -o "$work/bin/latchkey" ./cmd/latchkey
	timeout 300 go build -o "$work/bin/lkload" ./bench/lkload
	timeout 300 go build -o "$work/bin/trivialserver" ./bench/trivialserver
}

# start_latchkey starts `latchkey dev` with token throttling off and waits up
# to 60 s for its dev.json.
start_latchkey() {
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
}

# start_trivial SIZE [CURL_ARGS...] starts trivialserver answering SIZE bytes
# and waits up to 10 s until curl, with CURL_ARGS, gets an answer.
start_trivial() {
	local size=$1
	shift
	echo "== start trivialserver on 127.0.0.1:$TRIVIAL_PORT answering $size bytes"
	"$work/bin/trivialserver" --data "$data" --addr "127.0.0.1:$TRIVIAL_PORT" --size "$size" 2>"$work/trivial.err" &
	pids+=($!)
	for _ in $(seq 100); do # up to 10 s
		curl -fsS --max-time 1 --cacert "$data/ca.pem" "$@" "https://127.0.0.1:$TRIVIAL_PORT/" >/dev/null 2>&1 && break
		sleep 0.1
	done
}

# cpu_seconds prints the user+system CPU time a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# measure MODE runs lkload MODE against latchkey and lkload baseline against
# trivialserver, back to back at each of $CONNECTIONS, so that both servers
# see the same machine. The script defines load_args MODE, which sets the
# array args to lkload's arguments for MODE or baseline. Results go to the
# arrays result and cores, keyed "mode,connections".
declare -A result cores
measure() {
	local main=$1 limit=$((DURATION + WARMUP + 30)) c mode pid out cpu0 cpu1 t0 t1
	echo "== $(date -u +%FT%TZ), $(nproc) cores, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for c in $CONNECTIONS; do
		for mode in "$main" baseline; do
			pid=${pids[0]}
			[[ $mode == baseline ]] && pid=${pids[1]}
			load_args "$mode"
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
}

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
div() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, (b > 0 ? a / b : 0) }'; }

# summary MODE LATCHKEY_LABEL TRIVIAL_LABEL prints the table of what measure
# MODE collected.
summary() {
	local main=$1 c m b mr br mc bc
	echo
	echo "rps: good answers per second; cores: CPU the server process used (of $(nproc)); per core: rps / cores"
	printf '%-5s | %-32s | %-32s | %s\n' "" "$2" "$3" "latchkey / trivial"
	printf '%-5s | %6s %6s %6s %5s %5s | %6s %6s %6s %5s %5s | %5s %8s\n' conns rps "p50ms" "p99ms" cores "/core" rps "p50ms" "p99ms" cores "/core" rps "per core"
	for c in $CONNECTIONS; do
		m=${result[$main,$c]} b=${result[baseline,$c]}
		mr=$(field "$m" rps) br=$(field "$b" rps)
		mc=$(div "$mr" "${cores[$main,$c]}" %.0f) bc=$(div "$br" "${cores[baseline,$c]}" %.0f)
		printf '%-5s | %6s %6s %6s %5s %5s | %6s %6s %6s %5s %5s | %5s %8s\n' "$c" \
			"$mr" "$(field "$m" p50_ms)" "$(field "$m" p99_ms)" "${cores[$main,$c]}" "$mc" \
			"$br" "$(field "$b" p50_ms)" "$(field "$b" p99_ms)" "${cores[baseline,$c]}" "$bc" \
			"$(div "$mr" "$br" %.2f)" "$(div "$mc" "$bc" %.2f)"
	done
}
