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
# limit, and the servers it starts are stopped on exit. The shared steps are
# in bench/lib.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh

# load_args sets args to lkload's arguments for mode $1.
load_args() {
	if [[ $1 == secret ]]; then
		args=(secret --data "$data")
	else
		# The same request line and Authorization header size as the secret GET.
		args=(baseline --url "https://127.0.0.1:$TRIVIAL_PORT/secrets/bench?api-version=7.5"
			--ca "$data/ca.pem" --like secret --bearer-bytes "$bearer")
	fi
}

build_all
start_latchkey

# One GET tells the size of Latchkey's answer and of its bearer token, so that
# the trivial server answers as many bytes and is sent as many.
probe=$(timeout 30 "$work/bin/lkload" secret --data "$data" --probe)
echo "$probe"
size=$(sed -n 's/.* answer_bytes=\([0-9]*\).*/\1/p' <<<"$probe")
bearer=$(sed -n 's/.* bearer_bytes=\([0-9]*\).*/\1/p' <<<"$probe")
[[ -n $size && -n $bearer ]] || { echo "lkload secret --probe printed no sizes" >&2; exit 1; }

start_trivial "$size"
measure secret
summary secret "latchkey secret GET" "trivial server ($size bytes)"
