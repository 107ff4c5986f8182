// An OCI image made from files on this machine, for scripts/record-cgroup-paths.mjs:
// no registry is reachable here, so the pod's sandbox ("pause") and its container
// both run Debian's static busybox. Written as an OCI image layout tar that
// `ctr images import` takes, one manifest under each of the given names.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Writes `<dir>/image.tar` and returns its path. `names`: full image references. */
export function buildBusyboxImage(dir, names, entrypoint) {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', applet));

  const layerPath = join(dir, 'layer.tar');
  execFileSync('tar', [
    '--create',
    `--file=${layerPath}`,
    `--directory=${rootfs}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '--sort=name',
    'bin',
  ]);
  const layer = readFileSync(layerPath);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: entrypoint, WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${sha256(layer)}`,
          size: layer.length,
        },
      ],
    }),
  );

  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  for (const blob of [layer, config, manifest]) writeFileSync(join(blobs, sha256(blob)), blob);
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: names.map((name) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${sha256(manifest)}`,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': name },
      })),
    }),
  );
  const tar = join(dir, 'image.tar');
  execFileSync('tar', [
    '--create',
    `--file=${tar}`,
    `--directory=${layout}`,
    'oci-layout',
    'index.json',
    'blobs',
  ]);
  return tar;
}
