# shellcheck shell=bash
# lib_bench.sh -- what the benchmarks read alike from the lab's logs.
# Source it after ../integration/lib.sh.

# bench_bind_marks LOG OFFSET -- from named's LOG past byte OFFSET, sets
# BIND_FIRST and BIND_LAST (epoch seconds with milliseconds: the first and
# the last record named logged as added) and BIND_CONNS (the client source
# ports those updates came from: one TCP connection per UPDATE message for
# dcv, dcvd and nsupdate). Returns 1 when named logged no added record.
# shellcheck disable=SC2034 # the BIND_* variables are for the caller
bench_bind_marks() {
	local log=${1:?bench_bind_marks LOG OFFSET} off=${2:?bench_bind_marks LOG OFFSET} first last
	read -r first last BIND_CONNS < <(tail -c +$((off + 1)) "$log" | awk '
		/updating zone .*: adding an RR at / {
			if (!n++) first = $1 " " $2
			last = $1 " " $2
			if (match($0, /#[0-9]+/)) port[substr($0, RSTART, RLENGTH)] = 1
		}
		END { c = 0; for (p in port) c++; print first "|" last "|" c }' | tr ' |' '_ ')
	[[ -n $first && -n $last ]] || return 1
	BIND_FIRST=$(date -d "${first//_/ }" +%s.%3N)
	BIND_LAST=$(date -d "${last//_/ }" +%s.%3N)
}
