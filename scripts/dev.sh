#!/usr/bin/env bash
# `make dev`: the Dagster UI (dagster dev: webserver + daemon, so schedules and sensors run) on
# http://127.0.0.1:3000, pointed at the sandbox — or at a real org when its credentials are
# already in the environment. Ctrl-C (or SIGTERM) stops everything this script started.
#
# With connections listed in acm_sync.yaml: each connection none of whose login variables
# (<PREFIX>SALESFORCE_USERNAME, …) is set gets its own sandbox org in .sandbox/<name> (its
# `sandbox: {seed, accounts}` block, or seed 7 + its position in the list; free ports), its
# settings exported under its prefix; a connection with credentials uses them.
#
#   DEV_PORT=3001 make dev           another UI port
#   SANDBOX_ACCOUNTS=5000 make dev   size of a newly seeded sandbox org (first start only)
#   DOCS_PORT=3101 make dev          another port for the Data Docs (`acm-sync docs`)
#   SANDBOX_DIR=/tmp/sb make dev     where the sandbox orgs keep their data (default .sandbox)
set -euo pipefail
set -m  # job control: each background job gets its own process group, stopped as a whole

cd "$(dirname "$0")/.."
BIN=.venv/bin
SANDBOX_DIR="${SANDBOX_DIR:-.sandbox}"
PORT="${DEV_PORT:-3000}"
DOCS_PORT="${DOCS_PORT:-3100}"
export ACM_DATA_DOCS_URL="http://127.0.0.1:$DOCS_PORT"  # the UI's Data Docs links

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster}"
mkdir -p "$DAGSTER_HOME"
# The instance config: telemetry off, run monitoring on (deploy/dagster.yaml). An older one made
# by this script (telemetry only) is replaced; one edited by hand is left as it is.
if [ ! -f "$DAGSTER_HOME/dagster.yaml" ] ||
    [ "$(cat "$DAGSTER_HOME/dagster.yaml")" = "$(printf 'telemetry:\n  enabled: false')" ]; then
    cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
elif ! grep -q '^run_monitoring:' "$DAGSTER_HOME/dagster.yaml"; then
    echo "dev: note: $DAGSTER_HOME/dagster.yaml has no run_monitoring (see deploy/dagster.yaml)"
fi

pids=()
stop() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do  # up to 10 s for a graceful stop …
        local alive=0
        for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done  # … then not
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

real_org() {
    [ -n "${SALESFORCE_USERNAME:-}${SALESFORCE_INSTANCE_URL:-}${SALESFORCE_CONSUMER_KEY:-}" ] ||
        [ -n "${HUBSPOT_ACCESS_TOKEN:-}" ]
}

# Wait for a sandbox started in the background (pid $1) to write $2/settings.json.
await_sandbox() {
    for _ in $(seq 1200); do  # up to 4 minutes (a large first seed)
        [ -f "$2/settings.json" ] && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.2
    done
    echo "dev: the sandbox in $2 did not start" >&2
    exit 1
}

# The listed connections, one `NAME sandbox|credentials PREFIX` line each (none: one org).
connections="$("$BIN/acm-sync" sandbox connections)"

if [ -n "$connections" ]; then
    started=()
    while read -r name how prefix; do
        if [ "$how" = credentials ]; then
            echo "dev: $name: credentials found (${prefix}…) — using them, no sandbox"
            continue
        fi
        dir="$SANDBOX_DIR/$name"
        [ -f "$dir/salesforce.db" ] || echo "dev: $name: seeding its demo org in $dir (first start)"
        mkdir -p "$dir"
        rm -f "$dir/settings.json"  # written anew once both servers answer
        "$BIN/acm-sync" sandbox serve --connection "$name" --data-dir "$dir" \
            --accounts "${SANDBOX_ACCOUNTS:-1000}" --quiet &
        pids+=("$!")
        started+=("$name $! $prefix")
    done <<< "$connections"
    for entry in "${started[@]}"; do
        read -r name pid prefix <<< "$entry"
        await_sandbox "$pid" "$SANDBOX_DIR/$name"
        # its settings as the connection's prefixed variables (secrets are never printed)
        eval "$("$BIN/acm-sync" sandbox env --connection "$name" --data-dir "$SANDBOX_DIR/$name")"
        sf="${prefix}SALESFORCE_LOGIN_URL" hs="${prefix}HUBSPOT_BASE_URL"
        echo "dev: $name: sandbox up — Salesforce ${!sf}, HubSpot ${!hs} (as ${prefix}…)"
    done
elif real_org; then
    echo "dev: CRM credentials found in the environment — using them, no sandbox"
    [ -n "${SALESFORCE_USERNAME:-}${SALESFORCE_INSTANCE_URL:-}${SALESFORCE_CONSUMER_KEY:-}" ] ||
        echo "dev: warning: no SALESFORCE_* credentials: the Salesforce pulls will fail"
    [ -n "${HUBSPOT_ACCESS_TOKEN:-}" ] ||
        echo "dev: warning: no HUBSPOT_ACCESS_TOKEN: the HubSpot pulls will fail"
else
    [ -d "$SANDBOX_DIR" ] && [ -f "$SANDBOX_DIR/salesforce.db" ] ||
        echo "dev: seeding a ${SANDBOX_ACCOUNTS:-1000}-account demo org in $SANDBOX_DIR (first start)"
    mkdir -p "$SANDBOX_DIR"
    rm -f "$SANDBOX_DIR/settings.json"  # written anew once both servers answer
    "$BIN/acm-sync" sandbox serve --data-dir "$SANDBOX_DIR" \
        --accounts "${SANDBOX_ACCOUNTS:-1000}" --quiet &
    pids+=("$!")
    await_sandbox "$!" "$SANDBOX_DIR"
    set -a
    # shellcheck disable=SC1091
    . "$SANDBOX_DIR/connection.env"
    set +a
    echo "dev: sandbox up — Salesforce $SALESFORCE_LOGIN_URL, HubSpot $HUBSPOT_BASE_URL"
fi

"$BIN/acm-sync" docs --port "$DOCS_PORT" &
pids+=("$!")
if [ -n "$connections" ]; then
    echo "dev: Data Docs on $ACM_DATA_DOCS_URL/ — each connection's under /<name>/"
else
    echo "dev: Data Docs on $ACM_DATA_DOCS_URL/ (built by each validation)"
fi

echo "dev: Dagster UI on http://127.0.0.1:$PORT (DAGSTER_HOME=$DAGSTER_HOME); Ctrl-C stops all"
"$BIN/dagster" dev -m acm_sync.definitions -h 127.0.0.1 -p "$PORT" &
pids+=("$!")

# Whichever stops first (or a signal) stops the other.
wait -n "${pids[@]}" || true
