#!/usr/bin/env bash
# Build the image and run the suite in containers, for real, on a machine without Docker and
# without access to an image registry (on demand; not part of `make test`):
#
#   sudo docker/smoke.sh            # from the repository's root; as root (rootful podman)
#
# 1. A Debian bookworm base made from Debian packages (mmdebstrap, like debian:bookworm-slim) and
#    imported with `podman import`; kept as localhost/agentsuite-base:bookworm for the next run.
# 2. docker/Dockerfile built with podman on that base.
# 3. A pod with no network but its own loopback. In it: PostgreSQL 16 + pgvector, a one-shot
#    `python -m services.migrate`, memory, tools, agent, gateway, each started alone and timed
#    from container start to its "serving" log line, then checked with the image's HEALTHCHECK.
#    PostgreSQL: no pgvector image can be pulled and Debian bookworm packages no pgvector, so it
#    runs from the PostgreSQL 16 + pgvector that the pgserver wheel puts in the image's venv, as
#    the image's non-root user; docker/postgres/10-extensions.sql creates the extension as in
#    compose. The LLM is the suite's fake OpenAI-compatible server (python -m services.fake_llm).
# 4. docker/smoke_conversation.py: one conversation through the gateway with a custom tool that
#    runs in the tools container's bubblewrap sandbox, under docker/seccomp/tools.json.
# 5. Everything stopped and removed (the images stay).
#
# Container options mirror docker/compose.yaml: read-only root, /tmp on tmpfs, no capabilities,
# no-new-privileges; the tools container also gets seccomp=docker/seccomp/tools.json and
# unmask=ALL (podman's name for compose's systempaths=unconfined).
#
# Environment: SMOKE_REBUILD_BASE=1 remakes the base; SMOKE_KEEP=1 leaves the pod running.
set -euo pipefail

cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "smoke.sh: run as root (rootful podman)" >&2; exit 2; }

need=()
command -v podman >/dev/null || need+=(podman)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v runc >/dev/null || need+=(runc)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/agentsuite-smoke.XXXXXX)
pod=agentsuite-smoke
base=localhost/agentsuite-base:bookworm
image=localhost/agentsuite:smoke

# Podman's own configuration for this run only: runc, since crun refuses the hybrid cgroup
# (v1 + v2) layout some hosts have; and no default ulimits, which a container manager without
# CAP_SYS_RESOURCE (as in a sandboxed CI) cannot raise.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"

cleanup() {
  if [ "${SMOKE_KEEP:-0}" != 1 ]; then
    podman pod rm --force --time 15 "$pod" >/dev/null 2>&1 || true
    for service in memory tools agent gateway; do podman volume rm --force "smoke-$service-state" >/dev/null 2>&1; done
    rm -rf "$work"
  fi
}
trap cleanup EXIT
podman pod rm --force "$pod" >/dev/null 2>&1 || true
for service in memory tools agent gateway; do podman volume rm --force "smoke-$service-state" >/dev/null 2>&1; done

# Without systemd podman cannot schedule the image's health checks itself (it says so on every
# run); this script runs them with `podman healthcheck run` instead.
quiet_podman() { podman "$@" 2> >(grep -v 'systemd connection' >&2); }
say() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

