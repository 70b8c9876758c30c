#!/usr/bin/env bash
# A local cluster: three preforkd "hosts" behind HAProxy, on this one machine.
#
#   scripts/cluster.sh up [BINARY]     create the hosts, start preforkd in each and HAProxy
#   scripts/cluster.sh status          each host's master, /readyz and HAProxy's view of it
#   scripts/cluster.sh reload          rolling HUP, host after host
#   scripts/cluster.sh upgrade [BIN]   rolling binary upgrade (USR2, then QUIT the old master)
#   scripts/cluster.sh restart         rolling restart: drain, graceful stop, start
#   scripts/cluster.sh start N         start host N's preforkd again (after it was killed)
#   scripts/cluster.sh down            remove everything `up` created, and nothing else
#
# Each host is a network namespace (pfd-h1..3, its eth0 at 10.231.7.N/24) with a mount
# namespace of its own (a private /run/preforkd, so the three masters' pid files and
# control sockets do not meet), all running conf/cluster/server.toml. Their veth peers meet
# on a bridge in a fourth namespace, pfd-lb: the 10.231.7.0/24 network exists only inside
# these namespaces. HAProxy runs inside pfd-lb (no route out of it: nothing it sends can
# leave), with its listeners made in the machine's own namespace (named pfd-root for it):
# clients reach it on 127.0.0.1:9080. Rolling operations wait, after each host, until
# HAProxy sees it healthy again.
#
# Needs root (namespaces, veth pairs); state lives in /run/pfd-cluster.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
state=/run/pfd-cluster
conf="$here/conf/cluster/server.toml"
haproxy_cfg="$here/conf/haproxy.cfg"
hosts=(1 2 3)
net=10.231.7
lb_ns=pfd-lb
root_ns=pfd-root   # a name for the namespace this script runs in, for HAProxy's listeners
bridge=pfdbr0
port=9000
frontend=127.0.0.1:9080
stats_url=http://127.0.0.1:9081/stats

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root: it creates network namespaces and veth pairs (run it with sudo, or as root)"
}

host_ns() { echo "pfd-h$1"; }
host_addr() { echo "$net.$1"; }
master_pid() { cat "$state/h$1.pid" 2>/dev/null || true; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# A pid from the state files is signalled only while it is still ours: a process in the
# namespace we made for it (a pid of a master killed earlier may have been reused).
ours() { alive "$1" && [ "$(ip netns identify "$1" 2>/dev/null)" = "$2" ]; }

# Waits until CMD succeeds, at most SECONDS; says WHAT on failure.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      die "timed out after ${seconds} s waiting for $what"
    fi
    sleep 0.1
  done
}

# The /readyz status code of host N, asked from inside pfd-lb.
readyz_code() {
  ip netns exec "$lb_ns" curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$(host_addr "$1"):$port/readyz" || true
}
host_ready() { [ "$(readyz_code "$1")" = 200 ]; }

# HAProxy's status of server hN ("UP", "DOWN", "UP 1/2", ...), from its CSV stats.
haproxy_status() {
  curl -s -m 1 "$stats_url;csv" | awk -F, -v s="h$1" '$1 == "hosts" && $2 == s { print $18 }'
}
haproxy_up() { [ "$(haproxy_status "$1")" = UP ]; }
haproxy_down() { case "$(haproxy_status "$1")" in DOWN* | MAINT*) return 0 ;; *) return 1 ;; esac; }

# The master that now serves host N: after a binary upgrade it is the one its pid file
# names, read through the old master's mount namespace (/proc/PID/root).
pid_file_of() { echo "/proc/$1/root/run/preforkd/preforkd-$port.pid"; }

start_host() {
  local i=$1 ns
  ns=$(host_ns "$i")
  # ip netns exec and unshare exec in place: $! is the master itself.
  ip netns exec "$ns" unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run/preforkd && exec "$0" -c "$1"' "$state/bin/preforkd" "$conf" \
    >>"$state/h$i.log" 2>&1 &
  echo $! >"$state/h$i.pid"
  wait_for 10 "host $i's /readyz" host_ready "$i"
}

