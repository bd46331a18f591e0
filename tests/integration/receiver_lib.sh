# shellcheck shell=bash
# The notification receiver for the tests (sourced after lib.sh): fake_receiver.py in the
# background, stopped with the case.
#
#   receiver_start [ARGS...]  starts it (ARGS: fake_receiver.py's modes); sets RPORT, RLOG (its
#                             requests, one JSON object a line)
#   events                    the "event" of each notification received so far, one a line
#   has_event NAME            one of them is NAME
#   event_bodies              the bodies received, one JSON object a line

# shellcheck source=git_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/git_lib.sh" # for git__on_exit
RECEIVER=$(dirname "${BASH_SOURCE[0]}")/fake_receiver.py

receiver_start() {
	RLOG=$(mktemp) RPORTFILE=$(mktemp -u)
	/usr/bin/python3 "$RECEIVER" "$RLOG" "$RPORTFILE" "$@" &
	local pid=$!
	git__on_exit "kill $pid 2>/dev/null || true"
	wait_until 10 "the receiver listens" test -s "$RPORTFILE"
	RPORT=$(cat "$RPORTFILE")
}

event_bodies() { /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["body"])' "$RLOG"; }
events() { event_bodies | /usr/bin/python3 -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["event"])'; }
has_event() { events | grep -qx "$1"; }
