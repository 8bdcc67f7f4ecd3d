import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentGatewayClient as _zdd_v1_AgentGatewayClient, AgentGatewayDefinition as _zdd_v1_AgentGatewayDefinition } from './zdd/v1/AgentGateway';
import type { AgentMessage as _zdd_v1_AgentMessage, AgentMessage__Output as _zdd_v1_AgentMessage__Output } from './zdd/v1/AgentMessage';
import type { Certificate as _zdd_v1_Certificate, Certificate__Output as _zdd_v1_Certificate__Output } from './zdd/v1/Certificate';
import type { Command as _zdd_v1_Command, Command__Output as _zdd_v1_Command__Output } from './zdd/v1/Command';
import type { CommandAccepted as _zdd_v1_CommandAccepted, CommandAccepted__Output as _zdd_v1_CommandAccepted__Output } from './zdd/v1/CommandAccepted';
import type { CommandProgress as _zdd_v1_CommandProgress, CommandProgress__Output as _zdd_v1_CommandProgress__Output } from './zdd/v1/CommandProgress';
import type { CommandResult as _zdd_v1_CommandResult, CommandResult__Output as _zdd_v1_CommandResult__Output } from './zdd/v1/CommandResult';
import type { CoordinatorMessage as _zdd_v1_CoordinatorMessage, CoordinatorMessage__Output as _zdd_v1_CoordinatorMessage__Output } from './zdd/v1/CoordinatorMessage';
import type { EdgeInfo as _zdd_v1_EdgeInfo, EdgeInfo__Output as _zdd_v1_EdgeInfo__Output } from './zdd/v1/EdgeInfo';
import type { EnrollRequest as _zdd_v1_EnrollRequest, EnrollRequest__Output as _zdd_v1_EnrollRequest__Output } from './zdd/v1/EnrollRequest';
import type { EnrollResponse as _zdd_v1_EnrollResponse, EnrollResponse__Output as _zdd_v1_EnrollResponse__Output } from './zdd/v1/EnrollResponse';
import type { EnrollmentClient as _zdd_v1_EnrollmentClient, EnrollmentDefinition as _zdd_v1_EnrollmentDefinition } from './zdd/v1/Enrollment';
import type { Heartbeat as _zdd_v1_Heartbeat, Heartbeat__Output as _zdd_v1_Heartbeat__Output } from './zdd/v1/Heartbeat';
import type { HeartbeatAck as _zdd_v1_HeartbeatAck, HeartbeatAck__Output as _zdd_v1_HeartbeatAck__Output } from './zdd/v1/HeartbeatAck';
import type { Hello as _zdd_v1_Hello, Hello__Output as _zdd_v1_Hello__Output } from './zdd/v1/Hello';
import type { HostFacts as _zdd_v1_HostFacts, HostFacts__Output as _zdd_v1_HostFacts__Output } from './zdd/v1/HostFacts';
import type { Instance as _zdd_v1_Instance, Instance__Output as _zdd_v1_Instance__Output } from './zdd/v1/Instance';
import type { Notice as _zdd_v1_Notice, Notice__Output as _zdd_v1_Notice__Output } from './zdd/v1/Notice';
import type { RenewRequest as _zdd_v1_RenewRequest, RenewRequest__Output as _zdd_v1_RenewRequest__Output } from './zdd/v1/RenewRequest';
import type { Welcome as _zdd_v1_Welcome, Welcome__Output as _zdd_v1_Welcome__Output } from './zdd/v1/Welcome';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  zdd: {
    v1: {
      AgentGateway: SubtypeConstructor<typeof grpc.Client, _zdd_v1_AgentGatewayClient> & { service: _zdd_v1_AgentGatewayDefinition }
      AgentMessage: MessageTypeDefinition<_zdd_v1_AgentMessage, _zdd_v1_AgentMessage__Output>
      Certificate: MessageTypeDefinition<_zdd_v1_Certificate, _zdd_v1_Certificate__Output>
      Command: MessageTypeDefinition<_zdd_v1_Command, _zdd_v1_Command__Output>
      CommandAccepted: MessageTypeDefinition<_zdd_v1_CommandAccepted, _zdd_v1_CommandAccepted__Output>
      CommandProgress: MessageTypeDefinition<_zdd_v1_CommandProgress, _zdd_v1_CommandProgress__Output>
      CommandResult: MessageTypeDefinition<_zdd_v1_CommandResult, _zdd_v1_CommandResult__Output>
      CoordinatorMessage: MessageTypeDefinition<_zdd_v1_CoordinatorMessage, _zdd_v1_CoordinatorMessage__Output>
      EdgeInfo: MessageTypeDefinition<_zdd_v1_EdgeInfo, _zdd_v1_EdgeInfo__Output>
      EnrollRequest: MessageTypeDefinition<_zdd_v1_EnrollRequest, _zdd_v1_EnrollRequest__Output>
      EnrollResponse: MessageTypeDefinition<_zdd_v1_EnrollResponse, _zdd_v1_EnrollResponse__Output>
      Enrollment: SubtypeConstructor<typeof grpc.Client, _zdd_v1_EnrollmentClient> & { service: _zdd_v1_EnrollmentDefinition }
      Heartbeat: MessageTypeDefinition<_zdd_v1_Heartbeat, _zdd_v1_Heartbeat__Output>
      HeartbeatAck: MessageTypeDefinition<_zdd_v1_HeartbeatAck, _zdd_v1_HeartbeatAck__Output>
      Hello: MessageTypeDefinition<_zdd_v1_Hello, _zdd_v1_Hello__Output>
      HostFacts: MessageTypeDefinition<_zdd_v1_HostFacts, _zdd_v1_HostFacts__Output>
      Instance: MessageTypeDefinition<_zdd_v1_Instance, _zdd_v1_Instance__Output>
      Notice: MessageTypeDefinition<_zdd_v1_Notice, _zdd_v1_Notice__Output>
      RenewRequest: MessageTypeDefinition<_zdd_v1_RenewRequest, _zdd_v1_RenewRequest__Output>
      Welcome: MessageTypeDefinition<_zdd_v1_Welcome, _zdd_v1_Welcome__Output>
    }
  }
}

