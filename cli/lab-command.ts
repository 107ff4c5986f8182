// `rstscope lab`: the test lab for people. Builds the namespaces, prints how
// to reach them, and removes them on Ctrl-C.
import { Lab } from '../test/lab/lab.js';

export const LAB_USAGE = `usage: rstscope lab

Builds client, router and server network namespaces (10.1.0.2 -> 10.1.0.1 |
10.2.0.1 -> 10.2.0.2, IPv6 fd00:1::/64 and fd00:2::/64), prints their names,
and removes them on Ctrl-C. Try, in other terminals:
  rstscope agent --netns <client> --netns <server>
  ip netns exec <client> nc -z 10.2.0.2 9        # a closed port: NO_SOCKET`;

export async function runLabCommand(argv: string[]): Promise<number> {
  if (argv.length) {
    console.error(`rstscope lab: unexpected argument '${argv[0]}'; see 'rstscope lab --help'`);
    return 2;
  }
  const lab = Lab.create();
  for (const host of [lab.client, lab.router, lab.server]) {
    console.log(`${host.role.padEnd(7)} ${host.ns.padEnd(20)} ${host.ipv4.padEnd(9)} ${host.ipv6}`);
  }
  console.log('lab is up; Ctrl-C removes it');
  // Signal listeners alone do not keep Node running: without a timer the
  // process would end here, and its exit handler would remove the lab at once.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  lab.destroy();
  console.log('lab removed');
  return 0;
}
