// `rstscope nats-auth`: one nkey per agent host and one for the collectors, the
// seeds written 0600 into --out, and the nats-server authorization block that lets
// each agent publish only as its own host. Seeds already in --out are kept, so
// adding a host is running it again with one more --host.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nkeys } from '@nats-io/transport-node';
import { authorizationBlock } from '../proto/nats-authorization-block.js';
import type { NatsUser } from '../proto/nats-authorization-block.js';
import { NatsAuthConfigError, readNkeySeed } from '../proto/nats-auth-options.js';
import { agentPermissions, collectorPermissions } from '../proto/nats-permissions.js';
// HOST_NAME: the agent's own rule for --host, so every host named here is one an agent accepts.
import { DEFAULT_DURABLE, HOST_NAME } from '../proto/nats-topology.js';

export const NATS_AUTH_USAGE = `usage: rstscope nats-auth --host NAME [--host NAME]... --out DIR [--durable NAME]

Makes NATS credentials: an nkey per agent host (DIR/agent-NAME.nk) and one for the
collectors (DIR/collector.nk), seeds written with mode 0600 (a seed already there is
kept), and the nats-server authorization block (DIR/authorization.conf, also printed)
in which each agent may publish only rstscope.v1.resets.<its host> and
rstscope.v1.agents.<its host>. Include the block in nats-server.conf, give each agent
--nats-nkey DIR/agent-<its host>.nk and the same --host, the collectors
--nats-nkey DIR/collector.nk.
  --host NAME     an agent host, as the agent's --host (repeatable)
  --out DIR       where the seeds and the block go (made 0700 if missing)
  --durable NAME  the collectors' consumer (default ${DEFAULT_DURABLE}), as their --durable`;

export class NatsAuthCommandError extends Error {
  override name = 'NatsAuthCommandError';
}

const SEED_MODE = 0o600;

/** Exit 0, or 2 with one line on stderr for a bad flag or an --out it cannot use. */
export function runNatsAuthCommand(argv: string[]): number {
  try {
    return makeCredentials(argv);
  } catch (err) {
    if (!(err instanceof NatsAuthCommandError)) throw err;
    process.stderr.write(`rstscope nats-auth: ${err.message}\n`);
    return 2;
  }
}

function makeCredentials(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', multiple: true, default: [] },
        out: { type: 'string' },
        durable: { type: 'string', default: DEFAULT_DURABLE },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    const message = (err as Error).message.replace(/\s*\n\s*/g, ' ');
    throw new NatsAuthCommandError(`${message}; see 'rstscope nats-auth --help'`, { cause: err });
  }
  const hosts = [...new Set(values.host)];
  if (!hosts.length) throw new NatsAuthCommandError('--host NAME: name at least one agent host');
  const bad = hosts.find((h) => !HOST_NAME.test(h));
  if (bad !== undefined) {
    throw new NatsAuthCommandError(
      `--host ${bad}: expected a DNS-style name (letters, digits, . _ -), as the agent's --host`,
    );
  }
  if (!values.out) throw new NatsAuthCommandError('--out DIR: where the seeds are written');
  if (!/^[A-Za-z0-9_-]+$/.test(values.durable)) {
    throw new NatsAuthCommandError(
      `--durable ${values.durable}: expected letters, digits, _ and -`,
    );
  }
  const out = values.out;
  try {
    mkdirSync(out, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new NatsAuthCommandError(`--out ${out}: cannot make it (${(err as Error).message})`, {
      cause: err,
    });
  }

  // Every host with a seed in DIR stays in the block: running the verb again with
  // only a new host must not lock out the agents made before.
  const known = seededHosts(out);
  const everyHost = [...new Set([...known, ...hosts])].sort();
  const users: NatsUser[] = [];
  for (const host of everyHost) {
    users.push({
      label: `agent ${host}`,
      nkey: seedFile(join(out, `agent-${host}.nk`)),
      permissions: agentPermissions(host),
    });
  }
  users.push({
    label: `collector (consumer ${values.durable})`,
    nkey: seedFile(join(out, 'collector.nk')),
    permissions: collectorPermissions(values.durable),
  });
  const block = authorizationBlock(users);
  try {
    writeFileSync(join(out, 'authorization.conf'), block, { mode: 0o644 });
  } catch (err) {
    throw new NatsAuthCommandError(`--out ${out}: cannot write (${(err as Error).message})`, {
      cause: err,
    });
  }
  process.stdout.write(block);
  process.stderr.write(
    `rstscope nats-auth: ${everyHost.length} agent seed(s) (${hosts.length} named here) and a collector seed in ${out} (mode 0600); ` +
      `the block above is ${join(out, 'authorization.conf')}\n`,
  );
  return 0;
}

/** The hosts whose agent seeds are in `dir` already (agent-HOST.nk). */
function seededHosts(dir: string): string[] {
  return readdirSync(dir)
    .map((name) => /^agent-(.+)\.nk$/.exec(name)?.[1])
    .filter((host): host is string => host !== undefined && HOST_NAME.test(host));
}

/** The public key of the seed in `file`, made there first if it is not. */
function seedFile(file: string): string {
  if (existsSync(file)) {
    try {
      return readNkeySeed(file).publicKey;
    } catch (err) {
      if (err instanceof NatsAuthConfigError) {
        throw new NatsAuthCommandError(
          `${file} exists but is not an nkey user seed; remove it to make a new one`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  const pair = nkeys.createUser();
  try {
    // 'wx': never overwrite a seed that appeared meanwhile; 0600: the seed is the identity.
    writeFileSync(file, `${new TextDecoder().decode(pair.getSeed())}\n`, {
      mode: SEED_MODE,
      flag: 'wx',
    });
  } catch (err) {
    throw new NatsAuthCommandError(`${file}: cannot write it (${(err as Error).message})`, {
      cause: err,
    });
  }
  return pair.getPublicKey();
}
