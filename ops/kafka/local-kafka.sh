#!/usr/bin/env bash
# A local Apache Kafka 4.x broker (KRaft, one combined broker/controller on 127.0.0.1)
# for development and tests. No Docker, no download outside Maven Central.
#
#   ops/kafka/local-kafka.sh fetch            # jars -> $SMSGUARD_KAFKA_CACHE/libs (once)
#   ops/kafka/local-kafka.sh start [DIR]      # format + start, wait until it answers
#   ops/kafka/local-kafka.sh status [DIR]     # running/stopped + bootstrap address
#   ops/kafka/local-kafka.sh stop [DIR]       # SIGTERM, then SIGKILL after a timeout
#
# DIR holds server.properties, the log dir, kafka.out, kafka.pid and `bootstrap`
# (default ~/.cache/smsguard/kafka-run). KAFKA_PORT / KAFKA_CONTROLLER_PORT choose
# the ports (unset or 0: a free port is picked). `start` prints the bootstrap address
# (127.0.0.1:PORT) as its last line of stdout.
set -euo pipefail

KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SMSGUARD_KAFKA_CACHE:-$HOME/.cache/smsguard/kafka-$KAFKA_VERSION}"
LIBS="$CACHE/libs"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-90}"
STOP_TIMEOUT_S="${KAFKA_STOP_TIMEOUT_S:-30}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "local-kafka: $*" >&2; }

fetch() {
    if [[ -f "$LIBS/.complete" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; exit 1; }
    log "fetching Kafka $KAFKA_VERSION jars into $LIBS"
    rm -rf "$LIBS.tmp"
    mkdir -p "$CACHE"
    mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$LIBS.tmp" -DincludeScope=runtime
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
    touch "$LIBS/.complete"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run_dir() { echo "${1:-${KAFKA_DIR:-$HOME/.cache/smsguard/kafka-run}}"; }

pid_of() {
    local dir="$1"
    [[ -f "$dir/kafka.pid" ]] || return 1
    local pid
    pid="$(cat "$dir/kafka.pid")"
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

java_cmd() {
    # Small heap: tests and development move a few MB; the machine has 2 cores.
    # shellcheck disable=SC2086
    "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local dir
    dir="$(run_dir "${1:-}")"
    if pid="$(pid_of "$dir")"; then
        log "already running (pid $pid) in $dir"
        cat "$dir/bootstrap"
        return 0
    fi
    fetch
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local port="${KAFKA_PORT:-0}" cport="${KAFKA_CONTROLLER_PORT:-0}"
    [[ "$port" != 0 ]] || port="$(free_port)"
    [[ "$cport" != 0 ]] || cport="$(free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    if port_open "$port"; then
        log "port $port is already in use"
        exit 1
    fi
    # A fresh log dir each start: the broker is disposable (tests want a clean cluster).
    rm -rf "$dir/data"
    sed -e "s#@BROKER_PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$cport#g" \
        -e "s#@LOG_DIR@#$dir/data#g" "$HERE/server.properties.template" >"$dir/server.properties"
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid | tail -n1)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
        --standalone >"$dir/format.out" 2>&1 || { cat "$dir/format.out" >&2; exit 1; }
    echo "127.0.0.1:$port" >"$dir/bootstrap"
    # setsid: the broker must not die with the shell (or the pytest process group) that
    # started it; `stop` ends it by pid.
    setsid "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/kafka.out" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/kafka.pid"
    local deadline=$((SECONDS + START_TIMEOUT_S))
    # Ready = the listener accepts connections and the server logged that it started
    # (the port alone opens before the broker has joined its own quorum).
    until port_open "$port" && grep -q "Kafka Server started" "$dir/kafka.out"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker exited during startup; last lines of $dir/kafka.out:"
            tail -n 30 "$dir/kafka.out" >&2
            exit 1
        fi
        if ((SECONDS > deadline)); then
            log "broker not ready after ${START_TIMEOUT_S}s; stopping it"
            stop "$dir"
            exit 1
        fi
        sleep 0.2
    done
    log "running (pid $pid) at 127.0.0.1:$port, data in $dir"
    echo "127.0.0.1:$port"
}

stop() {
    local dir
    dir="$(run_dir "${1:-}")"
    local pid
    if ! pid="$(pid_of "$dir")"; then
        log "not running ($dir)"
        rm -f "$dir/kafka.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            log "no clean stop after ${STOP_TIMEOUT_S}s; killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$dir/kafka.pid"
    log "stopped ($dir)"
}

status() {
    local dir
    dir="$(run_dir "${1:-}")"
    if pid="$(pid_of "$dir")"; then
        echo "running pid=$pid bootstrap=$(cat "$dir/bootstrap") dir=$dir"
    else
        echo "stopped dir=$dir"
        return 3
    fi
}

case "${1:-}" in
fetch) fetch ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
status) status "${2:-}" ;;
*)
    echo "usage: $0 fetch|start [DIR]|stop [DIR]|status [DIR]" >&2
    exit 2
    ;;
esac
