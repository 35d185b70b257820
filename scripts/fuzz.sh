#!/usr/bin/env bash
# Runs every fuzz target in the repository (found by name, so new ones are
# picked up) from its committed corpus (testdata/fuzz) for a bounded number
# of executions each.
#
# The budget is a count (PAYSTATE_FUZZ_EXECS, default 50000x), not a
# duration: Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" when a duration-based -fuzztime expires
# (go.dev/issue/75804, fixed in Go 1.27). A count has no deadline, so a slow
# or loaded machine only makes the run take longer; -timeout still bounds a
# target that hangs.
#
# A failure leaves the input in that package's testdata/fuzz: commit it with
# the fix.
#
# Usage: scripts/fuzz.sh   (from any directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

execs="${PAYSTATE_FUZZ_EXECS:-50000x}"
targets=$(go test -list '^Fuzz' ./... | awk '/^Fuzz/ { names = names " " $1 } /^ok/ { if (names != "") print $2 names; names = "" }')
echo "fuzz: ${execs} executions per target"
while read -r pkg names; do
	for name in $names; do
		echo "fuzz: $pkg $name"
		go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$execs" -timeout 10m
	done
done <<<"$targets"
