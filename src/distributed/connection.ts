// A Redis connection with a watchdog: Redis unreachable for too long is one message, once (the
// worker stops, the coordinator fails the run), instead of BullMQ retrying forever in silence.
import { Redis } from 'ioredis';
import { redisLabel, redisOptions, redisTimeout } from './queue.js';

/**
 * A connection to Redis that calls `onLost` once when it has not been ready for `timeout` ms in a
 * row (never connected, or lost and not back). `firstReady` resolves at the first connection.
 */
export function watchedConnection(url: string, option: string, onLost: (message: string) => void, timeout = redisTimeout()): { redis: Redis; firstReady: Promise<void>; stop: () => void } {
  const redis = new Redis(redisOptions(url, option));
  let lastError = '';
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const arm = () => {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      if (stopped) return;
      stopped = true;
      onLost(`Redis at ${redisLabel(url)} unreachable for ${Math.round(timeout / 1000)} s${lastError ? ` (${lastError})` : ''}`);
    }, timeout);
    timer.unref();
  };
  let readyOnce: () => void = () => {};
  const firstReady = new Promise<void>((resolve) => (readyOnce = resolve));
  redis.on('ready', () => {
    if (timer) clearTimeout(timer);
    timer = null;
    readyOnce();
  });
  redis.on('error', (error: Error) => {
    lastError = error.message || (error as NodeJS.ErrnoException).code || String(error);
  });
  redis.on('close', arm);
  arm();
  return {
    redis,
    firstReady,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