# ---- 1. the base ----
if [ "${SMOKE_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$base"; then
  say "base image from Debian packages (mmdebstrap)"
  t0=$(now)
  mmdebstrap --variant=minbase --mode=root \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$work/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 \
    || { tail -20 "$work/mmdebstrap.log"; exit 1; }
  podman import --change 'CMD ["/bin/bash"]' "$work/base.tar" "$base" >/dev/null
  rm -f "$work/base.tar"
  echo "base made in $(since "$t0") s"
fi

# ---- 2. the image ----
say "podman build -f docker/Dockerfile"
# The build reaches Debian and PyPI through the host's network; pip trusts the host's CA bundle
# (a proxy's CA, where there is one), mounted for the build only.
# (At a fixed path: the build's volumes are part of its layer cache key.)
pip_conf=/tmp/agentsuite-smoke-pip.conf
printf '[global]\ncert = /etc/pip-host-ca.crt\n' >"$pip_conf"
t0=$(now)
podman build --format docker --network host \
  --volume /etc/ssl/certs/ca-certificates.crt:/etc/pip-host-ca.crt:ro \
  --volume "$pip_conf:/etc/pip.conf:ro" \
  --build-arg BASE_IMAGE="$base" \
  --build-arg REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  -f docker/Dockerfile -t "$image" . >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
build_s=$(since "$t0")
size=$(podman image inspect "$image" --format '{{.Size}}')
echo "built in ${build_s} s; image size $((size / 1000000)) MB ($size bytes)"

# ---- 3. the suite in a pod ----
say "pod (no network but its loopback), PostgreSQL 16 + pgvector"
podman pod create --name "$pod" --network none >/dev/null
pg=/opt/agentsuite/venv/lib/python3.11/site-packages/pgserver/pginstall/bin
password=smoke-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
common=(--pod "$pod" --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
podman run -d --name smoke-postgres "${common[@]}" --no-healthcheck \
  -v "$PWD/docker/postgres:/docker-entrypoint-initdb.d:ro,Z" "$image" sh -c "
    $pg/initdb -D /tmp/pgdata -U postgres --auth=trust >/dev/null &&
    exec $pg/postgres -D /tmp/pgdata -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 \
      -c shared_buffers=256MB" >/dev/null
for _ in $(seq 60); do
  podman exec smoke-postgres "$pg/pg_isready" -h 127.0.0.1 -q && break
  sleep 0.5
done
podman exec smoke-postgres "$pg/psql" -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE agentsuite LOGIN PASSWORD '$password'" -c "CREATE DATABASE agentsuite OWNER agentsuite"
podman exec smoke-postgres "$pg/psql" -h 127.0.0.1 -U postgres -d agentsuite -q -v ON_ERROR_STOP=1 \
  -f /docker-entrypoint-initdb.d/10-extensions.sql
podman exec smoke-postgres "$pg/psql" -h 127.0.0.1 -U postgres -d agentsuite -Atc \
  "SELECT 'PostgreSQL ' || current_setting('server_version') || ', pgvector ' || extversion FROM pg_extension WHERE extname = 'vector'"

env_common=(
  -e "DATABASE_URL=postgresql://agentsuite:$password@127.0.0.1:5432/agentsuite"
  -e AGENTSUITE_HOST=127.0.0.1
  -e AGENTSUITE_GATEWAY_ADDR=127.0.0.1:50051 -e AGENTSUITE_AGENT_ADDR=127.0.0.1:50052
  -e AGENTSUITE_MEMORY_ADDR=127.0.0.1:50053 -e AGENTSUITE_TOOLS_ADDR=127.0.0.1:50054
  -e AGENTSUITE_DB_POOL_SIZE=10 -e AGENTSUITE_DRAIN_SECONDS=1 -e AGENTSUITE_GRACE_SECONDS=5
)
internal_token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
secrets_key=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')

say "python -m services.migrate (one-shot)"
podman run --rm --name smoke-migrate "${common[@]}" --no-healthcheck "${env_common[@]}" "$image" \
  python -m services.migrate

say "fake LLM"
podman run -d --name smoke-llm "${common[@]}" --no-healthcheck "$image" python -m services.fake_llm --port 8089 >/dev/null

declare -A port=([memory]=50053 [tools]=50054 [agent]=50052 [gateway]=50051)
declare -A extra=(
  [memory]=""
  [tools]="-e AGENTSUITE_SECRETS_KEY=$secrets_key --security-opt seccomp=$PWD/docker/seccomp/tools.json --security-opt unmask=ALL"
  [agent]="-e AGENTSUITE_INTERNAL_TOKEN=$internal_token -e AGENTSUITE_OPENAI_BASE_URL=http://127.0.0.1:8089/v1"
  [gateway]="-e AGENTSUITE_INTERNAL_TOKEN=$internal_token"
)
startup_json="{"
for service in memory tools agent gateway; do
  say "$service"
  # shellcheck disable=SC2086  # extra options are words on purpose
  # The state directory on a named volume, as in compose: podman fills a new one from the image,
  # owner (10001) and mode (0700) included.
  quiet_podman run -d --name "smoke-$service" "${common[@]}" -v "smoke-$service-state:/var/lib/agentsuite" \
    "${env_common[@]}" \
    -e "AGENTSUITE_PORT=${port[$service]}" ${extra[$service]} "$image" python -m "services.$service" >/dev/null
  serving=""
  for _ in $(seq 240); do
    serving=$(podman logs "smoke-$service" 2>&1 | grep -m1 '"msg": "serving"' || true)
    [ -n "$serving" ] && break
    [ "$(podman inspect "smoke-$service" --format '{{.State.Running}}')" = true ] || break
    sleep 0.25
  done
  [ -n "$serving" ] || { podman logs "smoke-$service" 2>&1 | tail -20; exit 1; }
  started=$(podman inspect "smoke-$service" --format '{{.State.StartedAt}}')
  seconds=$(python3 - "$started" "$serving" <<'EOF'
import json, sys
from datetime import datetime
started = sys.argv[1].split(" +")[0]
head, _, fraction = started.partition(".")
start = datetime.fromisoformat(head).timestamp() + float("0." + (fraction or "0"))
served = datetime.fromisoformat(json.loads(sys.argv[2])["ts"].rstrip("Z")).timestamp()
print(f"{served - start:.2f}")
EOF
)
  podman healthcheck run "smoke-$service" >/dev/null && health=healthy || health=unhealthy
  echo "$service: SERVING ${seconds} s after its container started; image HEALTHCHECK: $health"
  [ "$health" = healthy ] || exit 1
  startup_json+="\"$service\": $seconds, "
done
startup_json="${startup_json%, }}"

# ---- 4. one conversation with a custom tool ----
say "a conversation with a custom tool, through the gateway"
api_key=$(podman run --rm "${common[@]}" --no-healthcheck "${env_common[@]}" "$image" \
  python -m services.cli.main keys create --tenant smoke --name smoke | awk '/^key:/ {print $2}')
podman run --rm --name smoke-client "${common[@]}" --no-healthcheck -e "SMOKE_API_KEY=$api_key" \
  -v "$PWD/docker/smoke_conversation.py:/opt/smoke_conversation.py:ro,Z" "$image" \
  python /opt/smoke_conversation.py | tee "$work/conversation.json"
sandboxed=$(podman logs smoke-tools 2>&1 | grep -c 'CRITICAL' || true)
[ "$sandboxed" = 0 ] || { echo "the tools service ran unsandboxed" >&2; exit 1; }

# ---- 5. stop: the services drain and stop on SIGTERM ----
say "stop"
for service in gateway agent tools memory; do
  t0=$(now)
  podman stop --time 15 "smoke-$service" >/dev/null
  code=$(podman inspect "smoke-$service" --format '{{.State.ExitCode}}')
  echo "$service stopped in $(since "$t0") s, exit code $code"
done

say "summary"
printf '{"image_bytes": %s, "build_seconds": %s, "seconds_to_serving": %s, "conversation": %s}\n' \
  "$size" "$build_s" "$startup_json" "$(cat "$work/conversation.json")"
