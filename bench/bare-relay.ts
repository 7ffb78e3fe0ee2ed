// The reference hop: a TCP relay in Node that understands nothing of what it carries. Whatever
// any Node proxy costs beyond this is its own doing; this much is the price of one more hop of
// the same runtime on this machine.
//
//   node bench/launch.mjs bench/bare-relay.ts --to 127.0.0.1:5432 [--port 0]
//
// Prints `{"port":N}` on stdout once it listens; runs until killed.
import { connect, createServer, type Socket } from 'node:net';

const args = process.argv.slice(3);
const option = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const [host = '', portText = ''] = (option('--to') ?? '').split(':');
const targetPort = Number(portText);
if (host === '' || !Number.isInteger(targetPort)) {
  process.stderr.write('usage: bare-relay.ts --to HOST:PORT [--port N]\n');
  process.exit(2);
}

const server = createServer({ noDelay: true, allowHalfOpen: true }, (client: Socket) => {
  const upstream = connect({ host, port: targetPort, noDelay: true, allowHalfOpen: true });
  // pipe() pauses the reader while the writer is full (backpressure both ways) and passes EOF
  // on; a socket closes once both of its directions ended.
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
server.listen(Number(option('--port') ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`,
  );
});
