#!/usr/bin/env bash
# Verifies that the generated code in the working tree is exactly what
# scripts/generate.sh produces from the current proto/ sources.
#
# It regenerates in place (the tree is left regenerated, ready to commit) and
# fails, listing the files, if anything under the generated paths changed:
#   - compared with HEAD via `git status --porcelain` when the repository has a
#     commit (the CI case: a fresh clone whose committed output is stale or
#     hand-edited);
#   - and always compared with a copy of the generated files taken before
#     regenerating (catches uncommitted hand edits, and works before the first
#     commit exists).
#
# Usage: scripts/check-generated.sh   (from any directory)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$repo_root"

# Generated paths, as git pathspecs (a `*` also matches `/`) ...
pathspecs=('proto/*.pb.go' 'proto/*.pb.gw.go' 'api/openapi/*.swagger.json' 'api/openapi/*.openapi.json')
# ... and as a file lister for the snapshot comparison.
list_generated() {
	{
		find proto -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \)
		find api/openapi -type f \( -name '*.swagger.json' -o -name '*.openapi.json' \)
	} 2>/dev/null | LC_ALL=C sort
}

snapshot="$(mktemp -d)"
trap 'rm -rf "$snapshot"' EXIT

list_generated >"$snapshot/.before"
while IFS= read -r f; do
	mkdir -p "$snapshot/tree/$(dirname "$f")"
	cp -p "$f" "$snapshot/tree/$f"
done <"$snapshot/.before"

scripts/generate.sh

changed=()

# 1. Against the pre-regeneration copy.
list_generated >"$snapshot/.after"
while IFS= read -r f; do
	if [[ ! -e "$snapshot/tree/$f" ]]; then
		changed+=("added:    $f")
	elif [[ ! -e "$f" ]]; then
		changed+=("removed:  $f")
	elif ! cmp -s "$snapshot/tree/$f" "$f"; then
		changed+=("modified: $f")
	fi
done < <(LC_ALL=C sort -u "$snapshot/.before" "$snapshot/.after")

# 2. Against HEAD, when there is one.
if git rev-parse --verify --quiet HEAD >/dev/null 2>&1; then
	while IFS= read -r line; do
		changed+=("git:      $line")
	done < <(git status --porcelain --untracked-files=all -- "${pathspecs[@]}")
fi

if ((${#changed[@]} > 0)); then
	{
		echo
		echo "check-generated: FAILED - generated files are out of date or were edited by hand:"
		printf '  %s\n' "${changed[@]}"
		echo
		echo "Generated code must never be edited by hand. Change the .proto files under"
		echo "proto/paystate/ instead, run scripts/generate.sh, and commit the result."
		echo "(The working tree now holds the freshly regenerated files.)"
	} >&2
	exit 1
fi

echo "check-generated: OK - generated files are up to date." >&2