# Graceful stop of host N's master: returns once it has exited.
stop_host() {
  local i=$1 pid
  pid=$(master_pid "$i")
  ours "$pid" "$(host_ns "$i")" || return 0
  kill -QUIT "$pid"
  wait_for 20 "host $i's master (pid $pid) to stop" bash -c "! kill -0 $pid 2>/dev/null"
}

in_host() {   # in_host N CMD...: runs CMD in host N's network and mount namespaces
  local i=$1
  shift
  nsenter --target "$(master_pid "$i")" --net --mount -- "$@"
}

create_network() {
  ip netns add "$lb_ns"
  ip -n "$lb_ns" link set lo up
  ip -n "$lb_ns" link add "$bridge" type bridge
  ip -n "$lb_ns" addr add "$net.254/24" dev "$bridge"
  ip -n "$lb_ns" link set "$bridge" up
  for i in "${hosts[@]}"; do
    local ns
    ns=$(host_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Created inside pfd-lb, one end then moved to the host: nothing appears, even for a
    # moment, in the machine's own namespace.
    ip -n "$lb_ns" link add "$ns-lb" type veth peer name eth0 netns "$ns"
    ip -n "$lb_ns" link set "$ns-lb" master "$bridge" up
    ip -n "$ns" addr add "$(host_addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

up() {
  need_root
  [ ! -e "$state" ] || die "already up ($state exists): run '$0 down' first"
  local taken
  taken=$(ip netns list | awk '{print $1}' | grep -xE "$lb_ns|$root_ns|pfd-h[0-9]+" || true)
  [ -z "$taken" ] || die "namespace name(s) already in use: $(echo $taken): not ours to reuse or remove"
  command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy; scripts/setup.sh does)"
  local binary=${1:-$here/build/preforkd}
  [ -x "$binary" ] || die "no preforkd binary at $binary (build it with scripts/build.sh)"
  mkdir -p "$state/bin"
  if [ ! -d /run/preforkd ]; then
    mkdir /run/preforkd   # each host mounts its own over it; removed by down
    touch "$state/made-run-preforkd"
  fi
  install -m 0755 "$binary" "$state/bin/preforkd"
  create_network
  for i in "${hosts[@]}"; do
    start_host "$i"
  done
  ip netns attach "$root_ns" $$
  ip netns exec "$lb_ns" haproxy -f "$haproxy_cfg" -db >>"$state/haproxy.log" 2>&1 &
  echo $! >"$state/haproxy.pid"
  for i in "${hosts[@]}"; do
    wait_for 10 "HAProxy to see host $i UP" haproxy_up "$i"
  done
  say "up: 3 hosts behind http://$frontend/ (HAProxy stats on $stats_url)"
}

status() {
  [ -e "$state" ] || { say "down"; return 0; }
  printf '%-5s %-8s %-7s %-7s %s\n' HOST MASTER ALIVE READYZ HAPROXY
  for i in "${hosts[@]}"; do
    local pid
    pid=$(master_pid "$i")
    printf '%-5s %-8s %-7s %-7s %s\n' "h$i" "${pid:--}" "$(alive "$pid" && echo yes || echo no)" \
      "$(readyz_code "$i")" "$(haproxy_status "$i")"
  done
}

# The worker pids of a master (its children but a new master of an upgrade).
workers_of() { pgrep -P "$1" -f 'worker process' || true; }

reload() {
  need_root
  for i in "${hosts[@]}"; do
    local pid old
    pid=$(master_pid "$i")
    ours "$pid" "$(host_ns "$i")" || die "host $i's master is not running"
    old=$(workers_of "$pid" | tr '\n' ' ')
    kill -HUP "$pid"
    # Done when none of the old workers is left and the new ones answer.
    wait_for 20 "host $i's old workers ($old) to exit" bash -c "for w in $old; do kill -0 \$w 2>/dev/null && exit 1; done; exit 0"
    wait_for 10 "host $i's /readyz" host_ready "$i"
    wait_for 10 "HAProxy to see host $i UP" haproxy_up "$i"
    say "host $i reloaded"
  done
}

upgrade() {
  need_root
  local binary=${1:-$here/build/preforkd}
  [ -x "$binary" ] || die "no preforkd binary at $binary"
  # A new file renamed over the old: running masters keep theirs; the next exec takes this.
  install -m 0755 "$binary" "$state/bin/preforkd.new"
  mv -f "$state/bin/preforkd.new" "$state/bin/preforkd"
  for i in "${hosts[@]}"; do
    local old new
    old=$(master_pid "$i")
    ours "$old" "$(host_ns "$i")" || die "host $i's master is not running"
    kill -USR2 "$old"
    wait_for 10 "host $i's new master" bash -c "p=\$(cat $(pid_file_of "$old") 2>/dev/null); [ -n \"\$p\" ] && [ \"\$p\" != $old ]"
    new=$(cat "$(pid_file_of "$old")")
    wait_for 10 "host $i's new master's workers" bash -c "[ -n \"\$(pgrep -P $new -f 'worker process')\" ]"
    wait_for 10 "host $i's new workers to be ready" bash -c \
      "nsenter --target $new --net --mount -- $state/bin/preforkd status -c $conf | awk 'NR > 2 && \$4 != \"ready\" { bad = 1 } NR > 2 { n++ } END { exit bad || n == 0 }'"
    kill -QUIT "$old"
    wait_for 20 "host $i's old master (pid $old) to exit" bash -c "! kill -0 $old 2>/dev/null"
    echo "$new" >"$state/h$i.pid"
    wait_for 10 "HAProxy to see host $i UP" haproxy_up "$i"
    say "host $i upgraded: master $old -> $new"
  done
}

restart() {
  need_root
  for i in "${hosts[@]}"; do
    local pid
    pid=$(master_pid "$i")
    ours "$pid" "$(host_ns "$i")" || die "host $i's master is not running"
    # Not ready first, still serving: HAProxy moves the traffic elsewhere; then the stop.
    in_host "$i" "$state/bin/preforkd" -s drain -c "$conf"
    wait_for 10 "HAProxy to take host $i out" haproxy_down "$i"
    stop_host "$i"
    start_host "$i"
    wait_for 15 "HAProxy to see host $i UP" haproxy_up "$i"
    say "host $i restarted: master $pid -> $(master_pid "$i")"
  done
}

start_one() {
  need_root
  local i=${1:-}
  case "$i" in 1 | 2 | 3) ;; *) die "start needs a host number: 1, 2 or 3" ;; esac
  ! ours "$(master_pid "$i")" "$(host_ns "$i")" || die "host $i's master is running"
  start_host "$i"
  wait_for 15 "HAProxy to see host $i UP" haproxy_up "$i"
  say "host $i started: master $(master_pid "$i")"
}

