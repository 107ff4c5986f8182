// What each party may do on NATS, in nats-server's terms: the subjects it may
// publish and subscribe to. Shared by the clients (which connect with the inbox
// prefix named here) and `rstscope nats-auth` (which writes these lists into the
// server's authorization block), so the two cannot disagree.
import {
  DEADLETTER_STREAM,
  DEADLETTER_SUBJECT_PREFIX,
  RESETS_SUBJECT_PREFIX,
  STREAM,
  agentsSubject,
  hostToken,
  resetsSubject,
} from './nats-topology.js';

export interface NatsPermissions {
  /** Subjects this user may publish to (requests included). */
  publish: string[];
  /** Subjects this user may subscribe to (replies arrive on these). */
  subscribe: string[];
}

/**
 * Where an agent's replies (publish acks, the stream's info) arrive. One prefix
 * per host, so that one agent's credentials cannot subscribe to another's replies;
 * the second token keeps it apart from the collector's and from the default
 * `_INBOX.<nuid>` of other clients.
 */
export function agentInboxPrefix(host: string): string {
  return `_INBOX.rstscope-agent.${hostToken(host)}`;
}

/** Where the collector's replies and pulled messages arrive. */
export const COLLECTOR_INBOX_PREFIX = '_INBOX.rstscope-collector';

/**
 * An agent publishes its own two subjects and reads the stream's info; it does
 * not create the stream (the collector does) and subscribes to nothing but its
 * own inbox: it cannot publish as another host, read another host's resets, or
 * see another agent's acks.
 */
export function agentPermissions(host: string): NatsPermissions {
  return {
    publish: [resetsSubject(host), agentsSubject(host), `$JS.API.STREAM.INFO.${STREAM}`],
    subscribe: [`${agentInboxPrefix(host)}.>`],
  };
}

/**
 * The collector creates both streams and its durable consumer, pulls and acks
 * (and naks, and extends) messages of that consumer only, dead-letters what it
 * refuses, and subscribes to every host's resets for the live watch. No stream
 * or consumer deletion, no other stream's messages, no publishing as an agent.
 */
export function collectorPermissions(durable: string): NatsPermissions {
  const api = '$JS.API';
  return {
    publish: [
      `${api}.INFO`,
      `${api}.STREAM.INFO.${STREAM}`,
      `${api}.STREAM.CREATE.${STREAM}`,
      `${api}.STREAM.INFO.${DEADLETTER_STREAM}`,
      `${api}.STREAM.CREATE.${DEADLETTER_STREAM}`,
      `${api}.CONSUMER.INFO.${STREAM}.${durable}`,
      // Servers from 2.9 take the name (and a filter) in the subject; older ones DURABLE.CREATE.
      `${api}.CONSUMER.CREATE.${STREAM}.${durable}`,
      `${api}.CONSUMER.CREATE.${STREAM}.${durable}.>`,
      `${api}.CONSUMER.DURABLE.CREATE.${STREAM}.${durable}`,
      `${api}.CONSUMER.MSG.NEXT.${STREAM}.${durable}`,
      `$JS.ACK.${STREAM}.${durable}.>`,
      `${DEADLETTER_SUBJECT_PREFIX}.*`,
    ],
    subscribe: [`${RESETS_SUBJECT_PREFIX}.>`, `${COLLECTOR_INBOX_PREFIX}.>`],
  };
}
