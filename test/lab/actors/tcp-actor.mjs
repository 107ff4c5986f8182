// A TCP endpoint for the lab, driven from the test: real sockets, real resets.
// Prints one JSON object per event on stdout; takes commands on stdin.
//
//   serve   --port P [--host H] [--mode hold|unread|linger0|close] [--wait-ms N] [--title T]
//   connect --host H --port P [--local-port L] [--title T]
//
// serve modes, per accepted connection:
//   hold     keep it open and read (default)
//   unread   never read; close --wait-ms after accepting (unread data → RST)
//   linger0  on the first data, abort with SO_LINGER {1, 0}
//   close    read, then close normally --wait-ms after the first data
//   echo     read, and write every chunk back (the client receives segments)
// stdin commands for serve: "abort [PORT]" aborts with SO_LINGER {1, 0} every
// open connection, or only the one from remote port PORT ("aborted" per connection).
// stdin commands for connect: "send N", "end", "destroy", "reset".
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const [command, ...rest] = process.argv.slice(2);
const { values: opt } = parseArgs({
  args: rest,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    mode: { type: 'string', default: 'hold' },
    'wait-ms': { type: 'string', default: '300' },
    title: { type: 'string' },
    'local-port': { type: 'string' },
  },
});
// The title becomes the process's comm, which the reset records carry.
if (opt.title) process.title = opt.title;

const say = (event, fields = {}) =>
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const waitMs = Number(opt['wait-ms']);

function serve() {
  const pause = opt.mode === 'unread';
  const open = new Set();
  const server = net.createServer({ pauseOnConnect: pause, allowHalfOpen: true }, (sock) => {
    say('accepted', {
      remote_address: sock.remoteAddress,
      remote_port: sock.remotePort,
      local_address: sock.localAddress,
      local_port: sock.localPort,
    });
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', (err) => say('error', { code: err.code }));
    if (opt.mode === 'unread') {
      setTimeout(() => sock.destroy(), waitMs);
      return;
    }
    let first = true;
    sock.on('data', (chunk) => {
      say('data', { bytes: chunk.length });
      if (opt.mode === 'echo') sock.write(chunk);
      if (!first) return;
      first = false;
      if (opt.mode === 'linger0') sock.resetAndDestroy();
      if (opt.mode === 'close') setTimeout(() => sock.destroy(), waitMs);
    });
  });
  server.listen(Number(opt.port), opt.host, () =>
    say('listening', { port: server.address().port }),
  );
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd !== 'abort') return;
    for (const sock of open) {
      if (arg !== undefined && sock.remotePort !== Number(arg)) continue;
      const remotePort = sock.remotePort;
      sock.resetAndDestroy();
      say('aborted', { remote_port: remotePort });
    }
  });
}

function connect() {
  const sock = net.connect({
    host: opt.host,
    port: Number(opt.port),
    allowHalfOpen: true,
    // A fixed source port names a flow whose connect fails (no "connected" event).
    ...(opt['local-port'] ? { localPort: Number(opt['local-port']) } : {}),
  });
  sock.on('connect', () =>
    say('connected', { local_address: sock.localAddress, local_port: sock.localPort }),
  );
  sock.on('data', (chunk) => say('data', { bytes: chunk.length }));
  sock.on('end', () => say('end'));
  sock.on('error', (err) => say('error', { code: err.code }));
  sock.on('close', () => {
    say('closed');
    process.exit(0);
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'send')
      sock.write(Buffer.alloc(Number(arg), 0x61), () => say('sent', { bytes: Number(arg) }));
    else if (cmd === 'end') sock.end();
    else if (cmd === 'destroy') sock.destroy();
    else if (cmd === 'reset') sock.resetAndDestroy();
  });
}

if (command === 'serve') serve();
else if (command === 'connect') connect();
else {
  process.stderr.write('usage: tcp-actor.mjs serve|connect ...\n');
  process.exit(2);
}
