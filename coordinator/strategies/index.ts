// The strategies a rollout can use, in one table: the control API validates requests against it,
// the planner plans with it, and zddctl's help lists it. A new strategy is a file in this folder
// exporting a Strategy (kit.ts), one line here, and its tests.
import { ZddError } from '../../lib/errors.js';
import { OPTION_FLAGS, type Strategy, type StrategyOption, type StrategyRequest } from './kit.js';
import { rolling } from './rolling.js';
import { blueGreen } from './blue-green.js';
import { canary } from './canary.js';

const registry = new Map<string, Strategy>();

/** Adds a strategy to the table (the built-in ones are added here; a test may add its own). */
export function registerStrategy(s: Strategy): void {
  if (registry.has(s.name)) throw new ZddError('INVALID_ARGUMENT', `a strategy named "${s.name}" is already registered`);
  registry.set(s.name, s);
}

for (const s of [rolling, blueGreen, canary]) registerStrategy(s);

export const strategies = (): Strategy[] => [...registry.values()];

export function strategyNamed(name: string): Strategy {
  const s = registry.get(name);
  if (!s) throw new ZddError('INVALID_ARGUMENT', `unknown strategy "${name}": use ${namesText()}`);
  return s;
}

const namesText = () => {
  const names = [...registry.keys()];
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
};

/** Refuses options that another strategy owns, and extra options this one does not read. */
export function refuseForeignOptions(s: Strategy, r: StrategyRequest): void {
  const set = (Object.keys(OPTION_FLAGS) as StrategyOption[]).filter((k) => !!r[k] && !s.options.includes(k));
  if (set.length) {
    const owners = [...new Set(set.flatMap((k) => strategies().filter((x) => x.options.includes(k)).map((x) => x.name)))];
    throw new ZddError('INVALID_ARGUMENT', `${set.map((k) => OPTION_FLAGS[k]).join(' and ')}: these options belong to --strategy ${owners.join(' or ')}, not ${s.name}`);
  }
  const extra = Object.keys(r.options).filter((k) => !(s.extraOptions ?? []).includes(k));
  if (extra.length) {
    throw new ZddError('INVALID_ARGUMENT', `--strategy ${s.name} takes no option ${extra.map((k) => `"${k}"`).join(', ')}`, {
      hint: s.extraOptions?.length ? `it takes ${s.extraOptions.join(', ')}` : 'it takes no --option at all',
    });
  }
}

export type { Strategy, StrategyRequest } from './kit.js';
