// The cause taxonomy: every stored reset gets exactly one of these ids. The
// rules that pick one live in SQL (cause-view.ts); this list gives each id its
// words, its evidence in plain terms and what to do about it, and is what the
// views, the CLI and docs/diagnosis.md print.

export interface Cause {
  /** Stable id, stored and queried: snake_case. */
  id: string;
  /** What happened, in words. */
  title: string;
  /** The evidence that selects this cause, as a person would check it by hand. */
  evidence: string;
  /** What to do about it. */
  fix: string;
}

export const CAUSES: readonly Cause[] = [
  {
    id: 'closed_port',
    title: 'Connection attempt to a port nothing listens on',
    evidence:
      "The resetting host's kernel had no socket for a SYN (reason NO_SOCKET, or no socket on kernels without a reason); the client received it in SYN_SENT.",
    fix: 'Start the service, or point the client at the right address and port; check readiness before sending traffic.',
  },
  {
    id: 'backlog_overflow',
    title: "Listener's accept queue overflowed",
    evidence:
      "A listening socket answered the handshake's final ACK with a reset (net.ipv4.tcp_abort_on_overflow=1): the application did not accept() fast enough.",
    fix: 'Accept faster or raise the backlog (listen() backlog, net.core.somaxconn); leave tcp_abort_on_overflow at 0 unless clients must fail fast.',
  },
  {
    id: 'peer_lost_state',
    title: 'One end no longer knew the connection',
    evidence:
      'A segment of an established flow reached a host whose kernel had no socket for it (NO_SOCKET, not a SYN): the process or host restarted, or a NAT/conntrack entry went stale and sent the segment elsewhere.',
    fix: 'Look for restarts or failovers of the resetting host at that time; make clients reconnect and retry idempotent requests.',
  },
  {
    id: 'not_the_peer',
    title: 'A host that is not the peer answered for its address',
    evidence:
      'The reset came from a host with no state for the flow while another watched host holds the same address at that time: a duplicate IP, or traffic switched to the wrong host (ARP/ND or routing change).',
    fix: 'Find the duplicate address (arping, the switch MAC table) and give each host a unique address; check VIP/failover configuration.',
  },
  {
    id: 'app_abort_linger',
    title: 'The application aborted the connection',
    evidence:
      'Reset from close() with SO_LINGER {on, 0 s}, shutdown via disconnect, or a negative TCP_LINGER2 (reasons TCP_STATE, TCP_ABORT_ON_LINGER, TCP_DISCONNECT_WITH_DATA; without a reason: linger on with 0 s).',
    fix: 'Intended by the named process; if not wanted, remove SO_LINGER 0 and close gracefully.',
  },
  {
    id: 'close_unread_data',
    title: 'The application closed with unread data (RFC 2525)',
    evidence:
      'close() on a socket whose receive queue still held data: Linux resets instead of sending FIN (reason TCP_ABORT_ON_CLOSE; without a reason: unread bytes > 0 at an active reset).',
    fix: 'The named process must read (or shutdown(SHUT_RD) and drain) what the peer sent before closing; often a request body or pipelined request it ignored.',
  },
  {
    id: 'data_after_close',
    title: 'Data arrived after the application closed',
    evidence:
      'The socket was closed for reading (FIN_WAIT1/FIN_WAIT2) and new data arrived, so the kernel reset (reason TCP_ABORT_ON_DATA; without a reason: a segment answered on a socket that was in FIN_WAIT).',
    fix: 'The peer keeps sending after this end closed: agree on who closes first (e.g. HTTP keep-alive timeouts: server longer than client).',
  },
  {
    id: 'keepalive_timeout',
    title: 'Keepalive probes went unanswered',
    evidence:
      'TCP keepalive found the peer unreachable and aborted (reason TCP_KEEPALIVE_TIMEOUT; without a reason: a timer reset, not from a process, on an established socket).',
    fix: 'The peer or the path vanished while idle: check the peer host and any middlebox idle timeout shorter than the keepalive interval.',
  },
  {
    id: 'memory_pressure',
    title: 'Aborted under TCP memory pressure',
    evidence:
      'The kernel dropped an orphaned connection because TCP memory or the orphan limit ran out (reason TCP_ABORT_ON_MEMORY).',
    fix: 'Raise net.ipv4.tcp_mem / tcp_max_orphans, or find what holds so many orphaned sockets.',
  },
  {
    id: 'protocol_violation',
    title: 'A segment broke the TCP rules',
    evidence:
      'The kernel answered an invalid segment (bad ACK, PAWS, unexpected flags, a segment for a TIME_WAIT socket, an invalid SYN, MPTCP errors); without a reason: a segment answered on a socket that was not closing.',
    fix: 'Capture the flow: a broken TCP stack, a middlebox rewriting sequence numbers or timestamps, or a reused port hitting TIME_WAIT.',
  },
  {
    id: 'firewall_reject',
    title: 'A firewall rejected the connection attempt',
    evidence:
      "The client received a reset in SYN_SENT that the watched server never sent (or whose TTL is not the server's): a REJECT --reject-with tcp-reset rule on the path.",
    fix: 'Find the rule at the hop distance shown (security group, network policy, iptables/nft REJECT) and allow the flow.',
  },
  {
    id: 'conntrack_invalid',
    title: 'A stateful middlebox rejected a mid-stream segment',
    evidence:
      "A reset on an active flow (silent for less than a second) that the watched peer never sent (or whose TTL is not the peer's): a conntrack/firewall judged a segment INVALID (window, asymmetric route) or a rule now rejects the flow.",
    fix: 'Check the middlebox at the hop distance shown for INVALID drops/rejects, asymmetric routing, or a rule change.',
  },
  {
    id: 'idle_timeout',
    title: 'A middlebox forgot the idle connection',
    evidence:
      "A reset that the watched peer never sent (or whose TTL is not the peer's), arriving when the flow resumed after a silence of a second or more: a NAT/conntrack/load-balancer entry expired.",
    fix: "Send keepalives more often than the middlebox's idle timeout (see its bracket in middleboxes), or raise that timeout.",
  },
  {
    id: 'unclassified',
    title: 'Not enough evidence for a cause',
    evidence:
      'The peer is not watched and the reset looks like its own (same TTL), or the kernel reason is one the taxonomy does not name.',
    fix: 'Run an agent on the peer: its side of the flow names the cause.',
  },
];

export const CAUSE_IDS: readonly string[] = CAUSES.map((c) => c.id);

export function causeById(id: string): Cause | undefined {
  return CAUSES.find((c) => c.id === id);
}
