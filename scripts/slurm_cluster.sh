#!/usr/bin/env bash
# Start/stop a real single-node SLURM cluster on localhost, for tests.
#
#   slurm_cluster.sh install              apt-get install munge + slurm (idempotent)
#   slurm_cluster.sh start  [STATE_DIR]   write slurm.conf, start munged/slurmctld/slurmd,
#                                         wait until the node is idle; prints
#                                         "export SLURM_CONF=... BNREPRO_SLURM_DIR=..."
#                                         on stdout (eval-able)
#   slurm_cluster.sh stop   [STATE_DIR]   stop the daemons started by `start`
#   slurm_cluster.sh status [STATE_DIR]   exit 0 if up (node idle/mixed/alloc), else 1
# Run as root (no systemd needed). All but the munge key/socket lives in STATE_DIR
# (default: $BNREPRO_SLURM_DIR; `start` without either makes a fresh one with mktemp -d).
# Diagnostics go to stderr; stdout only carries the export line.
#
# Root runs daemons from STATE_DIR's slurm.conf and signals the pids in its pid files, so
# STATE_DIR must be root's alone: an existing one (and every directory above it) must be
# owned by root and writable by nobody else (sticky directories such as /tmp excepted
# above it), and not a symbolic link; otherwise the script refuses it. A pid file is
# believed only if the process it names is the daemon it should be (its name, and for
# slurmctld/slurmd the slurm.conf on its command line). Nothing is written to a fixed
# path in /tmp.
set -u

CMD="${1:-}"
STATE_DIR="${2:-${BNREPRO_SLURM_DIR:-}}"
WAIT_S="${SLURM_START_TIMEOUT:-60}"
PKGS=(munge slurmctld slurmd slurm-client)
CONF=""  # $STATE_DIR/slurm.conf, once state_dir has checked STATE_DIR

