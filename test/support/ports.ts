// Ports for the servers tests start as child processes.
import { createServer } from 'node:net';

/**
 * A port nobody listens on now, chosen by the kernel: a fixed or random range inside the ephemeral
 * one can collide with an outgoing connection's local port (a test waited 90 s on such a clash).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
