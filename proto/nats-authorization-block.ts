// The nats-server `authorization { users = [...] }` block that gives each party
// its own nkey and permissions (nats-permissions.ts). Only public keys go in it:
// the server can verify a client but never act as one. Every key is one nats-server
// 2.9 accepts (checked in test/nats-security.test.ts with `nats-server -t`).
import type { NatsPermissions } from './nats-permissions.js';

export interface NatsUser {
  /** What the comment above the entry says, e.g. "agent node-1". */
  label: string;
  /** The nkey's public key, U... */
  nkey: string;
  permissions: NatsPermissions;
}

export function authorizationBlock(users: readonly NatsUser[]): string {
  const entries = users.map(
    (u) => `    # ${u.label}
    {
      nkey: ${quote(u.nkey)}
      permissions: {
        publish: { allow: [${u.permissions.publish.map(quote).join(', ')}] }
        subscribe: { allow: [${u.permissions.subscribe.map(quote).join(', ')}] }
      }
    }`,
  );
  return `authorization {
  users = [
${entries.join('\n')}
  ]
}
`;
}

/**
 * A double-quoted string of the server's config language: `$` inside quotes is
 * literal (unquoted it would be a variable), and our subjects hold no `"` or `\\`.
 */
function quote(text: string): string {
  if (/["\\\n]/.test(text)) throw new Error(`cannot quote ${JSON.stringify(text)} for nats-server`);
  return `"${text}"`;
}
