# Steps of the set-up scripts, sourced by them (not run on its own).
#
# A step prints one line when it starts and one when it ends (how long it took, what it installed); what
# the tool itself (pip, apt-get) prints goes to the step log, $STEP_LOG. While a long step runs, a line
# every $STEP_HEARTBEAT seconds says what the tool is doing. When a step fails, the tool's own last lines
# and the log's path are shown: the error is the tool's, not a guess.
#
# The caller sets STEP_PREFIX (e.g. "install-target") and STEP_LOG before the first step.

STEP_HEARTBEAT=${STEP_HEARTBEAT:-20}
STEP_TAIL_LINES=${STEP_TAIL_LINES:-15}

say() { printf '[%s] %s\n' "$STEP_PREFIX" "$*"; }
die() { printf '[%s] error: %s\n' "$STEP_PREFIX" "$*" >&2; exit 1; }

# pip prints one "Location ... is ignored" warning per package for configured wheel folders that lack it.
_step_noise='^WARNING: Location .* is ignored|^Requirement already satisfied'

# The last thing pip (or apt-get) said it is doing in the step whose log section starts at line $1.
_step_activity() {
    local last
    last=$(sed -n "${1},\$p" "$STEP_LOG" 2>/dev/null \
        | grep -E '^(Collecting|Downloading|Installing|Building|Uninstalling|Attempting|Obtaining|Preparing|Get:[0-9]+|Unpacking|Setting up)' \
        | tail -n 1 || true)
    if [[ $last == "Installing collected packages: "* ]]; then
        local names=${last#Installing collected packages: }
        printf 'installing %d collected packages' "$(tr ',' '\n' <<<"$names" | wc -l)"
    else
        printf '%s' "${last:0:110}"
    fi
}

_step_heartbeat() {
    local started=$1 parent=$2 section=$3
    local waited=0 activity
    while kill -0 "$parent" 2>/dev/null; do
        sleep 1  # short sleeps: a killed heartbeat leaves no sleeping child behind for long
        waited=$((waited + 1))
        if ((waited % STEP_HEARTBEAT == 0)) && kill -0 "$parent" 2>/dev/null; then
            activity=$(_step_activity "$section")
            say "  ... $((SECONDS - started)) s${activity:+: $activity}"
        fi
    done
}

# What a finished pip step did, from its log section: ": 112 package(s) installed"; nothing for other tools.
_step_outcome() {
    local section=$1 installed removed
    local text
    text=$(sed -n "${section},\$p" "$STEP_LOG")
    installed=$(grep -m1 '^Successfully installed ' <<<"$text" | wc -w || true)
    removed=$(grep -c '^  Successfully uninstalled ' <<<"$text" || true)
    if ((installed > 2)); then
        printf ': %d package(s) installed' $((installed - 2))
    elif ((removed > 0)); then
        printf ': %d package(s) removed' "$removed"
    elif grep -q -e '^Requirement already satisfied' -e '^WARNING: Skipping' <<<"$text"; then
        printf ': nothing to change'
    fi
}

# run_step TITLE COMMAND...: run COMMAND with its output in the step log; on failure show pip's last lines.
run_step() {
    local title=$1
    shift
    local started=$SECONDS section status=0 heartbeat
    section=$(($(wc -l <"$STEP_LOG") + 1))
    printf '\n== %s\n$ %s\n' "$title" "$*" >>"$STEP_LOG"
    say "$title"
    _step_heartbeat "$started" $$ "$section" &
    heartbeat=$!
    "$@" >>"$STEP_LOG" 2>&1 || status=$?
    kill "$heartbeat" 2>/dev/null || true
    wait "$heartbeat" 2>/dev/null || true
    if ((status != 0)); then
        {
            printf '[%s] error: %s failed after %d s (exit %d); its last lines:\n' \
                "$STEP_PREFIX" "$title" $((SECONDS - started)) "$status"
            sed -n "$((section + 3)),\$p" "$STEP_LOG" | grep -Ev "$_step_noise" | tail -n "$STEP_TAIL_LINES" \
                | sed 's/^/    /'
            printf '[%s] full log: %s\n' "$STEP_PREFIX" "$STEP_LOG"
        } >&2
        return "$status"
    fi
    say "  done in $((SECONDS - started)) s$(_step_outcome "$section")"
}
