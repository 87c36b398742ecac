#!/bin/sh
# gdb-memleak's keeper: what a gdb killed in the middle of a command leaves in its target, put back
# from outside the target and outside gdb (issue 17; inject/keeper.py starts it, docs/safety.md).
#
#   keeper.sh PID START GDB CONTINUE [ADDRESS:BYTE ...]      standard input: a socket only gdb holds
#
#   PID, START  the target and its start time (field 22 of /proc/PID/stat): a pid used again is left alone
#   GDB         the pid of the gdb that traces it
#   CONTINUE    1: the target was running when gdb attached, so a stop left behind is gdb's, not the user's
#   ADDRESS:BYTE where gdb's int3s on the dynamic linker's events are, and the byte each one hides
#
# gdb writes "done" when its command is over: nothing to do.  End of file without it: gdb is gone,
# and it may have left
#   - its int3s in ld.so's code (the target's next dlopen would die of SIGTRAP), and
#   - SIGSTOPs it sent to stop the threads and never took: the whole target stops for good.
# Only /bin/sh, dd, od and sleep: gdb's embedded Python has no executable of its own to run.

pid=$1 start=$2 gdb=$3 cont=$4
shift 4

running_target() {  # the same process still there; sets $state (R, S, T ...)
    read -r line < "/proc/$pid/stat" 2>/dev/null || return 1
    # shellcheck disable=SC2086  # (split on purpose: the fields after the command's name)
    set -- ${line##*) }
    state=$1
    shift 19
    [ "$1" = "$start" ]
}

tracer() {  # sets $now to the target's TracerPid, in this shell (no fork: it is read right before a kill)
    now=
    while read -r key value; do
        if [ "$key" = TracerPid: ]; then now=$value; return 0; fi
    done < "/proc/$pid/status"
    return 1
}

pending() {  # the signal of mask $1 waits in the process's or a thread's pending set (SIGINT 0x2, SIGSTOP 0x40000)
    for status in /proc/"$pid"/task/*/status; do
        while read -r key value; do
            case $key in
                SigPnd:|ShdPnd:) [ $((0x${value#"${value%?????}"} & $1)) -ne 0 ] && return 0 ;;
            esac
        done < "$status"
    done 2>/dev/null
    return 1
}

put_back() {  # the byte at address $1 is an int3 (0xCC: 204): write $2 there
    # shellcheck disable=SC2046  # (split on purpose: od pads its number with spaces)
    set -- "$1" "$2" $(dd if="/proc/$pid/mem" bs=1 skip="$1" count=1 2>/dev/null | od -An -tu1)
    [ "$3" = 204 ] || return 0
    # shellcheck disable=SC2059  # (the format is the byte, in octal)
    printf "\\$(printf %o "$2")" | dd of="/proc/$pid/mem" bs=1 seek="$1" count=1 conv=notrunc 2>/dev/null
}

keep() {
    read -r word
    [ "$word" = done ] && return 0
    # gdb's files close before the kernel lets go of its tracees, so wait for that (30 s at most).
    waited=0
    while tracer 2>/dev/null && [ "$now" = "$gdb" ] && [ $waited -lt 3000 ]; do
        sleep 0.01
        waited=$((waited + 1))
    done
    [ "$now" = 0 ] && running_target || return 0  # gone, another process, or traced by someone else now
    for trap do
        put_back "${trap%:*}" "${trap#*:}"
    done
    [ "$cont" = 1 ] || return 0
    # A SIGSTOP left pending stops the whole target when its thread next runs: at once, or when a
    # long wait ends (a posix_spawn's vfork).  SIGCONT continues a stopped target and also drops
    # the SIGSTOPs still pending; sent at once, then again if the target stops within 0.5 s.
    # Only the first look counts a pending SIGSTOP: one SIGCONT drops them all, so a later one is
    # another gdb's, attaching (continued, it waited for it for good: 2 of 8 runs of test_gdb_dies'
    # attach loop, 2026-12-06).  Traced again, the target is that gdb's: the keeper stops.
    waited=0
    stop=0x40000
    while [ $waited -lt 50 ] && running_target; do
        if [ "$state" = T ] || pending $stop; then
            # gdb's interrupt leaves a SIGINT pending too (its quit within ~2 ms of its attach):
            # continued, the target would take it for a Ctrl-C.  Left stopped, as plugin.py does.
            pending 0x2 && return 0
            tracer 2>/dev/null && [ "$now" = 0 ] || return 0
            kill -CONT "$pid"
        fi
        stop=0
        sleep 0.01
        waited=$((waited + 1))
    done
}

# Into the background, so that gdb waits only for this shell's start: the keeper is nobody's child.
exec 3<&0
keep "$@" <&3 3<&- >/dev/null 2>&1 &
