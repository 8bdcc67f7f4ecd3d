// pino JSON logs with bound fields; one logger per process, children per concern.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(name: string, level: string = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything, for unit tests and pure code paths. */
export const silentLogger: Logger = pino({ level: 'silent' });