down() {
  need_root
  local masters=()
  if [ -e "$state/haproxy.pid" ]; then
    local hp
    hp=$(cat "$state/haproxy.pid")
    if ours "$hp" "$lb_ns"; then
      kill -TERM "$hp" 2>/dev/null || true
      masters+=("$hp")   # waited for (and killed if need be) with the masters below
    fi
  fi
  for i in "${hosts[@]}"; do
    local pid
    pid=$(master_pid "$i")
    if ours "$pid" "$(host_ns "$i")"; then
      # After an upgrade that went half way, the new master is the old one's child.
      for child in $(pgrep -P "$pid" -f 'master process' || true); do
        masters+=("$child")
      done
      masters+=("$pid")
    fi
  done
  for pid in "${masters[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${masters[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Deleting a namespace deletes the veth ends in it, and with them their peers. The name
  # pfd-root only names this namespace: deleting the name leaves the namespace as it was.
  for ns in "$root_ns" "$lb_ns" $(for i in "${hosts[@]}"; do host_ns "$i"; done); do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      ip netns del "$ns"
    fi
  done
  if [ -e "$state/made-run-preforkd" ]; then
    rmdir /run/preforkd 2>/dev/null || true
  fi
  rm -rf "$state"
  say "down"
}

cmd=${1:-}
shift || true
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  reload) reload ;;
  upgrade) upgrade "$@" ;;
  restart) restart ;;
  start) start_one "$@" ;;
  *) die "usage: $0 up [BINARY] | status | reload | upgrade [BINARY] | restart | start N | down" ;;
esac
