#!/usr/bin/env node
// Captures test/golden/closed-port-loopback.{batch,json} on this kernel, for the
// decoder test: the loader watches a throwaway network namespace, a connect() to its
// closed port 9 over loopback makes one sent NO_SOCKET and one reset received in
// SYN_SENT, and the batch frame holding both is written as the loader sent it (.batch)
// and decoded (.json). Review the .json by hand before committing it: the test takes
// it as the truth. Needs root, `make -C agent/native` and `npm run build`.
import { execFileSync, spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { decodeRecords } from '../dist/agent/event-decoder.js';
import { RST_EVENT_SIZE } from '../dist/agent/event-layout.js';
import {
  FRAME_BATCH,
  FRAME_HELLO,
  FrameReader,
  parseBatchHeader,
} from '../dist/agent/loader-frames.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const ns = `rst-golden-${process.pid}`;
const CONNECT_TO_CLOSED = `require('node:net').connect(9, '127.0.0.1').on('error', () => {})`;
const ip = (...args) => execFileSync('ip', args, { stdio: 'inherit' });
ip('netns', 'add', ns);
try {
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const payload = await capture(statSync(`/run/netns/${ns}`).ino);
  const { realtimeOffsetNs, recordsAt } = parseBatchHeader(payload);
  // The names the decoder test passes: no hello frame there.
  const events = decodeRecords(payload, recordsAt, realtimeOffsetNs, {
    host: 'golden-host',
    bootId: 'golden-boot',
    rstReasons: { 1: 'NO_SOCKET' },
    dropReasons: {},
  });
  const golden = join(root, 'test', 'golden', 'closed-port-loopback');
  writeFileSync(`${golden}.batch`, payload);
  writeFileSync(`${golden}.json`, `${JSON.stringify(events, null, 2)}\n`);
  process.stdout.write(`wrote ${golden}.{batch,json}: ${events.length} records\n`);
} finally {
  ip('netns', 'del', ns);
}

/** The first batch frame with both records, from a loader watching only netns `inode`. */
function capture(inode) {
  const loader = spawn(join(root, 'build', 'rstscope-loader'), ['--netns-inode', String(inode)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const frames = new FrameReader();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      loader.kill();
      reject(new Error('no batch with both resets in 10 s'));
    }, 10_000);
    loader.on('exit', (code) => reject(new Error(`loader exited with ${code}`)));
    loader.stdout.on('data', (chunk) => {
      for (const frame of frames.push(chunk)) {
        if (frame.type === FRAME_HELLO) {
          // Attached: now the reset. The connecting process shows up as `node`.
          execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CONNECT_TO_CLOSED]);
        } else if (frame.type === FRAME_BATCH && frame.payload.length >= 8 + 2 * RST_EVENT_SIZE) {
          clearTimeout(timer);
          loader.removeAllListeners('exit');
          loader.stdin.end(); // end of file stops the loader
          resolve(Buffer.from(frame.payload));
        }
      }
    });
  });
}
