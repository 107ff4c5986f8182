// The addresses a heartbeat lists for a namespace, read through a process in it
// (/proc/PID/net, no capability) as `ip addr` would show them.
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coveredAddresses, globalIpv6, localIpv4 } from '../agent/covered-addresses.js';
import { NetnsProcesses } from '../agent/netns-processes.js';
import { Lab } from './lab/lab.js';
import { until } from './lab/until.js';

let lab: Lab;
let sleeper: ChildProcess | undefined;

beforeAll(() => {
  lab = Lab.create();
});

afterAll(() => {
  sleeper?.kill('SIGKILL');
  lab?.destroy();
});

const inodeOf = (ns: string) => statSync(`/run/netns/${ns}`).ino;

describe('covered addresses', () => {
  it("reads fib_trie leaves that are this host's own, without loopback or broadcast", () => {
    const fibTrie = [
      'Main:',
      '  +-- 0.0.0.0/0 3 0 5',
      '     |-- 10.2.0.0',
      '        /24 link UNICAST',
      '     |-- 10.2.0.2',
      '        /32 host LOCAL',
      '     |-- 10.2.0.255',
      '        /32 link BROADCAST',
      '     |-- 127.0.0.1',
      '        /32 host LOCAL',
      'Local:',
      '     |-- 10.2.0.2',
      '        /32 host LOCAL',
    ].join('\n');
    expect(localIpv4(fibTrie)).toEqual(['10.2.0.2']);
  });

  it('reads global IPv6 addresses of if_inet6 in their short form', () => {
    const ifInet6 = [
      'fe80000000000000d42d3bfffe0f7388 05 40 20 80 eth0',
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fd000002000000000000000000000002 04 40 00 80     eth0',
      '20010db8000000010000000000000000 04 40 00 80     eth0',
      '20010db8000100020003000400050006 04 40 00 80     eth0',
    ].join('\n');
    expect(globalIpv6(ifInet6)).toEqual(['fd00:2::2', '2001:db8:0:1::', '2001:db8:1:2:3:4:5:6']);
  });

  it("lists a namespace's addresses as `ip addr` does, through a process in it", async () => {
    sleeper = lab.spawn(lab.server, ['sleep', '600']);
    const inode = inodeOf(lab.server.ns);
    const processes = new NetnsProcesses();
    await until(() => processes.pidIn(inode) !== undefined, 'a process in the namespace', 5000);
    // No name: only the process can answer (no `ip -n` fallback).
    const { addresses, unreadable } = await coveredAddresses([{ inode, name: '' }], processes);
    expect(unreadable).toEqual([]);
    expect(addresses).toEqual(['10.2.0.2', 'fd00:2::2']);
  });

  it('names a namespace it cannot read, and lists nothing for it', async () => {
    const inode = inodeOf(lab.client.ns); // no process runs there
    const { addresses, unreadable } = await coveredAddresses(
      [{ inode, name: '' }],
      new NetnsProcesses(),
    );
    expect(addresses).toEqual([]);
    expect(unreadable).toEqual([{ inode, name: '' }]);
  });
});
