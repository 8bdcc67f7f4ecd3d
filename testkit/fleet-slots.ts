// How many real fleets (coordinator, agents, nginx, apps) run at once on this machine, across every
// process of a test run. ava runs test files side by side in separate processes and the tests of a
// file all at once; started together, dozens of agents and nginx instances starve a 2-core machine
// and healthy fleets time out coming up. A fleet holds a slot from before its coordinator starts
// until its last process is gone, so the timeouts measure real hangs, not a crowded machine.
//
// A slot is a file created exclusively in a shared directory, naming its owner's pid; a slot whose
// owner is gone (a test process that was killed) is taken over.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processStartTicks } from '../lib/proc.js';

const DIR = path.join(os.tmpdir(), 'zdd-fleet-slots');

/** Fleets at once: ZDD_TEST_FLEETS, else one per core (at least one, at most four). */
export function fleetSlots(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.ZDD_TEST_FLEETS);
  if (Number.isInteger(n) && n >= 1) return n;
  return Math.min(4, Math.max(1, os.availableParallelism()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The owner's pid and start time: a reused pid is not mistaken for the owner. */
const ownerTag = () => `${process.pid}:${processStartTicks(process.pid) ?? 0}`;

function ownerAlive(file: string): boolean {
  try {
    const [pid, ticks] = fs.readFileSync(file, 'utf8').trim().split(':').map(Number);
    return !!pid && processStartTicks(pid) !== undefined && (!ticks || processStartTicks(pid) === ticks);
  } catch {
    return false; // an empty file: its owner died between create and write, or it was just released
  }
}

/**
 * Waits for a free slot and returns its release function. `weight` slots are taken together (a
 * run that starts several hosts' worth of processes); they are taken all or none, so two waiters
 * never hold half of what each needs.
 */
export async function acquireFleetSlot(what: string, weight = 1, slots = fleetSlots()): Promise<() => void> {
  fs.mkdirSync(DIR, { recursive: true });
  const want = Math.min(weight, slots);
  const lock = path.join(DIR, 'lock');
  const startedAt = Date.now();
  for (let attempt = 0; ; attempt++) {
    // a short exclusive section makes "find `want` free slots and take them" one step
    let got: string[] | undefined;
    if (tryCreate(lock) || (!ownerAlive(lock) && stale(lock) && takeOver(lock))) {
      try {
        const free = [...Array(slots).keys()].map((i) => path.join(DIR, `slot-${i}`)).filter((f) => !fs.existsSync(f) || !ownerAlive(f));
        if (free.length >= want) {
          got = free.slice(0, want);
          for (const f of got) fs.writeFileSync(f, ownerTag());
        }
      } finally {
        fs.rmSync(lock, { force: true });
      }
    }
    if (got) {
      const files = got;
      let released = false;
      if (Date.now() - startedAt > 1000 && process.env.ZDD_TEST_VERBOSE) process.stderr.write(`${what}: waited ${Date.now() - startedAt}ms for a fleet slot\n`);
      return () => {
        if (released) return;
        released = true;
        for (const f of files) fs.rmSync(f, { force: true });
      };
    }
    await sleep(Math.min(500, 50 + attempt * 10));
  }
}

function tryCreate(file: string): boolean {
  try {
    fs.writeFileSync(file, ownerTag(), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

/** A lock is held for a few milliseconds: one older than seconds whose owner is gone was left by a crash. */
function stale(file: string): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > 5000;
  } catch {
    return true;
  }
}

function takeOver(file: string): boolean {
  fs.rmSync(file, { force: true });
  return tryCreate(file);
}

