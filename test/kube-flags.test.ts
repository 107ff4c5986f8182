// The flags that find the Kubernetes API, for agent and collector alike.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeConfigError, kubeConfigFromFlags } from '../k8s/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rstscope-kube-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function serviceAccount(): string {
  const sa = mkdtempSync(join(dir, 'sa-'));
  writeFileSync(join(sa, 'token'), 'sa-token\n');
  writeFileSync(join(sa, 'ca.crt'), 'PEM');
  return sa;
}

const IN_POD = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

describe('kubeConfigFromFlags', () => {
  it('auto: off outside a pod, the service account inside one', () => {
    expect(kubeConfigFromFlags({}, {})).toBeUndefined();
    const config = kubeConfigFromFlags({ kube: 'auto' }, IN_POD, {
      serviceAccountDir: serviceAccount(),
    })!;
    expect(config.server.href).toBe('https://10.96.0.1/');
    expect(config.token.current()).toBe('sa-token');
    expect(config.ca?.toString()).toBe('PEM');
  });

  it('on outside a pod without --kube-api is one clear line', () => {
    expect(() => kubeConfigFromFlags({ kube: 'on' }, {})).toThrow(
      /not in a Kubernetes pod: KUBERNETES_SERVICE_HOST/,
    );
  });

  it('off: no API, and API flags with it are refused', () => {
    expect(kubeConfigFromFlags({ kube: 'off' }, IN_POD)).toBeUndefined();
    expect(() =>
      kubeConfigFromFlags({ kube: 'off', 'kube-api': 'http://127.0.0.1:1' }, {}),
    ).toThrow('--kube-api has no effect with --kube off: drop one');
  });

  it('--kube-api names the server, with a token file read again and a CA', () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'first\n');
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'CA');
    const config = kubeConfigFromFlags(
      { 'kube-api': 'https://api.example:6443', 'kube-token-file': token, 'kube-ca': ca },
      {},
    )!;
    expect(config.server.host).toBe('api.example:6443');
    expect(config.token.current()).toBe('first');
    writeFileSync(token, 'second\n');
    expect(config.token.reload()).toBe('second');
    expect(config.ca?.toString()).toBe('CA');
  });

  it('refuses bad values with one line each', () => {
    const bad: [Parameters<typeof kubeConfigFromFlags>[0], RegExp][] = [
      [{ kube: 'yes' }, /^--kube yes: expected auto, on, off$/],
      [{ 'kube-api': 'api:6443x' }, /--kube-api api:6443x: not a URL|expected an https/],
      [{ 'kube-api': 'ftp://api' }, /expected an https:\/\/ or http:\/\/ URL/],
      [{ 'kube-ca': '/x' }, /^--kube-ca needs --kube-api/],
      [
        { 'kube-api': 'http://10.0.0.1:8080', 'kube-token-file': join(dir, 'token') },
        /clear text; use https:\/\//,
      ],
      [{ 'kube-api': 'https://a', 'kube-ca': join(dir, 'absent.pem') }, /--kube-ca .*ENOENT/],
    ];
    for (const [flags, message] of bad) {
      let thrown: unknown;
      try {
        kubeConfigFromFlags(flags, {});
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(flags)).toBeInstanceOf(KubeConfigError);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain('\n');
    }
  });

  it('plain http to loopback is allowed (kubectl proxy, the test double)', () => {
    const config = kubeConfigFromFlags({ 'kube-api': 'http://127.0.0.1:8001' }, {})!;
    expect(config.server.protocol).toBe('http:');
    expect(config.token.current()).toBeUndefined();
  });
});
