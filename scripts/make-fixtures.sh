#!/usr/bin/env bash
# make-fixtures.sh DEST: the test fixture repositories as bare repositories, offline:
#   DEST/ComfyUI.git      the fake ComfyUI (scripts/fake_comfyui), branch master: v0.3.0, then v0.3.1
#   DEST/custom-node.git  a custom node pack, tag v1.0.0, whose install.py writes installed.marker
# The one builder is agent/internal/project/projecttest (Build); this runs it. Needs go and git.
set -euo pipefail
if [ $# -ne 1 ]; then
	echo "usage: $0 DEST" >&2
	exit 2
fi
mkdir -p "$1"
dest=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
exec go run ./agent/internal/project/projecttest/makefixtures "$dest"
