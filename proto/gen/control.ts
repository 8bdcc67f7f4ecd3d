import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AbortRolloutRequest as _zdd_v1_AbortRolloutRequest, AbortRolloutRequest__Output as _zdd_v1_AbortRolloutRequest__Output } from './zdd/v1/AbortRolloutRequest';
import type { AgentInfo as _zdd_v1_AgentInfo, AgentInfo__Output as _zdd_v1_AgentInfo__Output } from './zdd/v1/AgentInfo';
import type { ApplyServiceRequest as _zdd_v1_ApplyServiceRequest, ApplyServiceRequest__Output as _zdd_v1_ApplyServiceRequest__Output } from './zdd/v1/ApplyServiceRequest';
import type { AuditEntry as _zdd_v1_AuditEntry, AuditEntry__Output as _zdd_v1_AuditEntry__Output } from './zdd/v1/AuditEntry';
import type { CertificateInfo as _zdd_v1_CertificateInfo, CertificateInfo__Output as _zdd_v1_CertificateInfo__Output } from './zdd/v1/CertificateInfo';
import type { ControlClient as _zdd_v1_ControlClient, ControlDefinition as _zdd_v1_ControlDefinition } from './zdd/v1/Control';
import type { CreateJoinTokenRequest as _zdd_v1_CreateJoinTokenRequest, CreateJoinTokenRequest__Output as _zdd_v1_CreateJoinTokenRequest__Output } from './zdd/v1/CreateJoinTokenRequest';
import type { Event as _zdd_v1_Event, Event__Output as _zdd_v1_Event__Output } from './zdd/v1/Event';
import type { GetRolloutRequest as _zdd_v1_GetRolloutRequest, GetRolloutRequest__Output as _zdd_v1_GetRolloutRequest__Output } from './zdd/v1/GetRolloutRequest';
import type { GetServiceRequest as _zdd_v1_GetServiceRequest, GetServiceRequest__Output as _zdd_v1_GetServiceRequest__Output } from './zdd/v1/GetServiceRequest';
import type { HostRequest as _zdd_v1_HostRequest, HostRequest__Output as _zdd_v1_HostRequest__Output } from './zdd/v1/HostRequest';
import type { JoinToken as _zdd_v1_JoinToken, JoinToken__Output as _zdd_v1_JoinToken__Output } from './zdd/v1/JoinToken';
import type { ListAgentsRequest as _zdd_v1_ListAgentsRequest, ListAgentsRequest__Output as _zdd_v1_ListAgentsRequest__Output } from './zdd/v1/ListAgentsRequest';
import type { ListAgentsResponse as _zdd_v1_ListAgentsResponse, ListAgentsResponse__Output as _zdd_v1_ListAgentsResponse__Output } from './zdd/v1/ListAgentsResponse';
import type { ListAuditRequest as _zdd_v1_ListAuditRequest, ListAuditRequest__Output as _zdd_v1_ListAuditRequest__Output } from './zdd/v1/ListAuditRequest';
import type { ListAuditResponse as _zdd_v1_ListAuditResponse, ListAuditResponse__Output as _zdd_v1_ListAuditResponse__Output } from './zdd/v1/ListAuditResponse';
import type { ListCertificatesRequest as _zdd_v1_ListCertificatesRequest, ListCertificatesRequest__Output as _zdd_v1_ListCertificatesRequest__Output } from './zdd/v1/ListCertificatesRequest';
import type { ListCertificatesResponse as _zdd_v1_ListCertificatesResponse, ListCertificatesResponse__Output as _zdd_v1_ListCertificatesResponse__Output } from './zdd/v1/ListCertificatesResponse';
import type { ListEventsRequest as _zdd_v1_ListEventsRequest, ListEventsRequest__Output as _zdd_v1_ListEventsRequest__Output } from './zdd/v1/ListEventsRequest';
import type { ListEventsResponse as _zdd_v1_ListEventsResponse, ListEventsResponse__Output as _zdd_v1_ListEventsResponse__Output } from './zdd/v1/ListEventsResponse';
import type { ListRolloutsRequest as _zdd_v1_ListRolloutsRequest, ListRolloutsRequest__Output as _zdd_v1_ListRolloutsRequest__Output } from './zdd/v1/ListRolloutsRequest';
import type { ListRolloutsResponse as _zdd_v1_ListRolloutsResponse, ListRolloutsResponse__Output as _zdd_v1_ListRolloutsResponse__Output } from './zdd/v1/ListRolloutsResponse';
import type { PlanResponse as _zdd_v1_PlanResponse, PlanResponse__Output as _zdd_v1_PlanResponse__Output } from './zdd/v1/PlanResponse';
import type { RemoveAgentResponse as _zdd_v1_RemoveAgentResponse, RemoveAgentResponse__Output as _zdd_v1_RemoveAgentResponse__Output } from './zdd/v1/RemoveAgentResponse';
import type { RevokeRequest as _zdd_v1_RevokeRequest, RevokeRequest__Output as _zdd_v1_RevokeRequest__Output } from './zdd/v1/RevokeRequest';
import type { RevokeResponse as _zdd_v1_RevokeResponse, RevokeResponse__Output as _zdd_v1_RevokeResponse__Output } from './zdd/v1/RevokeResponse';
import type { RollbackRequest as _zdd_v1_RollbackRequest, RollbackRequest__Output as _zdd_v1_RollbackRequest__Output } from './zdd/v1/RollbackRequest';
import type { Rollout as _zdd_v1_Rollout, Rollout__Output as _zdd_v1_Rollout__Output } from './zdd/v1/Rollout';
import type { RolloutSummary as _zdd_v1_RolloutSummary, RolloutSummary__Output as _zdd_v1_RolloutSummary__Output } from './zdd/v1/RolloutSummary';
import type { ServiceInfo as _zdd_v1_ServiceInfo, ServiceInfo__Output as _zdd_v1_ServiceInfo__Output } from './zdd/v1/ServiceInfo';
import type { StartRolloutRequest as _zdd_v1_StartRolloutRequest, StartRolloutRequest__Output as _zdd_v1_StartRolloutRequest__Output } from './zdd/v1/StartRolloutRequest';
import type { Step as _zdd_v1_Step, Step__Output as _zdd_v1_Step__Output } from './zdd/v1/Step';
import type { WhoAmIRequest as _zdd_v1_WhoAmIRequest, WhoAmIRequest__Output as _zdd_v1_WhoAmIRequest__Output } from './zdd/v1/WhoAmIRequest';
import type { WhoAmIResponse as _zdd_v1_WhoAmIResponse, WhoAmIResponse__Output as _zdd_v1_WhoAmIResponse__Output } from './zdd/v1/WhoAmIResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  zdd: {
    v1: {
      AbortRolloutRequest: MessageTypeDefinition<_zdd_v1_AbortRolloutRequest, _zdd_v1_AbortRolloutRequest__Output>
      AgentInfo: MessageTypeDefinition<_zdd_v1_AgentInfo, _zdd_v1_AgentInfo__Output>
      ApplyServiceRequest: MessageTypeDefinition<_zdd_v1_ApplyServiceRequest, _zdd_v1_ApplyServiceRequest__Output>
      AuditEntry: MessageTypeDefinition<_zdd_v1_AuditEntry, _zdd_v1_AuditEntry__Output>
      CertificateInfo: MessageTypeDefinition<_zdd_v1_CertificateInfo, _zdd_v1_CertificateInfo__Output>
      Control: SubtypeConstructor<typeof grpc.Client, _zdd_v1_ControlClient> & { service: _zdd_v1_ControlDefinition }
      CreateJoinTokenRequest: MessageTypeDefinition<_zdd_v1_CreateJoinTokenRequest, _zdd_v1_CreateJoinTokenRequest__Output>
      Event: MessageTypeDefinition<_zdd_v1_Event, _zdd_v1_Event__Output>
      GetRolloutRequest: MessageTypeDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_GetRolloutRequest__Output>
      GetServiceRequest: MessageTypeDefinition<_zdd_v1_GetServiceRequest, _zdd_v1_GetServiceRequest__Output>
      HostRequest: MessageTypeDefinition<_zdd_v1_HostRequest, _zdd_v1_HostRequest__Output>
      JoinToken: MessageTypeDefinition<_zdd_v1_JoinToken, _zdd_v1_JoinToken__Output>
      ListAgentsRequest: MessageTypeDefinition<_zdd_v1_ListAgentsRequest, _zdd_v1_ListAgentsRequest__Output>
      ListAgentsResponse: MessageTypeDefinition<_zdd_v1_ListAgentsResponse, _zdd_v1_ListAgentsResponse__Output>
      ListAuditRequest: MessageTypeDefinition<_zdd_v1_ListAuditRequest, _zdd_v1_ListAuditRequest__Output>
      ListAuditResponse: MessageTypeDefinition<_zdd_v1_ListAuditResponse, _zdd_v1_ListAuditResponse__Output>
      ListCertificatesRequest: MessageTypeDefinition<_zdd_v1_ListCertificatesRequest, _zdd_v1_ListCertificatesRequest__Output>
      ListCertificatesResponse: MessageTypeDefinition<_zdd_v1_ListCertificatesResponse, _zdd_v1_ListCertificatesResponse__Output>
      ListEventsRequest: MessageTypeDefinition<_zdd_v1_ListEventsRequest, _zdd_v1_ListEventsRequest__Output>
      ListEventsResponse: MessageTypeDefinition<_zdd_v1_ListEventsResponse, _zdd_v1_ListEventsResponse__Output>
      ListRolloutsRequest: MessageTypeDefinition<_zdd_v1_ListRolloutsRequest, _zdd_v1_ListRolloutsRequest__Output>
      ListRolloutsResponse: MessageTypeDefinition<_zdd_v1_ListRolloutsResponse, _zdd_v1_ListRolloutsResponse__Output>
      PlanResponse: MessageTypeDefinition<_zdd_v1_PlanResponse, _zdd_v1_PlanResponse__Output>
      RemoveAgentResponse: MessageTypeDefinition<_zdd_v1_RemoveAgentResponse, _zdd_v1_RemoveAgentResponse__Output>
      RevokeRequest: MessageTypeDefinition<_zdd_v1_RevokeRequest, _zdd_v1_RevokeRequest__Output>
      RevokeResponse: MessageTypeDefinition<_zdd_v1_RevokeResponse, _zdd_v1_RevokeResponse__Output>
      RollbackRequest: MessageTypeDefinition<_zdd_v1_RollbackRequest, _zdd_v1_RollbackRequest__Output>
      Rollout: MessageTypeDefinition<_zdd_v1_Rollout, _zdd_v1_Rollout__Output>
      RolloutSummary: MessageTypeDefinition<_zdd_v1_RolloutSummary, _zdd_v1_RolloutSummary__Output>
      ServiceInfo: MessageTypeDefinition<_zdd_v1_ServiceInfo, _zdd_v1_ServiceInfo__Output>
      StartRolloutRequest: MessageTypeDefinition<_zdd_v1_StartRolloutRequest, _zdd_v1_StartRolloutRequest__Output>
      Step: MessageTypeDefinition<_zdd_v1_Step, _zdd_v1_Step__Output>
      WhoAmIRequest: MessageTypeDefinition<_zdd_v1_WhoAmIRequest, _zdd_v1_WhoAmIRequest__Output>
      WhoAmIResponse: MessageTypeDefinition<_zdd_v1_WhoAmIResponse, _zdd_v1_WhoAmIResponse__Output>
    }
  }
}

