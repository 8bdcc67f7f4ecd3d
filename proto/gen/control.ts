import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AbortRolloutRequest as _zdd_v1_AbortRolloutRequest, AbortRolloutRequest__Output as _zdd_v1_AbortRolloutRequest__Output } from './zdd/v1/AbortRolloutRequest';
import type { AgentInfo as _zdd_v1_AgentInfo, AgentInfo__Output as _zdd_v1_AgentInfo__Output } from './zdd/v1/AgentInfo';
import type { ApplyServiceRequest as _zdd_v1_ApplyServiceRequest, ApplyServiceRequest__Output as _zdd_v1_ApplyServiceRequest__Output } from './zdd/v1/ApplyServiceRequest';
import type { ControlClient as _zdd_v1_ControlClient, ControlDefinition as _zdd_v1_ControlDefinition } from './zdd/v1/Control';
import type { Event as _zdd_v1_Event, Event__Output as _zdd_v1_Event__Output } from './zdd/v1/Event';
import type { GetRolloutRequest as _zdd_v1_GetRolloutRequest, GetRolloutRequest__Output as _zdd_v1_GetRolloutRequest__Output } from './zdd/v1/GetRolloutRequest';
import type { GetServiceRequest as _zdd_v1_GetServiceRequest, GetServiceRequest__Output as _zdd_v1_GetServiceRequest__Output } from './zdd/v1/GetServiceRequest';
import type { ListAgentsRequest as _zdd_v1_ListAgentsRequest, ListAgentsRequest__Output as _zdd_v1_ListAgentsRequest__Output } from './zdd/v1/ListAgentsRequest';
import type { ListAgentsResponse as _zdd_v1_ListAgentsResponse, ListAgentsResponse__Output as _zdd_v1_ListAgentsResponse__Output } from './zdd/v1/ListAgentsResponse';
import type { ListRolloutsRequest as _zdd_v1_ListRolloutsRequest, ListRolloutsRequest__Output as _zdd_v1_ListRolloutsRequest__Output } from './zdd/v1/ListRolloutsRequest';
import type { ListRolloutsResponse as _zdd_v1_ListRolloutsResponse, ListRolloutsResponse__Output as _zdd_v1_ListRolloutsResponse__Output } from './zdd/v1/ListRolloutsResponse';
import type { PlanResponse as _zdd_v1_PlanResponse, PlanResponse__Output as _zdd_v1_PlanResponse__Output } from './zdd/v1/PlanResponse';
import type { RollbackRequest as _zdd_v1_RollbackRequest, RollbackRequest__Output as _zdd_v1_RollbackRequest__Output } from './zdd/v1/RollbackRequest';
import type { Rollout as _zdd_v1_Rollout, Rollout__Output as _zdd_v1_Rollout__Output } from './zdd/v1/Rollout';
import type { ServiceInfo as _zdd_v1_ServiceInfo, ServiceInfo__Output as _zdd_v1_ServiceInfo__Output } from './zdd/v1/ServiceInfo';
import type { StartRolloutRequest as _zdd_v1_StartRolloutRequest, StartRolloutRequest__Output as _zdd_v1_StartRolloutRequest__Output } from './zdd/v1/StartRolloutRequest';
import type { Step as _zdd_v1_Step, Step__Output as _zdd_v1_Step__Output } from './zdd/v1/Step';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  zdd: {
    v1: {
      AbortRolloutRequest: MessageTypeDefinition<_zdd_v1_AbortRolloutRequest, _zdd_v1_AbortRolloutRequest__Output>
      AgentInfo: MessageTypeDefinition<_zdd_v1_AgentInfo, _zdd_v1_AgentInfo__Output>
      ApplyServiceRequest: MessageTypeDefinition<_zdd_v1_ApplyServiceRequest, _zdd_v1_ApplyServiceRequest__Output>
      Control: SubtypeConstructor<typeof grpc.Client, _zdd_v1_ControlClient> & { service: _zdd_v1_ControlDefinition }
      Event: MessageTypeDefinition<_zdd_v1_Event, _zdd_v1_Event__Output>
      GetRolloutRequest: MessageTypeDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_GetRolloutRequest__Output>
      GetServiceRequest: MessageTypeDefinition<_zdd_v1_GetServiceRequest, _zdd_v1_GetServiceRequest__Output>
      ListAgentsRequest: MessageTypeDefinition<_zdd_v1_ListAgentsRequest, _zdd_v1_ListAgentsRequest__Output>
      ListAgentsResponse: MessageTypeDefinition<_zdd_v1_ListAgentsResponse, _zdd_v1_ListAgentsResponse__Output>
      ListRolloutsRequest: MessageTypeDefinition<_zdd_v1_ListRolloutsRequest, _zdd_v1_ListRolloutsRequest__Output>
      ListRolloutsResponse: MessageTypeDefinition<_zdd_v1_ListRolloutsResponse, _zdd_v1_ListRolloutsResponse__Output>
      PlanResponse: MessageTypeDefinition<_zdd_v1_PlanResponse, _zdd_v1_PlanResponse__Output>
      RollbackRequest: MessageTypeDefinition<_zdd_v1_RollbackRequest, _zdd_v1_RollbackRequest__Output>
      Rollout: MessageTypeDefinition<_zdd_v1_Rollout, _zdd_v1_Rollout__Output>
      ServiceInfo: MessageTypeDefinition<_zdd_v1_ServiceInfo, _zdd_v1_ServiceInfo__Output>
      StartRolloutRequest: MessageTypeDefinition<_zdd_v1_StartRolloutRequest, _zdd_v1_StartRolloutRequest__Output>
      Step: MessageTypeDefinition<_zdd_v1_Step, _zdd_v1_Step__Output>
    }
  }
}

