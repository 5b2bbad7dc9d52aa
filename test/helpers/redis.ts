// A throwaway redis-server for a test file: its own free port on 127.0.0.1, no persistence, in a
// temporary folder, killed after. Without redis-server the tests skip with a message, except under
// CI=true, where a missing redis-server fails (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const redisServerPath = (() => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
})();

/** Why the Redis tests skip, or null when they run. Throws under CI without redis-server. */
export function redisSkipReason(): string | null {
  if (redisServerPath) return null;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error('redis-server not found, and CI is set: install it (apt-get install redis-server; .ci/run does)');
  return 'redis-server not found: skipping the distributed tests (apt-get install redis-server to run them)';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the server (its data is lost) and starts an empty one on the same port. */
  restart(): Promise<void>;
}

/** A redis-server on `port`, once it accepts connections. */
async function spawnRedis(folder: string, port: number): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(redisServerPath!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited };
}

export async function startRedis(folder: string): Promise<RedisServer> {
  const port = await freePort();
  let server = await spawnRedis(folder, port);
  const stop = async () => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    await server.exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: async () => {
      await stop();
      server = await spawnRedis(folder, port);
    },
  };
}
