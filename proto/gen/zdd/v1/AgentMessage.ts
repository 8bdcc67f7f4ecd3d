// Original file: proto/zdd/v1/agent.proto

import type { Hello as _zdd_v1_Hello, Hello__Output as _zdd_v1_Hello__Output } from '../../zdd/v1/Hello';
import type { Heartbeat as _zdd_v1_Heartbeat, Heartbeat__Output as _zdd_v1_Heartbeat__Output } from '../../zdd/v1/Heartbeat';
import type { CommandAccepted as _zdd_v1_CommandAccepted, CommandAccepted__Output as _zdd_v1_CommandAccepted__Output } from '../../zdd/v1/CommandAccepted';
import type { CommandProgress as _zdd_v1_CommandProgress, CommandProgress__Output as _zdd_v1_CommandProgress__Output } from '../../zdd/v1/CommandProgress';
import type { CommandResult as _zdd_v1_CommandResult, CommandResult__Output as _zdd_v1_CommandResult__Output } from '../../zdd/v1/CommandResult';
import type { RenewRequest as _zdd_v1_RenewRequest, RenewRequest__Output as _zdd_v1_RenewRequest__Output } from '../../zdd/v1/RenewRequest';
import type { Notice as _zdd_v1_Notice, Notice__Output as _zdd_v1_Notice__Output } from '../../zdd/v1/Notice';

export interface AgentMessage {
  'hello'?: (_zdd_v1_Hello | null);
  'heartbeat'?: (_zdd_v1_Heartbeat | null);
  'accepted'?: (_zdd_v1_CommandAccepted | null);
  'progress'?: (_zdd_v1_CommandProgress | null);
  'result'?: (_zdd_v1_CommandResult | null);
  'renew'?: (_zdd_v1_RenewRequest | null);
  'notice'?: (_zdd_v1_Notice | null);
  'body'?: "hello"|"heartbeat"|"accepted"|"progress"|"result"|"renew"|"notice";
}

export interface AgentMessage__Output {
  'hello'?: (_zdd_v1_Hello__Output | null);
  'heartbeat'?: (_zdd_v1_Heartbeat__Output | null);
  'accepted'?: (_zdd_v1_CommandAccepted__Output | null);
  'progress'?: (_zdd_v1_CommandProgress__Output | null);
  'result'?: (_zdd_v1_CommandResult__Output | null);
  'renew'?: (_zdd_v1_RenewRequest__Output | null);
  'notice'?: (_zdd_v1_Notice__Output | null);
  'body'?: "hello"|"heartbeat"|"accepted"|"progress"|"result"|"renew"|"notice";
}
