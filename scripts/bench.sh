#!/usr/bin/env bash
# Run every blockorch benchmark against daisy 2.0.0 and write the results.
#
#   scripts/bench.sh                 # full run (~4 minutes on 2 cores; 213 s measured)
#   scripts/bench.sh --quick         # smaller sizes, 1 run each (~2 minutes)
#   scripts/bench.sh --only throughput --runs 5
#
# Builds the release binary and the bench executables (benches/*.rs, harness = false), sets up
# .venv with daisy 2.0.0 (scripts/setup-python.sh), then runs bench/run_bench.py, which prints
# the tables and writes target/bench/<timestamp>/results.{md,json} (and target/bench/latest).
# Extra arguments go to bench/run_bench.py (see its --help). Not part of the test suite.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "bench: building (cargo build --release, cargo bench --no-run)" >&2
cargo build --release --quiet
# The bench executables' paths, from cargo's JSON build messages.
bins=()
while IFS= read -r line; do
    bins+=(--bin "$line")
done < <(cargo bench --no-run --quiet --message-format=json \
    --bench ledger_build --bench ledger_timeline --bench submit_tuned --bench protocol_roundtrip |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"] + "=" + m["executable"])
')
if [ "${#bins[@]}" -ne 8 ]; then
    echo "bench: could not find the four bench executables (got: ${bins[*]:-none})" >&2
    exit 1
fi

py="$("$repo/scripts/setup-python.sh")"
if [ ! -x /usr/bin/time ]; then
    echo "bench: /usr/bin/time is missing (apt-get install time); peak RSS will be overstated" >&2
fi

out="$repo/target/bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
ln -sfn "$out" "$repo/target/bench/latest"
echo "bench: results in $out" >&2
"$py" "$repo/bench/run_bench.py" \
    --blockorch "$repo/target/release/blockorch" \
    --python "$py" \
    "${bins[@]}" \
    --out "$out" \
    "$@"
# Scratch ledgers and task files are large; keep only the results.
rm -rf "$out/work"
# The Python API (`blockorch.run_blockwise` with a no-op process_function) against daisy
# (docs/performance.md, section 2b; about a minute). Skipped when only some benchmarks are asked.
if [[ " $* " != *" --only "* ]]; then
    echo "bench: python API, results in $out/python_api.txt" >&2
    BLOCKORCH_BIN="$repo/target/release/blockorch" PYTHONPATH="$repo/python" \
        "$py" "$repo/bench/python_api_noop.py" --runs 3 | tee "$out/python_api.txt"
fi
