// A many-short-connections load for the data-path benchmark, run inside a lab
// namespace (a process cannot change its own namespace, so each end is its own
// process). Every connection is a whole TCP life: handshake, a 16-byte request,
// a 16-byte answer, then the client closes first. The server closes only after
// the client has, so TIME_WAIT sits on the client, where tcp_tw_reuse recycles it.
//
//   node dist/bench/short-connections.js serve PORT
//   node dist/bench/short-connections.js connect HOST PORT SECONDS CONCURRENCY
//
// `serve` prints `listening` once it accepts; `connect` prints one JSON line
// { connections, errors, seconds, cpu } when done (cpu: its own CPU seconds). No reset is part of the load: an
// error is counted, and a load with errors is no measure of the data path.
import { connect, createServer } from 'node:net';

const REQUEST = Buffer.alloc(16, 'q');
const ANSWER = Buffer.alloc(16, 'a');

function serve(port: number): void {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => socket.end(ANSWER));
  });
  server.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => console.log('listening'));
}

async function load(host: string, port: number, seconds: number, concurrency: number) {
  const deadline = performance.now() + seconds * 1000;
  let connections = 0;
  let errors = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once('connect', () => socket.write(REQUEST));
      socket.once('data', () => socket.end());
      socket.once('close', (hadError) => {
        if (hadError) errors++;
        else connections++;
        resolve();
      });
      socket.on('error', () => {});
    });
  const worker = async () => {
    while (performance.now() < deadline) await once();
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const took = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage();
  console.log(JSON.stringify({ connections, errors, seconds: took, cpu: (user + system) / 1e6 }));
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'serve' && args.length === 1) serve(Number(args[0]));
else if (mode === 'connect' && args.length === 4)
  await load(args[0]!, Number(args[1]), Number(args[2]), Number(args[3]));
else {
  process.stderr.write(
    'usage: short-connections.js serve PORT | connect HOST PORT SECONDS CONCURRENCY\n',
  );
  process.exit(2);
}
