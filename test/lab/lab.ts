// The lab: network namespaces on this kernel standing in for hosts.
//
//   client (10.1.0.2, fd00:1::2) ── router (10.1.0.1 | 10.2.0.1, forwarding,
//   iptables/nft, conntrack, NAT) ── server (10.2.0.2, fd00:2::2)
//
// and, on demand, a bridge behind the router (10.3.0.0/24) with several hosts.
// Names are unique per lab; destroy() removes everything, and a lab that a
// crashed test left behind is removed at process exit.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface LabHost {
  role: string;
  ns: string;
  ipv4: string;
  ipv6: string;
}

export interface BridgeHostSpec {
  role: string;
  ipv4: string;
}

const live = new Set<Lab>();
process.on('exit', () => {
  for (const lab of live) lab.destroy();
});

function run(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export class Lab {
  readonly id = randomBytes(3).toString('hex');
  readonly client: LabHost;
  readonly router: LabHost;
  readonly server: LabHost;
  private readonly hosts: LabHost[] = [];
  private readonly children = new Set<ChildProcess>();
  private bridged = 0;

  private constructor() {
    this.client = this.addHost('client', '10.1.0.2', 'fd00:1::2');
    this.router = this.addHost('router', '10.1.0.1', 'fd00:1::1');
    this.server = this.addHost('server', '10.2.0.2', 'fd00:2::2');
  }

  static create(): Lab {
    const lab = new Lab();
    live.add(lab);
    try {
      lab.wire();
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  private addHost(role: string, ipv4: string, ipv6: string): LabHost {
    const host = { role, ns: `rst-${this.id}-${role}`, ipv4, ipv6 };
    run(['ip', 'netns', 'add', host.ns]);
    this.hosts.push(host);
    this.ip(host, 'link', 'set', 'lo', 'up');
    return host;
  }

  /** Runs `ip -n <host> ...`. */
  ip(host: LabHost, ...args: string[]): string {
    return run(['ip', '-n', host.ns, ...args]);
  }

  /** A veth pair from a's dev to b's peer. */
  private veth(a: LabHost, dev: string, b: LabHost, peer: string): void {
    this.ip(a, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer, 'netns', b.ns);
  }

  private address(host: LabHost, dev: string, v4: string, v6?: string): void {
    this.ip(host, 'addr', 'add', v4, 'dev', dev);
    // nodad: the address is usable at once instead of after duplicate detection.
    if (v6) this.ip(host, '-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
    this.ip(host, 'link', 'set', dev, 'up');
  }

  private wire(): void {
    const { client, router, server } = this;
    this.veth(client, 'eth0', router, 'eth0');
    this.veth(server, 'eth0', router, 'eth1');
    this.address(client, 'eth0', '10.1.0.2/24', 'fd00:1::2/64');
    this.address(router, 'eth0', '10.1.0.1/24', 'fd00:1::1/64');
    this.address(router, 'eth1', '10.2.0.1/24', 'fd00:2::1/64');
    this.address(server, 'eth0', '10.2.0.2/24', 'fd00:2::2/64');
    for (const [host, gw4, gw6] of [
      [client, '10.1.0.1', 'fd00:1::1'],
      [server, '10.2.0.1', 'fd00:2::1'],
    ] as const) {
      this.ip(host, 'route', 'add', 'default', 'via', gw4);
      this.ip(host, '-6', 'route', 'add', 'default', 'via', gw6);
    }
    this.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    this.exec(router, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  }

  /**
   * A bridge behind the router (br0, 10.3.0.1/24) with one namespace per spec.
   * Two specs may share an address: that is the duplicate-IP case.
   */
  addBridge(specs: BridgeHostSpec[]): LabHost[] {
    const { router } = this;
    if (!this.bridged) {
      this.ip(router, 'link', 'add', 'br0', 'type', 'bridge');
      this.address(router, 'br0', '10.3.0.1/24');
    }
    return specs.map((spec) => {
      const port = `p${this.bridged++}`;
      const host = this.addHost(spec.role, spec.ipv4, '');
      this.veth(host, 'eth0', router, port);
      this.ip(router, 'link', 'set', port, 'master', 'br0', 'up');
      this.address(host, 'eth0', `${spec.ipv4}/24`);
      this.ip(host, 'route', 'add', 'default', 'via', '10.3.0.1');
      return host;
    });
  }

  /** Runs a command inside a host and returns its stdout. */
  exec(host: LabHost, argv: string[]): string {
    return run(['ip', 'netns', 'exec', host.ns, ...argv]);
  }

  /** Starts a command inside a host; it is killed at destroy() if still running. */
  spawn(host: LabHost, argv: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.ns, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...options,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Namespace names of these hosts, for `rstscope agent --netns`. */
  namespaces(...hosts: LabHost[]): string[] {
    return (hosts.length ? hosts : this.hosts).map((h) => h.ns);
  }

  destroy(): void {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    for (const host of this.hosts.splice(0)) {
      try {
        const pids = run(['ip', 'netns', 'pids', host.ns]).split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        run(['ip', 'netns', 'del', host.ns]);
      } catch {
        // already removed
      }
    }
    live.delete(this);
  }
}
