# Shared by the CI scripts: a free loopback port, a venv with pinned PyPI
# packages, and the dev binary serving the demo catalog until the script exits.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# venv_with DIR REQUIREMENTS: creates DIR once and installs the pinned packages.
venv_with() {
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
}

# start_demo PORT [VAR=value...]: the dev binary on the demo catalog, ready,
# stopped when the calling script exits.
start_demo() {
    local port=$1; shift
    cargo build --locked -q
    env "$@" LISTEN_ADDR="127.0.0.1:$port" DEMO=1 target/debug/cmg-feed-proxy >"/tmp/cmg-demo-$port.log" 2>&1 &
    DEMO_PID=$!
    trap 'kill $DEMO_PID 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the demo instance on port $port did not become ready"; return 1
}