log() { echo "slurm_cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

root_only() {  # root_only DIR: DIR and the directories above it are root's, writable by root alone
  local d="$1" p uid mode
  [[ -L "$d" ]] && die "$d is a symbolic link: refusing it as the state directory"
  [[ -d "$d" ]] || die "$d is not a directory"
  read -r uid mode < <(stat -c '%u %a' -- "$d") || die "cannot stat $d"
  [[ "$uid" -eq 0 ]] || die "$d is owned by uid $uid, not root: refusing it (it could have been planted)"
  (( (8#$mode & 8#022) == 0 )) || die "$d is writable by group or others (mode $mode): refusing it"
  p=$(realpath -- "$d") || die "cannot resolve $d"
  while [[ "$p" != / ]]; do
    p=$(dirname -- "$p")
    read -r uid mode < <(stat -c '%u %a' -- "$p") || die "cannot stat $p"
    [[ "$uid" -eq 0 ]] || die "$p (above $d) is owned by uid $uid, not root: refusing $d"
    if (( (8#$mode & 8#022) != 0 && (8#$mode & 8#1000) == 0 )); then
      die "$p (above $d) is writable by others and not sticky: refusing $d"
    fi
  done
}

state_dir() {  # settles STATE_DIR (made fresh by `start` when none is given) and checks it
  if [[ -z "$STATE_DIR" ]]; then
    [[ "$CMD" == start ]] || die "which cluster? give its STATE_DIR or set BNREPRO_SLURM_DIR (\`start\` prints it)"
    STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bnrepro-slurm.XXXXXXXX") || die "mktemp -d failed"
  elif [[ ! -e "$STATE_DIR" && ! -L "$STATE_DIR" ]]; then
    [[ "$CMD" == start ]] || die "$STATE_DIR: no such state directory"
    root_only "$(dirname -- "$STATE_DIR")"
    mkdir -m 700 -- "$STATE_DIR" || die "cannot create $STATE_DIR"  # fails if someone made it meanwhile
  fi
  root_only "$STATE_DIR"
  STATE_DIR=$(realpath -- "$STATE_DIR")
  CONF="$STATE_DIR/slurm.conf"
  export SLURM_CONF="$CONF"
}

daemon_pid() {  # daemon_pid PIDFILE NAME -> the pid, if it is a live NAME (slurmctld/slurmd: of our slurm.conf)
  local pid
  [[ -s "$1" && ! -L "$1" ]] || return 1
  pid=$(head -c 32 -- "$1" 2>/dev/null | tr -cd '0-9')
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
  if [[ "$2" != munged ]]; then
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$CONF" || return 1
  fi
  echo "$pid"
}

pid_alive() {  # pid_alive PIDFILE NAME -> 0 if the file names a live NAME of this cluster
  daemon_pid "$1" "$2" >/dev/null
}

node_state() {  # prints node state (idle, mix, alloc, down*, ...) or nothing
  # Without a live slurmctld, sinfo keeps retrying for ~10 s: check the pid first.
  [[ -f "$CONF" ]] && pid_alive "$STATE_DIR/slurmctld.pid" slurmctld || return 1
  timeout 5 sinfo -h -N -n localhost -o '%t' 2>/dev/null | head -1
}

is_up() {
  case "$(node_state)" in idle|mix|mixed|alloc|allocated|comp|completing) return 0 ;; esac
  return 1
}

do_install() {
  local missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then log "already installed: ${PKGS[*]}"; return 0; fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local inst=(apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}")
  local aptlog
  aptlog=$(mktemp "${TMPDIR:-/tmp}/slurm_cluster-apt.XXXXXXXX.log") || die "mktemp failed"
  # Try with the current package lists first; refresh them only if that fails.
  "${inst[@]}" >"$aptlog" 2>&1 || { apt-get update -qq && "${inst[@]}"; } >>"$aptlog" 2>&1 \
    || { tail -n 20 "$aptlog" >&2; die "apt-get install failed (log: $aptlog)"; }
  log "installed: $(dpkg-query -W -f='${Package}=${Version} ' "${PKGS[@]}")"
}

write_conf() {
  local cpus mem_mb
  cpus=$(nproc)
  # 90% of MemAvailable: slurmd drains the node if RealMemory > what it detects.
  mem_mb=$(awk '/^MemAvailable:/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
  [[ "$mem_mb" -ge 100 ]] || mem_mb=100
  rm -rf "$STATE_DIR/spool"   # stale job scripts of killed jobs
  mkdir -p "$STATE_DIR/state" "$STATE_DIR/spool"
  cat > "$CONF" <<EOF
# Generated by slurm_cluster.sh -- single-node test cluster
ClusterName=bnrepro
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again
# (BeginTime=now+cred_expire; default 120 s is too slow for tests).
AuthInfo=cred_expire=5
# Default MailProg (/usr/bin/mail) is not installed -> error in the log otherwise.
MailProg=/bin/true
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
# Ports overridable, e.g. when 6817/6818 are taken.
SlurmctldPort=${BNREPRO_SLURMCTLD_PORT:-6817}
SlurmdPort=${BNREPRO_SLURMD_PORT:-6818}
# No cgroups (container, no systemd): plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
# Scan the queue every few seconds (defaults 60/30 s): a requeued job restarts fast.
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=2
# NodeName must match the name slurmd uses: we start slurmd with -N localhost.
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  # Reuse any munged that already answers (e.g. started by someone else).
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --force --keyfile=/etc/munge/munge.key >&2
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  fi
  # munged refuses keys/dirs with loose permissions; it is run as the munge user.
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged >&2 || die "munged failed to start (see /var/log/munge/munged.log)"
  cp /run/munge/munged.pid "$STATE_DIR/munged.pid"   # mark: we own this munged
  for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "munged started but munge/unmunge does not work"
}

dump_logs() {
  for f in "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" /var/log/munge/munged.log; do
    [[ -f "$f" ]] && { echo "----- tail $f -----"; tail -n 25 "$f"; } >&2
  done
}

do_start() {
  [[ $EUID -eq 0 ]] || die "must run as root"
  command -v slurmctld >/dev/null || die "slurm not installed; run: $0 install"
  if is_up; then
    log "cluster already up ($CONF)"; exports; return 0
  fi
  do_stop quiet            # clear out half-started leftovers from an earlier run
  write_conf
  start_munge
  : > "$STATE_DIR/slurmctld.log"; : > "$STATE_DIR/slurmd.log"
  # Daemonized mode: they fork and write the pid files named in slurm.conf.
  # -c: start from a clean state (no jobs/node states left over from a previous run).
  slurmctld -c -f "$CONF" >&2 || { dump_logs; die "slurmctld failed to start"; }
  # -N localhost: the machine hostname does not have to be 'localhost'.
  slurmd -f "$CONF" -N localhost >&2 || { dump_logs; die "slurmd failed to start"; }
  local t0=$SECONDS st=""
  while (( SECONDS - t0 < WAIT_S )); do
    if is_up; then
      log "cluster up after $((SECONDS - t0))s ($CONF)"
      exports; return 0
    fi
    # Fail fast if a daemon died (bad config, port in use, ...).
    if (( SECONDS - t0 >= 2 )) && ! { pid_alive "$STATE_DIR/slurmctld.pid" slurmctld && pid_alive "$STATE_DIR/slurmd.pid" slurmd; }; then
      st="slurmctld or slurmd exited"; break
    fi
    st=$(node_state)
    # A node left DOWN/DRAIN (e.g. by an earlier slurmctld) is resumed once.
    [[ "$st" == down* || "$st" == drain* ]] && scontrol update nodename=localhost state=resume 2>/dev/null
    sleep 1
  done
  log "cluster did not come up after $((SECONDS - t0))s (limit ${WAIT_S}s; node state: '${st:-no answer}')"
  dump_logs
  do_stop quiet
  exit 1
}

exports() { printf 'export SLURM_CONF=%q BNREPRO_SLURM_DIR=%q\n' "$CONF" "$STATE_DIR"; }

stop_pidfile() {  # stop_pidfile FILE NAME: stop the daemon it names, if it is that daemon of ours
  local f="$1" pid
  pid=$(daemon_pid "$f" "$2") || { [[ -s "$f" ]] && log "$f: not a live $2 of this cluster; not signalled"; rm -f -- "$f"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "$2 ($pid) ignored SIGTERM, killing"; kill -KILL "$pid"; }
  rm -f -- "$f"
}

kill_leftovers() {
  # Job processes outlive slurmd/slurmctld by design. Kill what belongs to THIS
  # cluster: slurmstepd, or job processes (SLURM_JOB_ID set) with our SLURM_CONF.
  local p env pids=()
  for env in /proc/[0-9]*/environ; do
    p=${env#/proc/}; p=${p%/environ}
    [[ $p == "$$" || $p == "$PPID" ]] && continue
    grep -qzxF "SLURM_CONF=$CONF" "$env" 2>/dev/null || continue
    if [[ "$(cat /proc/$p/comm 2>/dev/null)" == slurmstepd ]] || grep -qz '^SLURM_JOB_ID=' "$env" 2>/dev/null; then
      pids+=("$p")
    fi
  done
  [[ ${#pids[@]} -eq 0 ]] && return 0
  log "killing leftover job processes: ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null
}

do_stop() {
  if pid_alive "$STATE_DIR/slurmctld.pid" slurmctld; then
    # Cancel all jobs first so that slurmstepd cleans up job processes itself.
    local jobs; jobs=$(timeout 10 squeue -h -o %A 2>/dev/null)
    if [[ -n "$jobs" ]]; then
      scancel $jobs 2>/dev/null
      for _ in $(seq 20); do [[ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ]] && break; sleep 0.5; done
    fi
  fi
  # Each takes ~2 s to shut down: stop both in parallel.
  stop_pidfile "$STATE_DIR/slurmd.pid" slurmd & stop_pidfile "$STATE_DIR/slurmctld.pid" slurmctld & wait
  kill_leftovers
  stop_pidfile "$STATE_DIR/munged.pid" munged   # only if we started it
  [[ "${1:-}" == quiet ]] || log "stopped ($STATE_DIR)"
}

case "$CMD" in
  install) do_install ;;
  start)   state_dir; do_start ;;
  stop)    state_dir; do_stop ;;
  status)  state_dir; if is_up; then log "up: $(node_state) ($CONF)"; exit 0; else log "down"; exit 1; fi ;;
  *) echo "usage: $0 {install|start|stop|status} [STATE_DIR]" >&2; exit 2 ;;
esac
