// Whether traffic between a run's namespaces needs an iptables rule to pass. With br_netfilter
// loaded and net.bridge.bridge-nf-call-iptables = 1, frames crossing a Linux bridge go through the
// FORWARD chain; on a host whose FORWARD drops (Docker sets the policy to DROP) a run would only
// time out. The decision is pure; e2e/netns.ts reads the inputs and adds/removes the rule.

export type ForwardPlan =
  | { kind: 'none'; why: string }
  /** add `iptables -I FORWARD -i BRIDGE -o BRIDGE -j ACCEPT` for the run and delete it in teardown */
  | { kind: 'accept'; why: string };

/**
 * `bridgeNfCallIptables`: /proc/sys/net/bridge/bridge-nf-call-iptables (undefined when br_netfilter
 * is not loaded); `forwardChain`: the output of `iptables -S FORWARD` (undefined without iptables).
 */
export function planForward(bridgeNfCallIptables: string | undefined, forwardChain: string | undefined): ForwardPlan {
  if (bridgeNfCallIptables?.trim() !== '1') return { kind: 'none', why: 'bridged traffic bypasses iptables' };
  if (forwardChain === undefined) return { kind: 'none', why: 'no iptables to filter bridged traffic' };
  const lines = forwardChain.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 1 && lines[0] === '-P FORWARD ACCEPT') return { kind: 'none', why: 'FORWARD accepts everything' };
  // a rule may drop as well as the policy; an ACCEPT limited to the run's own bridge harms nothing
  const policy = lines.find((l) => l.startsWith('-P FORWARD '))?.slice('-P FORWARD '.length) ?? 'unknown';
  return { kind: 'accept', why: `bridged traffic goes through iptables FORWARD (policy ${policy}, ${lines.length - 1} rules)` };
}

/** The rule's arguments after `-I`, `-D` or `-C`. */
export const acceptRule = (bridge: string) => ['FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
