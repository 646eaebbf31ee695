#!/usr/bin/env bash
# make-fixtures.sh DEST: turn the fake ComfyUI (scripts/fake_comfyui) into local git
# repositories, so the real clone / venv / pip / install.py path runs offline:
#   DEST/ComfyUI.git      bare repo, branch master: v0.3.0, then v0.3.1 (version bump)
#   DEST/custom-node.git  bare repo, branch master, tag v1.0.0: a custom node pack with
#                         __init__.py, an empty requirements.txt and an install.py that
#                         writes install_marker.txt
# Existing repositories in DEST are replaced. Needs git and no git config.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DEST" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
src="$here/fake_comfyui"
mkdir -p "$1"
dest=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

g() { git -c user.name="Fixture Bot" -c user.email="fixtures@comfylauncher.invalid" \
	-c init.defaultBranch=master -c commit.gpgsign=false -c tag.gpgsign=false "$@"; }

# ComfyUI: the fake's files, without the fixtures and caches.
c="$work/ComfyUI"
mkdir -p "$c"
tar -C "$src" --exclude=./fixtures --exclude=__pycache__ --exclude='*.pyc' -cf - . | tar -C "$c" -xf -
mkdir -p "$c/models/checkpoints" "$c/models/loras" "$c/input" "$c/output"
for d in models/checkpoints models/loras input output; do
	: >"$c/$d/put_files_here"
done
g -C "$c" init -q
g -C "$c" add -A
g -C "$c" add -f models input output
GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z" \
	g -C "$c" commit -q -m "ComfyUI v0.3.0 (fake)"
g -C "$c" tag v0.3.0
sed -i 's/__version__ = "0.3.0"/__version__ = "0.3.1"/' "$c/comfyui_version.py"
GIT_AUTHOR_DATE="2025-02-01T00:00:00Z" GIT_COMMITTER_DATE="2025-02-01T00:00:00Z" \
	g -C "$c" commit -q -am "Bump version to 0.3.1"
g -C "$c" tag v0.3.1
rm -rf "$dest/ComfyUI.git"
g clone -q --bare "$c" "$dest/ComfyUI.git"

# A custom node pack.
n="$work/custom-node"
mkdir -p "$n"
cp "$src/fixtures/custom-node/__init__.py" "$src/fixtures/custom-node/requirements.txt" \
	"$src/fixtures/custom-node/install.py" "$n/"
g -C "$n" init -q
g -C "$n" add -A
GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z" \
	g -C "$n" commit -q -m "Fake custom node pack"
g -C "$n" tag v1.0.0
rm -rf "$dest/custom-node.git"
g clone -q --bare "$n" "$dest/custom-node.git"

echo "$dest/ComfyUI.git $(g -C "$dest/ComfyUI.git" rev-parse master)"
echo "$dest/custom-node.git $(g -C "$dest/custom-node.git" rev-parse master)"
