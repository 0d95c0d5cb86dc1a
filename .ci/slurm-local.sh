#!/usr/bin/env bash
# Copied from the workplace's shared tools (shared/tools/slurm-local.sh) so that CI installs and
# starts the cluster it tests against by itself; used by tests/cluster/slurm.sh.
# slurm-local.sh - one-node Slurm cluster on localhost from Debian packages,
# without systemd and without cgroups.
#
#   slurm-local.sh start    install (if missing), configure, start munged,
#                           slurmctld, slurmd as plain background daemons,
#                           wait until the node is idle, print env/paths
#   slurm-local.sh stop     cancel remaining jobs, stop the daemons by the PIDs
#                           in their pid files (never by name)
#   slurm-local.sh status   show what is running
#   slurm-local.sh env      print the export line for clients
#
# Everything lives under $SLURM_LOCAL_DIR/cluster (default /tmp/slurm-local/cluster).
# Must run as root. Both start and stop are idempotent.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

BASE=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
C=$BASE/cluster
ETC=$C/etc
RUN=$C/run
LOGD=$C/log
CTLD_STATE=$C/state/slurmctld
SPOOL=$C/state/slurmd
MUNGE_DIR=$C/munge              # owned by munge: socket, pid, log, seed
CONF=$ETC/slurm.conf
MUNGE_SOCK=$MUNGE_DIR/munge.socket
MUNGE_PID=$MUNGE_DIR/munged.pid
MUNGE_KEY=${SLURM_LOCAL_MUNGE_KEY:-/etc/munge/munge.key}
CTLD_PID=$RUN/slurmctld.pid
SLURMD_PID=$RUN/slurmd.pid
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
PARTITION=${SLURM_LOCAL_PARTITION:-debug}
READY_TIMEOUT=${SLURM_LOCAL_READY_TIMEOUT:-60}
HOST=$(hostname -s)
SELF=$(readlink -f "$0")
export SLURM_CONF=$CONF

