// Which coordinator an agent dials next, when several share one PostgreSQL (`--coordinator A,B,C`).
//
// - A standby names the leader (UNAVAILABLE with `zdd-leader`): that address is dialled at once,
//   twice in a row at most, so two standbys naming each other cannot keep the agent busy.
// - Otherwise the agent moves on to the address after the one whose session just ended, in the
//   list's order: after the leader a hint led to, not after the standby that gave the hint.
// - A coordinator that stopped answering (its heartbeats went silent, or it sent no welcome) is
//   passed over for a while, in the list and in hints. A frozen leader's lease runs out in seconds,
//   but until the standby has taken the lease it still names the frozen one as the leader; an agent
//   that followed that hint waited out a whole welcome timeout at the frozen process, twice, and its
//   host was taken out of the pool meanwhile.
// When every address is passed over, the list's order decides: there is nowhere else to go.

/**
 * How long an address that stopped answering is passed over: about as long as an agent waits for a
 * welcome, and longer than a standby takes to take over a frozen leader's lease (5 s by default). A
 * leader that was only slow is dialled again after it.
 */
export const UNRESPONSIVE_MS = 15_000;

export class CoordinatorRotation {
  private index = 0;
  private hint: string | undefined;
  private hintsFollowed = 0;
  private readonly silentSince = new Map<string, number>();

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

  /** A session to `address` was welcomed: it answers. */
  answered(address: string) {
    this.silentSince.delete(address);
  }

  /**
   * The session to `dialled` ended. `hinted`: the leader a standby named; `unresponsive`: it stopped
   * answering (silent heartbeats, no welcome). Returns whether a hint is being followed (dialled at
   * once, without a backoff).
   */
  ended(dialled: string, o: { hinted?: string; unresponsive?: boolean } = {}): boolean {
    if (o.unresponsive) this.silentSince.set(dialled, this.now());
    if (o.hinted && o.hinted !== dialled && !this.passedOver(o.hinted) && this.hintsFollowed < 2) {
      this.hintsFollowed++;
      this.hint = o.hinted;
      return true;
    }
    this.hint = undefined;
    this.hintsFollowed = 0;
    const n = this.addresses.length;
    const at = this.addresses.indexOf(dialled);
    const from = at >= 0 ? at : this.index;
    // the next address that answers, in the list's order (the one just dialled last: a standby
    // about to lead is dialled again); when none does, the plain next one
    const next = [...Array(n).keys()].map((s) => (from + 1 + s) % n).find((i) => !this.passedOver(this.addresses[i]));
    this.index = next ?? (from + 1) % n;
    return false;
  }

  private passedOver(address: string): boolean {
    const since = this.silentSince.get(address);
    if (since === undefined) return false;
    if (this.now() - since < UNRESPONSIVE_MS) return true;
    this.silentSince.delete(address);
    return false;
  }
}
