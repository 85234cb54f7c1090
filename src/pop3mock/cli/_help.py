"""The help texts of `pop3mock`: examples for each command."""

from __future__ import annotations

__all__ = ["PROBE_EPILOG", "PROXY_EPILOG", "SERVE_EPILOG", "TOP_EPILOG"]

TOP_EPILOG = """\
examples:
  pop3mock serve                  user "user", password "password", 10 generated messages
  pop3mock serve --port 1110 --user alice:secret --messages ./mail
  pop3mock serve --help           every option of serve, each with an example
  pop3mock probe pop3://alice@mail.example.net --out mine.toml
                                  a server's manners as a personality file
  pop3mock --version
"""

SERVE_EPILOG = """\
examples:
  pop3mock serve
      any free port; user "user" / password "password" with 10 generated messages
  pop3mock serve --host 127.0.0.1 --port 1110 --user alice:secret --user bob:hunter2
      two users, both with the same 10 generated messages
  pop3mock serve --user alice:secret --messages ./mail
      a folder of .eml files (sorted by name), an mbox file or a Maildir
  pop3mock serve --messages ./big-mail --max-message-size 268435456
      read message files up to 256 MiB (default 64 MiB); a bigger one, a FIFO or a
      device in the folder is an error at start, never a hang or a full memory
  pop3mock serve --fake 500 --seed 42
      500 generated messages, the same bytes on every run with seed 42
  pop3mock serve --tls-port 1995 --stls
      implicit TLS (pop3s) on port 1995 and STLS on the plain port; the certificate and
      the CA to trust (curl --cacert CA) are written to files whose paths are printed
  pop3mock serve --tls-port 0 --tls-dir ./certs
      the generated ca.pem, server-cert.pem and server-key.pem go to ./certs (kept)
  pop3mock serve --stls --cert server.pem --key server.key --ca ca.pem
      your own certificate; --ca only names the CA to print in the curl command
  pop3mock serve --fault 'RETR 2: error [SYS/TEMP] storage offline' --fault 'QUIT: reset'
      fault rules, one per --fault, the same rules as server.faults in Python
  pop3mock serve --fault 'RETR p=0.3: error [SYS/TEMP] flaky' --fault-seed 7
      a rule that fires on about 30% of RETRs: the same ones on every run with seed 7
      (the seed in use is printed as "fault seed: N", so any run can be replayed)
  pop3mock serve --strict --check --fault 'RETR 1 once: error [SYS/TEMP] busy'
      after Ctrl-C, exit with status 3 if the client broke the protocol or never
      sent RETR 1 (the fault did not fire): a CI step fails like a pytest test
  pop3mock serve --personality dovecot --strict --idle-timeout 30
      greet and answer like Dovecot; report client protocol violations on stderr;
      close connections idle for 30 s (0: never)
  pop3mock serve --replay session.jsonl --replay-timing
      answer with the replies pop3mock proxy recorded, byte for byte, after the
      recorded pauses; a client line that differs from the recording gets -ERR and
      is reported on stderr
  pop3mock serve --journal pop3.jsonl
      one JSON object per session start, command and session end, written as it
      happens (follow it with: tail -f pop3.jsonl); passwords are masked
  pop3mock serve --auth-failure-delay 2 --max-auth-failures 3
      answer a failed login after 2 s, then 4 s, 8 s, up to 15 s (Dovecot's figures),
      and close the connection at the 3rd failure (defaults 0.5 s and 10; 0: off)
  pop3mock serve --journal-keep 0
      keep every session in memory (default: the last 1000 ended ones, so that a
      server running for days stays small; the --journal file gets them all anyway)
  pop3mock serve --max-connections 20 --login-timeout 30 --drop-oldest-when-full
      at most 20 connections at once (default 100; 0: no cap), each logged in within
      30 s of connecting (default 180; 0: no deadline); when full, the oldest
      connection not logged in makes room for a new one (the default)
  pop3mock serve --max-connections 20 --no-drop-oldest-when-full
      when full, refuse a new client with -ERR [SYS/TEMP] instead
  pop3mock serve --session-keep-commands 100
      keep the first and last 100 commands of each session in memory (default
      1000; 0: all); the ones in between are counted, and the --journal file
      gets them all anyway
  pop3mock serve --config pop3mock.toml --port 1110
      users, maildrops, faults and server options from a TOML file; flags override it
  pop3mock serve --admin-port 8025
      also serve the HTTP control API on http://127.0.0.1:8025 (users, mail, faults,
      journal: docs/admin.md)
  pop3mock serve --host 0.0.0.0 --admin-port 0 --admin-host 0.0.0.0 --admin-token s3cret
      the control API on every address: refused without --admin-token, and every
      request then needs "Authorization: Bearer s3cret"
  pop3mock serve --admin-port 0 --admin-max-body 1048576
      refuse control API request bodies over 1 MiB (default 64 MiB) with status 413
  pop3mock serve --quiet --ready-file /tmp/pop3.ready
      print only the "listening on" lines; write the URL(s) to /tmp/pop3.ready once
      listening (removed on exit)

The first output line is "listening on pop3://HOST:PORT" (then "listening on
pop3s://HOST:PORT" with --tls-port, then "admin on http://HOST:PORT" with
--admin-port). SIGINT and SIGTERM stop the server cleanly (exit
status 0); a configuration error or a port in use exits with status 2 and one line on stderr.
On stop, counted fault rules (once, times=N, #N) that did not fire as often as configured
are listed ("fault never fired: ..."); the exit status stays 0, unless --check is given:
then such a rule, or a client's protocol violation under --strict, exits with status 3.
"""


PROBE_EPILOG = """\
example:
  POP3MOCK_PROBE_PASSWORD=secret pop3mock probe pop3://alice@127.0.0.1:1110 --out mine.toml
  pop3mock serve --personality mine.toml

It sends, in order: CAPA, STLS (with --stls), an unknown command, USER without a name,
USER and a wrong PASS (not with --no-failed-login), USER and PASS, CAPA, STAT, LIST,
LIST 1, LIST of a message out of range, UIDL, UIDL 1, TOP 1 0, RETR 1 (not with --no-retr
nor where EXPIRE 0 is advertised), NOOP, NOOP with an argument, RSET, LAST, QUIT; then a
second connection sends QUIT. Each command is printed on stderr as it is sent (passwords
and the user name masked). A server that cannot be reached, is not POP3 or refuses the
login ends the probe within --timeout with one line on
stderr and exit status 2.
"""


PROXY_EPILOG = """\
example:
  pop3mock proxy --upstream pop3s://mail.example.net --record session.jsonl
  pop3mock serve --replay session.jsonl

The first line on stdout is 'listening on pop3://HOST:PORT': point the client there. Each
client connection is relayed to its own upstream connection and recorded as it happens.
A malformed address, upstream URL or record file ends it with one line on stderr and exit
status 2.
"""