log() { printf '[slurm-local %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

# ---------------------------------------------------------------- pid helpers
# live_pid PIDFILE NAME: print the pid if the pid file names a live, non-zombie
# process whose comm is NAME (or NAME-wlm, Debian's real binary name).
live_pid() {
    local f=$1 want=$2 pid comm state
    [[ -r $f ]] || return 1
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$want" || $comm == "$want-wlm" ]] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]] || return 1
    echo "$pid"
}

# pid_gone PID: true once PID no longer exists or is a zombie (PID 1 here may
# reap orphans late, and kill -0 succeeds on zombies).
pid_gone() {
    local state
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 0
    [[ -z $state || $state == Z || $state == X ]]
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE
    local name=$1 f=$2 pid i
    if ! pid=$(live_pid "$f" "$name"); then
        log "$name: not running"
        rm -f "$f"
        return 0
    fi
    log "$name: sending SIGTERM to pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do          # up to 20 s
        pid_gone "$pid" && break
        sleep 0.1
    done
    if ! pid_gone "$pid"; then
        log "$name: pid $pid still alive after 20 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$f"
    log "$name: stopped"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.5 s
wait_until() {
    local secs=$1 end
    shift
    end=$((SECONDS + secs))
    while ((SECONDS < end)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# ---------------------------------------------------------------- install
need_install() {
    local b
    for b in slurmctld slurmd sbatch squeue sinfo scontrol scancel munged munge unmunge; do
        command -v "$b" >/dev/null 2>&1 || return 0
    done
    return 1
}

POLICY_CREATED=0
cleanup_policy() { if ((POLICY_CREATED)); then rm -f /usr/sbin/policy-rc.d; POLICY_CREATED=0; fi; }

install_pkgs() {
    log "installing slurmctld slurmd slurm-client munge (Debian packages)"
    # The packages ship /etc/init.d scripts and their postinst calls
    # invoke-rc.d start. Where a runlevel is known that would start munged,
    # slurmctld and slurmd with the package defaults (no slurm.conf). On this
    # test VM invoke-rc.d "could not determine current runlevel" and started
    # nothing, but deny service starts during the install anyway.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        POLICY_CREATED=1
        trap cleanup_policy EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >"$BASE/apt-install.log" 2>&1 ||
        { tail -n 30 "$BASE/apt-install.log" >&2; die "apt-get install failed (full log: $BASE/apt-install.log)"; }
    cleanup_policy
    need_install && die "packages installed but some binaries are still missing"
    log "installed: $(slurmd -V)"
}

ensure_munge_key() {
    if [[ ! -s $MUNGE_KEY ]]; then
        log "creating munge key $MUNGE_KEY"
        install -d -m 0700 -o munge -g munge "$(dirname "$MUNGE_KEY")"
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0600 "$MUNGE_KEY"
}

# ---------------------------------------------------------------- config
write_conf() {
    local cpus mem mem_free mem_slurmd tmp
    cpus=$(nproc)
    mem_free=$(free -m | awk '/^Mem:/{print $2}')
    mem_slurmd=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    mem=$mem_free
    # never configure more memory than slurmd detects, or the node is drained
    # with "Low RealMemory"
    if [[ -n $mem_slurmd && $mem_slurmd -lt $mem ]]; then mem=$mem_slurmd; fi
    tmp=$(mktemp "$ETC/slurm.conf.XXXXXX")
    cat >"$tmp" <<EOF
# generated by $SELF - single node on localhost, no systemd, no cgroups
ClusterName=localcluster
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$CTLD_STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    # extra lines (e.g. SchedulerParameters=...) from the environment
    if [[ -n ${SLURM_LOCAL_EXTRA_CONF:-} ]]; then printf '%s\n' "$SLURM_LOCAL_EXTRA_CONF" >>"$tmp"; fi
    if [[ -f $CONF ]] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$CONF"
        chmod 0644 "$CONF"
        log "wrote $CONF (CPUs=$cpus RealMemory=$mem)"
        CONF_CHANGED=1
    fi
    # Let client commands work without SLURM_CONF, unless someone else owns
    # /etc/slurm/slurm.conf.
    if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$CONF" ]]; then
        :
    elif [[ ! -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
        mkdir -p /etc/slurm
        ln -s "$CONF" /etc/slurm/slurm.conf
        log "linked /etc/slurm/slurm.conf -> $CONF"
    else
        log "note: /etc/slurm/slurm.conf exists and is not ours; clients need SLURM_CONF=$CONF"
    fi
}

# ---------------------------------------------------------------- daemons
munge_ok() { munge -n -S "$MUNGE_SOCK" | unmunge -S "$MUNGE_SOCK"; }
ctld_ok() { scontrol ping | grep -q 'is UP'; }
node_state() { sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1; }
node_ready() { case $(node_state) in idle | mixed | allocated | completing) return 0 ;; esac; return 1; }
# epoch of the node's last slurmd registration as seen by slurmctld
slurmd_start_epoch() {
    local t
    t=$(scontrol show node "$HOST" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p' | head -n1)
    [[ -n $t && $t != None ]] || { echo 0; return; }
    date -d "$t" +%s 2>/dev/null || echo 0
}

tail_log() { log "---- last lines of $1"; tail -n "${2:-25}" "$1" >&2 2>/dev/null || true; }

start_munged() {
    local pid
    if pid=$(live_pid "$MUNGE_PID" munged); then
        log "munged: already running (pid $pid)"
    else
        rm -f "$MUNGE_PID"
        # munged refuses a socket directory that is not o+x, or is writable by others
        install -d -m 0755 -o munge -g munge "$MUNGE_DIR"
        runuser -u munge -- /usr/sbin/munged \
            --socket="$MUNGE_SOCK" --pid-file="$MUNGE_PID" \
            --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
            --key-file="$MUNGE_KEY" \
            </dev/null >>"$LOGD/munged.stdout" 2>&1 9>&- ||
            { tail_log "$MUNGE_DIR/munged.log"; tail_log "$LOGD/munged.stdout"; die "munged failed to start"; }
    fi
    wait_until 15 munge_ok ||
        { tail_log "$MUNGE_DIR/munged.log"; die "munged not answering on $MUNGE_SOCK"; }
    log "munged: ready (pid $(cat "$MUNGE_PID"), socket $MUNGE_SOCK)"
}

start_slurmctld() {
    local pid end
    if pid=$(live_pid "$CTLD_PID" slurmctld); then
        log "slurmctld: already running (pid $pid)"
        if ((CONF_CHANGED)); then log "slurmctld: config changed, reconfiguring"; scontrol reconfigure || true; fi
    else
        rm -f "$CTLD_PID"
        # -i: do not abort on unreadable state files left by an earlier run
        slurmctld -i -f "$CONF" </dev/null >>"$LOGD/slurmctld.stdout" 2>&1 9>&- ||
            { tail_log "$LOGD/slurmctld.log"; tail_log "$LOGD/slurmctld.stdout"; die "slurmctld failed to start"; }
    fi
    end=$((SECONDS + 30))
    # the answer must come from our daemon (pid file alive), not some other one
    until ctld_ok >/dev/null 2>&1 && live_pid "$CTLD_PID" slurmctld >/dev/null; do
        if ((SECONDS >= end)); then tail_log "$LOGD/slurmctld.log"; die "slurmctld did not answer 'scontrol ping' within 30 s"; fi
        if ! live_pid "$CTLD_PID" slurmctld >/dev/null && ((SECONDS > end - 25)); then
            tail_log "$LOGD/slurmctld.log"; tail_log "$LOGD/slurmctld.stdout"; die "slurmctld exited"
        fi
        sleep 0.5
    done
    log "slurmctld: ready (pid $(cat "$CTLD_PID"))"
}

start_slurmd() {
    local pid end st resumed=0 launched=0
    if pid=$(live_pid "$SLURMD_PID" slurmd); then
        log "slurmd: already running (pid $pid)"
    else
        rm -f "$SLURMD_PID"
        # SlurmdStartTime has 1 s resolution: make sure a new registration
        # is distinguishable from the previous one
        while (($(slurmd_start_epoch) >= $(date +%s))); do sleep 0.2; done
        launched=$(date +%s)
        slurmd -f "$CONF" </dev/null >>"$LOGD/slurmd.stdout" 2>&1 9>&- ||
            { tail_log "$LOGD/slurmd.log"; tail_log "$LOGD/slurmd.stdout"; die "slurmd failed to start"; }
    fi
    end=$((SECONDS + READY_TIMEOUT))
    # a freshly launched slurmd must have registered (controller state may
    # still say idle from before a crash)
    until node_ready && live_pid "$SLURMD_PID" slurmd >/dev/null && (($(slurmd_start_epoch) >= launched)); do
        st=$(node_state || true)
        if [[ $st == *drain* && $resumed -eq 0 ]]; then
            log "node $HOST is '$st' (reason: $(sinfo -h -N -n "$HOST" -o '%E')); trying to resume it once"
            scontrol update NodeName="$HOST" State=RESUME || true
            resumed=1
        fi
        if ((SECONDS >= end)); then
            scontrol show node "$HOST" >&2 || true
            tail_log "$LOGD/slurmd.log"; tail_log "$LOGD/slurmctld.log"
            die "node $HOST not idle after ${READY_TIMEOUT}s (state: ${st:-unknown})"
        fi
        if ! live_pid "$SLURMD_PID" slurmd >/dev/null && ((SECONDS > end - READY_TIMEOUT + 5)); then
            tail_log "$LOGD/slurmd.log"; tail_log "$LOGD/slurmd.stdout"; die "slurmd exited"
        fi
        sleep 0.5
    done
    log "slurmd: ready (pid $(cat "$SLURMD_PID")), node $HOST is $(node_state)"
}

print_env() {
    cat <<EOF
# --- local Slurm cluster is up ---
export SLURM_CONF=$CONF
# partition: $PARTITION   node: $HOST   controller: $HOST:$CTLD_PORT
# logs:  $LOGD/slurmctld.log  $LOGD/slurmd.log  $MUNGE_DIR/munged.log
# pids:  $CTLD_PID ($(cat "$CTLD_PID" 2>/dev/null))  $SLURMD_PID ($(cat "$SLURMD_PID" 2>/dev/null))  $MUNGE_PID ($(cat "$MUNGE_PID" 2>/dev/null))
# state: $CTLD_STATE  spool: $SPOOL  munge socket: $MUNGE_SOCK
# stop:  $SELF stop
EOF
}

cmd_start() {
    local t0=$SECONDS
    CONF_CHANGED=0
    if need_install; then install_pkgs; fi
    mkdir -p "$ETC" "$RUN" "$LOGD" "$CTLD_STATE" "$SPOOL"
    ensure_munge_key
    write_conf
    start_munged
    start_slurmctld
    start_slurmd
    log "start finished in $((SECONDS - t0)) s"
    print_env
}

cmd_stop() {
    local ids i
    if [[ ${SLURM_LOCAL_KEEP_JOBS:-0} != 1 ]] && live_pid "$CTLD_PID" slurmctld >/dev/null && [[ -f $CONF ]]; then
        ids=$(squeue -h -o '%A' 2>/dev/null | sort -u | tr '\n' ' ' || true)
        if [[ -n ${ids// /} ]]; then
            log "cancelling jobs still known to slurmctld: $ids"
            # shellcheck disable=SC2086
            scancel $ids 2>/dev/null || true
            for ((i = 0; i < 60; i++)); do
                [[ -z $(squeue -h -o '%A' 2>/dev/null) ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_pidfile slurmd "$SLURMD_PID"
    stop_pidfile slurmctld "$CTLD_PID"
    stop_pidfile munged "$MUNGE_PID"
    # slurmstepd processes outlive slurmd by design; report (not kill) any left
    local p left=""
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] && ! pid_gone "${p#/proc/}" && left+=" ${p#/proc/}"
    done
    [[ -n $left ]] && log "warning: slurmstepd processes still running:$left"
    return 0
}

cmd_status() {
    local n pid
    for n in munged:$MUNGE_PID slurmctld:$CTLD_PID slurmd:$SLURMD_PID; do
        if pid=$(live_pid "${n#*:}" "${n%%:*}"); then echo "${n%%:*}: running (pid $pid)"; else echo "${n%%:*}: stopped"; fi
    done
    if live_pid "$CTLD_PID" slurmctld >/dev/null; then sinfo; squeue; fi
}

mkdir -p "$C"
exec 9>"$C/.lock"
flock -w 180 9 || die "another slurm-local.sh is running (lock $C/.lock)"

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $SELF {start|stop|status|env}" >&2; exit 2 ;;
esac
