// `npm run bench -- security`: every probe of an attacker without credentials, or with the wrong
// ones (testkit/security-probes.ts), against a live TLS fleet with web v1 serving. Prints, last:
// {"scenario":"security","probes":P,"refused":R,"state_changes":S}: all refused, nothing changed.
import { LocalFleet } from '../testkit/local-fleet.js';
import { forgedResultProbe, runSecurityProbes } from '../testkit/security-probes.js';

export async function security(o: { log: (s: string) => void }) {
  // the probes revoke host-3: past the host grace its host would leave the traffic (the
  // revocation's consequence, not a probe's), so the grace outlasts the probes
  const fleet = await LocalFleet.start({ agents: 3, logLevel: 'warn', coordinatorArgs: ['--host-grace', '10m'] });
  try {
    fleet.writeRelease('v1');
    if ((await fleet.apply(fleet.spec())).code !== 0) throw new Error('apply failed');
    const first = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%']);
    if (first.code !== 0) throw new Error(`initial deploy failed: ${first.stderr}`);
    const results = [...(await runSecurityProbes(fleet, o.log)), await forgedResultProbe(fleet, o.log)];
    const worst = results.filter((r) => r.name !== 'a command result forged from another session').reduce((m, r) => Math.max(m, r.ms), 0);
    return {
      scenario: 'security',
      probes: results.length,
      refused: results.filter((r) => r.refused).length,
      state_changes: results.filter((r) => r.changed.length).length,
      slowest_refusal_ms: worst,
      not_refused: results.filter((r) => !r.refused || r.changed.length).map((r) => `${r.name}: ${r.status}`),
    };
  } finally {
    await fleet.stop();
  }
}
