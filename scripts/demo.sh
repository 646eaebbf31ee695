#!/usr/bin/env bash
# Offline demo of the project lifecycle (issue 6): builds the fixture repositories, starts the
# agent with configs/demo.toml and drives the API: the declared project comes up by itself;
# a second project is created with a launcher JSON (one custom node), installed, started,
# opened through the reverse proxy (/comfy/<id>/system_stats), its logs paged, stopped and
# deleted. Needs go, git, python3 (with venv) and curl; no network.
# Usage: scripts/demo.sh        KEEP=1 keeps data/demo from a previous run.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=data/demo
CONFIG=configs/demo.toml
API=http://127.0.0.1:4077

say() { printf '\n== %s\n' "$*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
state() { curl -fsS "$API/api/projects/$1" | json 'd["state"]["state"]'; }
wait_state() { # id wanted...
  local id=$1; shift
  for _ in $(seq 1 600); do
    local s; s=$(state "$id" 2>/dev/null || echo missing)
    for want in "$@"; do [ "$s" = "$want" ] && { echo "$s"; return 0; }; done
    if [ "$s" = failed ]; then
      curl -fsS "$API/api/projects/$id" | json 'd["state"]["failure"]' >&2
      return 1
    fi
    sleep 0.2
  done
  echo "timed out waiting for $id ($*)" >&2; return 1
}

if [ "${KEEP:-}" != 1 ]; then rm -rf "$DATA"; fi
mkdir -p "$DATA"

say "fixtures (local git repositories; ComfyUI's main.py is the fake server)"
[ -d "$DATA/fixtures/ComfyUI.git" ] || scripts/make-fixtures.sh "$DATA/fixtures"

say "build and start the agent ($CONFIG)"
go build -o "$DATA/launcher" ./agent/cmd/launcher
"$DATA/launcher" serve --config "$CONFIG" >"$DATA/agent.log" 2>&1 &
AGENT=$!
# ComfyUI processes outlive the agent by design (the next agent re-adopts them); the demo
# stops its projects before it stops the agent so it leaves nothing running.
cleanup() {
  for id in $(curl -fsS "$API/api/projects" 2>/dev/null | json '" ".join(p["id"] for p in d)' 2>/dev/null); do
    curl -fsS -X POST "$API/api/projects/$id/stop" >/dev/null 2>&1 || true
  done
  kill $AGENT 2>/dev/null; wait $AGENT 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "$API/api/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$API/api/settings"; echo

say "declared project [[projects]] id=headless comes up by itself"
wait_state headless running
curl -fsS "$API/comfy/headless/system_stats" | json 'd["system"]["comfyui_version"] if "system" in d else d'

say "create a project from a launcher JSON with one custom node"
NODE="$(cd "$DATA/fixtures/custom-node.git" && pwd)"
LJ=$(printf '{"format":"comfyui_launcher","version":"1.0","workflow_json":{"nodes":[]},"snapshot_json":{"comfyui":null,"git_custom_nodes":{"%s":{"hash":null,"disabled":false}}},"files":[],"pip_requirements":[]}' "$NODE")
T0=$(date +%s.%N)
curl -fsS -X POST "$API/api/create_project" -d "{\"name\":\"Demo API\",\"launcher_json\":$LJ}"; echo
wait_state demo-api ready
T1=$(date +%s.%N)
python3 -c "import sys; print('create -> ready: %.1fs' % (float(sys.argv[2]) - float(sys.argv[1])))" "$T0" "$T1"

say "start"
curl -fsS -X POST "$API/api/projects/demo-api/start"; echo
T2=$(date +%s.%N)
python3 -c "import sys; print('start -> running: %.2fs' % (float(sys.argv[2]) - float(sys.argv[1])))" "$T1" "$T2"

say "through the proxy: /comfy/demo-api/system_stats"
curl -fsS "$API/comfy/demo-api/system_stats"; echo

say "logs, page 1 of 5 per page, and errors only"
curl -fsS "$API/api/logs/demo-api?page=1&per_page=5" | json 'd["pagination"]'
curl -fsS "$API/api/logs/demo-api?page=1&per_page=5" | json '"\n".join(e["level"]+" "+e["message"] for e in d["logs"])'
curl -fsS "$API/api/logs/demo-api?level=error" | json 'd["pagination"]'

say "stop, then delete"
curl -fsS -X POST "$API/api/projects/demo-api/stop"; echo
state demo-api
curl -fsS -X POST "$API/api/projects/demo-api/delete"; echo
curl -sS "$API/api/projects/demo-api"; echo

say "projects now"
curl -fsS "$API/api/projects" | json '[(p["id"], p["state"]["state"], p["port"]) for p in d]'
say "done (agent log: $DATA/agent.log)"
