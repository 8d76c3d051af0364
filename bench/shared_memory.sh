#!/bin/bash
# Two concurrent `celmatch match` processes on one index; prints each one's
# resident (Rss) and proportional (Pss) memory, in total and for the mapping of
# pdq.faissbin, sampled once both have the index open (README "Big indexes on
# one machine").
#   bench/shared_memory.sh INDEX_DIR DUMP [CELMATCH_BINARY]
set -u
IDX=$1; DUMP=$2; BIN=${3:-celmatch}
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
$BIN match --index "$IDX" --out "$OUT"/r1.jsonl "$DUMP" 2>/dev/null & p1=$!
$BIN match --index "$IDX" --out "$OUT"/r2.jsonl "$DUMP" 2>/dev/null & p2=$!
mapping() { awk -v f="$IDX/pdq.faissbin" '$0 ~ f {on=1; next} /^[0-9a-f]+-[0-9a-f]+ / {on=0} on && /^(Rss|Pss):/ {printf "%s %s kB  ", $1, $2}' /proc/$1/smaps 2>/dev/null; }
for i in $(seq 1 600); do
  m1=$(mapping $p1); m2=$(mapping $p2)
  if [ -n "$m1" ] && [ -n "$m2" ]; then
    sleep 3
    for p in $p1 $p2; do
      echo "pid $p total: $(grep -E '^(Rss|Pss):' /proc/$p/smaps_rollup | tr -s ' ' | tr '\n' ' ')"
      echo "pid $p pdq.faissbin mapping: $(mapping $p)"
    done
    break
  fi
  sleep 1
done
wait $p1 $p2
echo "exit: both done"
