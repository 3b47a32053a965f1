import { type Logger, pino } from 'pino';

export type { Logger };

/** The process logger: JSON lines to stdout (pino). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'petrel' } });
}
