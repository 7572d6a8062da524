#!/usr/bin/env bash
# A private Postfix instance for the benchmarks: smtpd on 127.0.0.1:PORT
# (offering PIPELINING and CHUNKING, as Postfix 3.4+ does; smtp-sink offers
# no CHUNKING) that accepts any recipient and hands every message to the
# discard transport. Its configuration, queue and log live in DIR (put it
# on /dev/shm: the queue's fsyncs then cost no disk). No system-wide mail
# daemon is involved, and `stop` leaves none running.
#
#   scripts/lib/postfix-smtpd.sh start DIR PORT [KEYWORDS]  # prints "ready" when it answers
#
# KEYWORDS: EHLO keywords smtpd leaves out (smtpd_discard_ehlo_keywords),
# e.g. "chunking" to measure the same server without CHUNKING.
#   scripts/lib/postfix-smtpd.sh stop DIR
set -euo pipefail
export PATH=$PATH:/usr/sbin
cmd=$1 dir=$2

case "$cmd" in
  start)
    port=$3 discard=${4:-}
    mkdir -p "$dir/queue" "$dir/data"
    cat > "$dir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
virtual_transport = discard
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
message_size_limit = 10240000
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
smtpd_discard_ehlo_keywords = $discard
EOF
    cat > "$dir/master.cf" <<EOF
127.0.0.1:$port inet n - n - 100 smtpd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
    postfix -c "$dir" set-permissions >/dev/null 2>&1 || true
    # Errors of the postfix command go to syslog, or to a terminal.
    script -qec "postfix -c $dir check" /dev/null | grep -v "not owned by root\|group or other writable" || true
    script -qec "postfix -c $dir start" /dev/null >/dev/null
    for _ in $(seq 1 100); do
      if python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
assert s.recv(100).startswith(b"220")
PY
      then echo ready; exit 0; fi
      sleep 0.1
    done
    echo "postfix smtpd did not answer on 127.0.0.1:$port (see $dir/maillog)" >&2
    exit 1
    ;;
  stop)
    postfix -c "$dir" stop >/dev/null 2>&1 || true
    # The master exits within a second or two; make sure of it.
    pid=$(cat "$dir/queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
    for _ in $(seq 1 50); do
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
