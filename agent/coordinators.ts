// Which coordinator an agent dials next, when several share one PostgreSQL (`--coordinator A,B,C`).
//
// - A standby names the leader (UNAVAILABLE with `zdd-leader`): that address is dialled at once,
//   twice in a row at most, so two standbys naming each other cannot keep the agent busy.
// - Otherwise the agent moves on to the address after the one whose session just ended, in the
//   list's order: after the leader a hint led to, not after the standby that gave the hint.
// - A coordinator that stopped answering (its heartbeats went silent, or it sent no welcome) is
//   passed over: in the list for 15 s, and in a standby's hint for one lease. Until a standby has
//   taken a frozen leader's lease, it names the frozen one as the leader; an agent that followed
//   that hint waited out a whole welcome timeout at the frozen process (twice, as the list then
//   led back to it too), and its host was taken out of the pool meanwhile. A standby that still
//   names the silent one after a lease has seen it renew: it lives (it was slow, or cut off from
//   this agent alone), and the hint is followed.
// - A coordinator may be named (by standbys, by its --advertise) otherwise than the list or a hint
//   spelled it when dialled: its welcome says how, and passing over covers both names.
// When every address is passed over, the list's order decides: there is nowhere else to go.
import { DEFAULT_LEASE_MS } from '../lib/backoff.js';

/** how long an address that stopped answering is passed over in the list (about a welcome's wait) */
export const UNRESPONSIVE_MS = 15_000;
/** beyond the lease: a standby asks for the lease every half second */
const TAKEOVER_SLACK_MS = 1000;

export class CoordinatorRotation {
  private index = 0;
  private hint: string | undefined;
  private hintsFollowed = 0;
  private leaseMs = DEFAULT_LEASE_MS;
  /** when each address (and each other name of it) stopped answering */
  private readonly silentSince = new Map<string, number>();
  /** the names a welcomed coordinator goes by: dialled address → the address it advertises, and back */
  private readonly aliases = new Map<string, string>();

  constructor(
    readonly addresses: string[],
    private readonly now: () => number = Date.now,
  ) {
    if (!addresses.length) throw new Error('no coordinator address');
  }

  /** The address to dial next. */
  current(): string {
    return this.hint ?? this.addresses[this.index];
  }

  /** A session to `address` was welcomed: it answers, goes by `advertise` too, and leads with `leaseMs`. */
  answered(address: string, o: { advertise?: string; leaseMs?: number } = {}) {
    this.silentSince.delete(address);
    this.hintsFollowed = 0;
    if (o.advertise && o.advertise !== address) {
      this.silentSince.delete(o.advertise);
      this.aliases.set(address, o.advertise);
      this.aliases.set(o.advertise, address);
    }
    if (o.leaseMs) this.leaseMs = o.leaseMs;
  }

  /**
   * The session to `dialled` ended. `hinted`: the leader a standby named; `unresponsive`: it stopped
   * answering (silent heartbeats, no welcome). Returns whether a hint is being followed (dialled at
   * once, without a backoff).
   */
  ended(dialled: string, o: { hinted?: string; unresponsive?: boolean } = {}): boolean {
    if (o.unresponsive) {
      const at = this.now();
      this.silentSince.set(dialled, at);
      const alias = this.aliases.get(dialled);
      if (alias) this.silentSince.set(alias, at);
    }
    if (o.hinted && o.hinted !== dialled && !this.passedOver(o.hinted, this.leaseMs + TAKEOVER_SLACK_MS) && this.hintsFollowed < 2) {
      this.hintsFollowed++;
      this.hint = o.hinted;
      return true;
    }
    this.hint = undefined;
    this.hintsFollowed = 0;
    const n = this.addresses.length;
    const listed = this.addresses.indexOf(dialled);
    const at = listed >= 0 ? listed : this.addresses.indexOf(this.aliases.get(dialled) ?? '');
    const from = at >= 0 ? at : this.index;
    // the next address that answers, in the list's order (the one just dialled last: a standby
    // about to lead is dialled again); when none does, the plain next one
    const next = [...Array(n).keys()].map((s) => (from + 1 + s) % n).find((i) => !this.passedOver(this.addresses[i], UNRESPONSIVE_MS));
    this.index = next ?? (from + 1) % n;
    return false;
  }

  private passedOver(address: string, forMs: number): boolean {
    const since = this.silentSince.get(address);
    return since !== undefined && this.now() - since < forMs;
  }
}
