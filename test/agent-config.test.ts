import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveCapabilities, missingCapabilities } from '../agent/capabilities.js';
import { DEFAULT_RINGBUF_MB, loadAgentConfig } from '../agent/config.js';
import { AgentConfigError } from '../agent/errors.js';

describe('agent config', () => {
  it('has documented defaults', () => {
    const c = loadAgentConfig([], {});
    expect(c).toMatchObject({
      json: false,
      netns: [],
      ringbufMb: DEFAULT_RINGBUF_MB,
      durationS: 0,
    });
    expect(c.loaderPath).toMatch(/build\/rstscope-loader$/);
  });

  it('takes repeated --netns, --json and NODE_NAME', () => {
    const c = loadAgentConfig(['--json', '--netns', 'a', '--netns', '/proc/1/ns/net'], {
      NODE_NAME: 'node-7',
    });
    expect(c).toMatchObject({ json: true, netns: ['a', '/proc/1/ns/net'], host: 'node-7' });
  });

  it.each([
    [['--ringbuf-mb', '3'], '--ringbuf-mb 3: expected a power of two from 1 to 1024'],
    [['--aggregate-slots', '8'], '--aggregate-slots 8: expected a whole number from 16 to 65536'],
    [['--duration', 'soon'], '--duration soon: expected seconds, 0 or more'],
    [['--host', 'a b'], '--host a b: expected a DNS-style name (letters, digits, . _ -)'],
    [['--bogus'], "Unknown option '--bogus'; see 'rstscope agent --help'"],
  ])('refuses %j with one line naming the setting', (argv, message) => {
    expect(() => loadAgentConfig(argv, {})).toThrow(new AgentConfigError(message));
  });
});

describe('agent config: Kubernetes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstscope-agent-kube-'));
  const token = join(dir, 'token');
  writeFileSync(token, 'secret\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names no pods outside a pod by default; the node is $NODE_NAME, else the host name', () => {
    expect(loadAgentConfig([], {})).toMatchObject({
      kube: undefined,
      nodeName: hostname().toLowerCase(),
      cgroupRoot: undefined,
    });
    expect(loadAgentConfig([], { NODE_NAME: 'node-7' }).nodeName).toBe('node-7');
    expect(loadAgentConfig(['--node-name', 'node-a'], { NODE_NAME: 'node-7' }).nodeName).toBe(
      'node-a',
    );
  });

  it('takes --kube-api with a token file, --node-name and --cgroup-root', () => {
    const c = loadAgentConfig(
      [
        ...['--kube-api', 'http://127.0.0.1:6443', '--kube-token-file', token],
        ...['--node-name', 'node-a', '--cgroup-root', '/host/sys/fs/cgroup'],
      ],
      {},
    );
    expect(c.kube?.server.href).toBe('http://127.0.0.1:6443/');
    expect(c.kube?.token.current()).toBe('secret');
    expect(c).toMatchObject({ nodeName: 'node-a', cgroupRoot: '/host/sys/fs/cgroup' });
  });

  it('--kube auto uses the service account in a pod (none mounted here); --kube off never does', () => {
    const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(() => loadAgentConfig([], inPod)).toThrow(
      new AgentConfigError(
        `${join('/var/run/secrets/kubernetes.io/serviceaccount', 'ca.crt')}: cannot read the cluster CA (no such file); is automountServiceAccountToken false?`,
      ),
    );
    expect(loadAgentConfig(['--kube', 'off'], inPod).kube).toBeUndefined();
  });

  it.each([
    [['--kube', 'maybe'], '--kube maybe: expected auto, on, off'],
    [
      ['--kube', 'on'],
      'not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset (run in a pod, or give the API URL explicitly)',
    ],
    [
      ['--kube', 'off', '--kube-api', 'http://127.0.0.1:1'],
      '--kube-api has no effect with --kube off: drop one',
    ],
    [
      ['--kube-api', 'not a url'],
      '--kube-api not a url: not a URL (expected https://HOST:PORT or http://127.0.0.1:PORT)',
    ],
    [
      ['--kube-api', 'http://127.0.0.1:1', '--kube-token-file', '/nonexistent/token'],
      '/nonexistent/token: cannot read the service account token (no such file)',
    ],
    [
      ['--node-name', 'Node_A'],
      '--node-name Node_A: expected a Kubernetes node name (lower-case letters, digits, - and .)',
    ],
    [
      ['--cgroup-root', 'sys/fs/cgroup'],
      "--cgroup-root sys/fs/cgroup: expected an absolute path (the host's cgroup v2 mount)",
    ],
  ])('refuses %j with one line naming the setting', (argv, message) => {
    expect(() => loadAgentConfig(argv, {})).toThrow(new AgentConfigError(message));
  });
});

describe('capabilities', () => {
  const status = (hex: string) => `Name:\tnode\nCapEff:\t${hex}\n`;

  it('reads CapEff', () => {
    expect(effectiveCapabilities(status('000001ffffffffff'))).toBe(0x1ffffffffffn);
  });

  it('needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN', () => {
    expect(missingCapabilities(0n)).toEqual(['CAP_BPF', 'CAP_PERFMON']);
    expect(missingCapabilities(1n << 39n)).toEqual(['CAP_PERFMON']);
    expect(missingCapabilities((1n << 39n) | (1n << 38n))).toEqual([]);
    expect(missingCapabilities(1n << 21n)).toEqual([]);
  });
});
