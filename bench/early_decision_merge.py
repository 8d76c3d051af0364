#!/usr/bin/env python3
# Usage: bench/early_decision_merge.py T RESULTS_AT_16.jsonl VERIFIED_EARLY.jsonl OUT.jsonl
# Records of `match --early-pdq-distance T` from the run at 16 (every file)
# and the re-run of its early-decided files with every match verified: a file
# decided early at a PDQ distance <= T keeps the first record, the others
# take the verified one (matching is deterministic: files not decided early
# ran the same code in both). T = -1: every match verified.
import json, sys
T = int(sys.argv[1]); full, verified, out = sys.argv[2:5]
ver = {}
for line in open(verified):
    j = json.loads(line)
    if "file" in j: ver[j["file"]] = j  # run records (celmatch_run) have none
n_early = 0
with open(out, "w") as f:
    for line in open(full):
        j = json.loads(line)
        if "file" not in j:  # a run record: kept as it is
            f.write(json.dumps(j) + "\n")
            continue
        if j["file"] in ver:
            d = j["matches"][0]["evidence"]["pdq_distance"]
            if d <= T: n_early += 1
            else: j = ver[j["file"]]
        f.write(json.dumps(j) + "\n")
print(f"T={T}: {n_early} files decided early of {len(ver)} that could be", file=sys.stderr)
