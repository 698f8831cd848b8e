#!/usr/bin/env bash
# run-token.sh measures token issue end to end: client_credentials requests over
# HTTPS to a real `latchkey dev` server from a separate load process (lkload),
# next to the same requests to a trivial Go HTTPS server (trivialserver) in the
# same run. See bench/README.md for how to read the table it prints.
#
#   bench/run-token.sh                      # 16 and 64 connections, 10 s each
#   DURATION=5 CONNECTIONS="8 32" bench/run-token.sh
#
# Everything listens on 127.0.0.1 only, every step has a time limit, and the
# servers it starts are stopped on exit. The shared steps are in bench/lib.sh.
set -euo pipefail

SIZE=${SIZE:-850} # bytes in the trivial server's answer: a token response is about 850

cd "$(dirname "$0")/.."
source bench/lib.sh

# load_args sets args to lkload's arguments for mode $1.
load_args() {
	if [[ $1 == token ]]; then
		args=(token --data "$data")
	else
		args=(baseline --url "https://127.0.0.1:$TRIVIAL_PORT/" --ca "$data/ca.pem")
	fi
}

build_all
start_latchkey
start_trivial "$SIZE" -d x # the token endpoint is a POST
measure token
summary token "latchkey token" "trivial server"
