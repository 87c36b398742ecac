#!/bin/sh
# gdb-memleak's keeper: what a gdb killed in the middle of a command leaves in its target, put back
# from outside the target and outside gdb (issue 17; inject/keeper.py starts it, docs/safety.md).
#
#   keeper.sh PID START GDB CONTINUE [ADDRESS:BYTE:WHAT ...]      standard input: a socket gdb holds
#
#   PID, START  the target and its start time (field 22 of /proc/PID/stat): a pid used again is left alone;
#               "-": told later, as a line "PID START CONTINUE" on the socket, the last one counting
#               (an attach command, whose pid gdb-memleak guesses before it and learns for sure only
#               once gdb has attached: started before it, the keeper hears it in microseconds, where
#               starting one took 1-2 ms, 2026-12-06)
#   GDB         the pid of the gdb that traces it
#   CONTINUE    1: the target was running when gdb attached, so a stop left behind is gdb's, not the user's
#   ADDRESS:BYTE:WHAT where gdb's int3s on the dynamic linker's events are, the byte each one hides, and
#               what the address maps ("INODE@OFFSET" in the file, as /proc/PID/maps tells): after an
#               exec it maps another program, whose byte there, even an 0xCC, is not gdb's to write over
#
# gdb writes "done" when its command is over: nothing to do.  End of file without it, or gdb's pid
# no longer that gdb (a watcher looks every 0.2 s): gdb is gone, and it may have left
#   - its int3s in ld.so's code (the target's next dlopen would die of SIGTRAP), and
#   - SIGSTOPs it sent to stop the threads and never took: the whole target stops for good.
# Only /bin/sh, dd, od and sleep: gdb's embedded Python has no executable of its own to run.

pid=$1 start=$2 gdb=$3 cont=$4
shift 4

stat_of() {  # sets $state (R, S, T, Z ...) and $started (field 22, the start time) of process $1
    read -r line < "/proc/$1/stat" 2>/dev/null || return 1
    # shellcheck disable=SC2086  # (split on purpose: the fields after the command's name)
    set -- ${line##*) }
    state=$1
    shift 19
    started=$1
}

running_target() {  # the same process still there; sets $state
    stat_of "$pid" && [ "$started" = "$start" ]
}

gdb_alive() {  # gdb's pid is still that gdb, and not a zombie
    stat_of "$gdb" && [ "$started" = "$GDB_MEMLEAK_KEEPER_GDB_START" ] && [ "$state" != Z ] && [ "$state" != X ]
}

watch_gdb() {  # $1: the keeper, woken by SIGUSR1 when gdb is gone
    # The socket's end of file is not enough: a fork of gdb that never execs holds gdb's end too.
    # gdb's ptrace check forks a child at its first attach, which stops for good when gdb is
    # killed then: the keeper waited for it, the target stopped (3 of 60 kills at gdb's attach
    # under load, and a CI run, 2026-12-06).  A look every 0.2 s, a fork of sleep each.
    trap '' USR1  # (a subshell loses the keeper's trap: SIGUSR1's default would end the watcher)
    stat_of "$1" || return 0
    keeper_start=$started
    # Sent again at each look until the keeper ends the watcher: a trap runs between commands, so a
    # signal that came before the keeper's read began was lost (a reviewer's runs: 1 of 100 hung,
    # 20 of 20 with the keeper descheduled 50 ms).
    while stat_of "$1" && [ "$started" = "$keeper_start" ]; do
        gdb_alive || kill -USR1 "$1" 2>/dev/null
        sleep 0.2
    done
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

same_place() {  # address $1 still maps what it did ($2: INODE@OFFSET in the file); sets $low $high (sh has no locals)
    while read -r range _perms offset _dev inode _path; do
        low=$((0x${range%-*})) high=$((0x${range#*-}))
        if [ "$1" -ge "$low" ] && [ "$1" -lt "$high" ]; then
            [ "$inode@$(($1 - low + 0x$offset))" = "$2" ]
            return
        fi
    done < "/proc/$pid/maps"
    return 1
}

put_back() {  # the byte at address $1 is an int3 (0xCC: 204): write $2 there, through fds 4 (read) and 5 (write)
    # shellcheck disable=SC2046  # (split on purpose: od pads its number with spaces)
    set -- "$1" "$2" $(dd bs=1 skip="$1" count=1 <&4 2>/dev/null | od -An -tu1)
    [ "$3" = 204 ] || return 0
    # shellcheck disable=SC2059  # (the format is the byte, in octal)
    printf "\\$(printf %o "$2")" | dd bs=1 seek="$1" count=1 conv=notrunc >&5 2>/dev/null
}

keep() {
    trap 'woken=1' USR1  # (a trapped signal ends the read below)
    watch_gdb $$ &
    watcher=$!
    again=
    while :; do
        woken= word= rest=
        read -r word rest
        if [ -n "$rest" ]; then  # the target, told (again: the last line counts)
            pid=$word start=${rest%% *} cont=${rest#* }
            continue
        fi
        [ "$word" = done ] && break
        if [ -n "$woken" ]; then
            gdb_alive && continue  # a SIGUSR1 not from the watcher
            # gdb is gone.  The signal can end a read before it took what gdb wrote (a reviewer's trial:
            # a told target lost, the keeper descheduled): once more, which takes what waits at once
            # (with a fork of gdb holding the socket, the watcher's next SIGUSR1 ends it).
            [ -z "$again" ] && again=1 && continue
        fi
        break
    done
    kill "$watcher" 2>/dev/null
    [ "$word" = done ] || [ "$pid" = - ] && return 0  # (never told: gdb went before its attach began)
    # gdb's files close before the kernel lets go of its tracees, so wait for that (30 s at most).
    waited=0
    while tracer 2>/dev/null && [ "$now" = "$gdb" ] && [ $waited -lt 3000 ]; do
        sleep 0.01
        waited=$((waited + 1))
    done
    [ "$now" = 0 ] && running_target || return 0  # gone, another process, or traced by someone else now
    for trap do
        address=${trap%%:*} rest=${trap#*:}
        byte=${rest%%:*} place=${rest#*:}
        # The memory opened before the maps are read, each fd fresh (dd seeks from where it stands):
        # an exec in between leaves them on the old program's memory, gone, so nothing is written.
        { same_place "$address" "$place" && put_back "$address" "$byte"; } 4<"/proc/$pid/mem" 5<>"/proc/$pid/mem" 2>/dev/null
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

if [ -n "$GDB_MEMLEAK_KEEPER_GDB_START" ]; then
    keep "$@"
    exit 0
fi
# Into the background, so that gdb waits only for this shell's start: the keeper is nobody's child.
# Started anew, so that its $$ is its own (the watcher's SIGUSR1), with gdb's start time (gdb alive now).
stat_of "$gdb" && [ -n "$started" ] || exit 1
exec 3<&0
GDB_MEMLEAK_KEEPER_GDB_START=$started /bin/sh "$0" "$pid" "$start" "$gdb" "$cont" "$@" <&3 3<&- >/dev/null 2>&1 &
