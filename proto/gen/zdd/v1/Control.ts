// Original file: proto/zdd/v1/control.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AbortRolloutRequest as _zdd_v1_AbortRolloutRequest, AbortRolloutRequest__Output as _zdd_v1_AbortRolloutRequest__Output } from '../../zdd/v1/AbortRolloutRequest';
import type { AgentInfo as _zdd_v1_AgentInfo, AgentInfo__Output as _zdd_v1_AgentInfo__Output } from '../../zdd/v1/AgentInfo';
import type { ApplyServiceRequest as _zdd_v1_ApplyServiceRequest, ApplyServiceRequest__Output as _zdd_v1_ApplyServiceRequest__Output } from '../../zdd/v1/ApplyServiceRequest';
import type { CreateJoinTokenRequest as _zdd_v1_CreateJoinTokenRequest, CreateJoinTokenRequest__Output as _zdd_v1_CreateJoinTokenRequest__Output } from '../../zdd/v1/CreateJoinTokenRequest';
import type { GetRolloutRequest as _zdd_v1_GetRolloutRequest, GetRolloutRequest__Output as _zdd_v1_GetRolloutRequest__Output } from '../../zdd/v1/GetRolloutRequest';
import type { GetServiceRequest as _zdd_v1_GetServiceRequest, GetServiceRequest__Output as _zdd_v1_GetServiceRequest__Output } from '../../zdd/v1/GetServiceRequest';
import type { HostRequest as _zdd_v1_HostRequest, HostRequest__Output as _zdd_v1_HostRequest__Output } from '../../zdd/v1/HostRequest';
import type { JoinToken as _zdd_v1_JoinToken, JoinToken__Output as _zdd_v1_JoinToken__Output } from '../../zdd/v1/JoinToken';
import type { ListAgentsRequest as _zdd_v1_ListAgentsRequest, ListAgentsRequest__Output as _zdd_v1_ListAgentsRequest__Output } from '../../zdd/v1/ListAgentsRequest';
import type { ListAgentsResponse as _zdd_v1_ListAgentsResponse, ListAgentsResponse__Output as _zdd_v1_ListAgentsResponse__Output } from '../../zdd/v1/ListAgentsResponse';
import type { ListAuditRequest as _zdd_v1_ListAuditRequest, ListAuditRequest__Output as _zdd_v1_ListAuditRequest__Output } from '../../zdd/v1/ListAuditRequest';
import type { ListAuditResponse as _zdd_v1_ListAuditResponse, ListAuditResponse__Output as _zdd_v1_ListAuditResponse__Output } from '../../zdd/v1/ListAuditResponse';
import type { ListCertificatesRequest as _zdd_v1_ListCertificatesRequest, ListCertificatesRequest__Output as _zdd_v1_ListCertificatesRequest__Output } from '../../zdd/v1/ListCertificatesRequest';
import type { ListCertificatesResponse as _zdd_v1_ListCertificatesResponse, ListCertificatesResponse__Output as _zdd_v1_ListCertificatesResponse__Output } from '../../zdd/v1/ListCertificatesResponse';
import type { ListEventsRequest as _zdd_v1_ListEventsRequest, ListEventsRequest__Output as _zdd_v1_ListEventsRequest__Output } from '../../zdd/v1/ListEventsRequest';
import type { ListEventsResponse as _zdd_v1_ListEventsResponse, ListEventsResponse__Output as _zdd_v1_ListEventsResponse__Output } from '../../zdd/v1/ListEventsResponse';
import type { ListRolloutsRequest as _zdd_v1_ListRolloutsRequest, ListRolloutsRequest__Output as _zdd_v1_ListRolloutsRequest__Output } from '../../zdd/v1/ListRolloutsRequest';
import type { ListRolloutsResponse as _zdd_v1_ListRolloutsResponse, ListRolloutsResponse__Output as _zdd_v1_ListRolloutsResponse__Output } from '../../zdd/v1/ListRolloutsResponse';
import type { PlanResponse as _zdd_v1_PlanResponse, PlanResponse__Output as _zdd_v1_PlanResponse__Output } from '../../zdd/v1/PlanResponse';
import type { RemoveAgentResponse as _zdd_v1_RemoveAgentResponse, RemoveAgentResponse__Output as _zdd_v1_RemoveAgentResponse__Output } from '../../zdd/v1/RemoveAgentResponse';
import type { RevokeRequest as _zdd_v1_RevokeRequest, RevokeRequest__Output as _zdd_v1_RevokeRequest__Output } from '../../zdd/v1/RevokeRequest';
import type { RevokeResponse as _zdd_v1_RevokeResponse, RevokeResponse__Output as _zdd_v1_RevokeResponse__Output } from '../../zdd/v1/RevokeResponse';
import type { RollbackRequest as _zdd_v1_RollbackRequest, RollbackRequest__Output as _zdd_v1_RollbackRequest__Output } from '../../zdd/v1/RollbackRequest';
import type { Rollout as _zdd_v1_Rollout, Rollout__Output as _zdd_v1_Rollout__Output } from '../../zdd/v1/Rollout';
import type { ServiceInfo as _zdd_v1_ServiceInfo, ServiceInfo__Output as _zdd_v1_ServiceInfo__Output } from '../../zdd/v1/ServiceInfo';
import type { StartRolloutRequest as _zdd_v1_StartRolloutRequest, StartRolloutRequest__Output as _zdd_v1_StartRolloutRequest__Output } from '../../zdd/v1/StartRolloutRequest';
import type { WhoAmIRequest as _zdd_v1_WhoAmIRequest, WhoAmIRequest__Output as _zdd_v1_WhoAmIRequest__Output } from '../../zdd/v1/WhoAmIRequest';
import type { WhoAmIResponse as _zdd_v1_WhoAmIResponse, WhoAmIResponse__Output as _zdd_v1_WhoAmIResponse__Output } from '../../zdd/v1/WhoAmIResponse';

export interface ControlClient extends grpc.Client {
  AbortRollout(argument: _zdd_v1_AbortRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  AbortRollout(argument: _zdd_v1_AbortRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  AbortRollout(argument: _zdd_v1_AbortRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  AbortRollout(argument: _zdd_v1_AbortRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  abortRollout(argument: _zdd_v1_AbortRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  abortRollout(argument: _zdd_v1_AbortRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  abortRollout(argument: _zdd_v1_AbortRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  abortRollout(argument: _zdd_v1_AbortRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  ApplyService(argument: _zdd_v1_ApplyServiceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  ApplyService(argument: _zdd_v1_ApplyServiceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  ApplyService(argument: _zdd_v1_ApplyServiceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  ApplyService(argument: _zdd_v1_ApplyServiceRequest, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  applyService(argument: _zdd_v1_ApplyServiceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  applyService(argument: _zdd_v1_ApplyServiceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  applyService(argument: _zdd_v1_ApplyServiceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  applyService(argument: _zdd_v1_ApplyServiceRequest, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  
  Cordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Cordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Cordon(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Cordon(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  cordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  cordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  cordon(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  cordon(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  
  CreateJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _zdd_v1_CreateJoinTokenRequest, callback: grpc.requestCallback<_zdd_v1_JoinToken__Output>): grpc.ClientUnaryCall;
  
  Drain(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Drain(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  drain(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  
  GetRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  GetRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  getRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  GetService(argument: _zdd_v1_GetServiceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  GetService(argument: _zdd_v1_GetServiceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  GetService(argument: _zdd_v1_GetServiceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  GetService(argument: _zdd_v1_GetServiceRequest, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  getService(argument: _zdd_v1_GetServiceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  getService(argument: _zdd_v1_GetServiceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  getService(argument: _zdd_v1_GetServiceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  getService(argument: _zdd_v1_GetServiceRequest, callback: grpc.requestCallback<_zdd_v1_ServiceInfo__Output>): grpc.ClientUnaryCall;
  
  ListAgents(argument: _zdd_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _zdd_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _zdd_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _zdd_v1_ListAgentsRequest, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _zdd_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _zdd_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _zdd_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _zdd_v1_ListAgentsRequest, callback: grpc.requestCallback<_zdd_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  
  ListAudit(argument: _zdd_v1_ListAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  ListAudit(argument: _zdd_v1_ListAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  ListAudit(argument: _zdd_v1_ListAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  ListAudit(argument: _zdd_v1_ListAuditRequest, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  listAudit(argument: _zdd_v1_ListAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  listAudit(argument: _zdd_v1_ListAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  listAudit(argument: _zdd_v1_ListAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  listAudit(argument: _zdd_v1_ListAuditRequest, callback: grpc.requestCallback<_zdd_v1_ListAuditResponse__Output>): grpc.ClientUnaryCall;
  
  ListCertificates(argument: _zdd_v1_ListCertificatesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  ListCertificates(argument: _zdd_v1_ListCertificatesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  ListCertificates(argument: _zdd_v1_ListCertificatesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  ListCertificates(argument: _zdd_v1_ListCertificatesRequest, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  listCertificates(argument: _zdd_v1_ListCertificatesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  listCertificates(argument: _zdd_v1_ListCertificatesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  listCertificates(argument: _zdd_v1_ListCertificatesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  listCertificates(argument: _zdd_v1_ListCertificatesRequest, callback: grpc.requestCallback<_zdd_v1_ListCertificatesResponse__Output>): grpc.ClientUnaryCall;
  
  ListEvents(argument: _zdd_v1_ListEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _zdd_v1_ListEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _zdd_v1_ListEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  ListEvents(argument: _zdd_v1_ListEventsRequest, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _zdd_v1_ListEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _zdd_v1_ListEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _zdd_v1_ListEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  listEvents(argument: _zdd_v1_ListEventsRequest, callback: grpc.requestCallback<_zdd_v1_ListEventsResponse__Output>): grpc.ClientUnaryCall;
  
  ListRollouts(argument: _zdd_v1_ListRolloutsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _zdd_v1_ListRolloutsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _zdd_v1_ListRolloutsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  ListRollouts(argument: _zdd_v1_ListRolloutsRequest, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _zdd_v1_ListRolloutsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _zdd_v1_ListRolloutsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _zdd_v1_ListRolloutsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  listRollouts(argument: _zdd_v1_ListRolloutsRequest, callback: grpc.requestCallback<_zdd_v1_ListRolloutsResponse__Output>): grpc.ClientUnaryCall;
  
  PauseRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PauseRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PauseRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PauseRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  pauseRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  pauseRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  pauseRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  pauseRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  Plan(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  Plan(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  Plan(argument: _zdd_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  Plan(argument: _zdd_v1_StartRolloutRequest, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  plan(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  plan(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  plan(argument: _zdd_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  plan(argument: _zdd_v1_StartRolloutRequest, callback: grpc.requestCallback<_zdd_v1_PlanResponse__Output>): grpc.ClientUnaryCall;
  
  PromoteRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PromoteRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PromoteRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  PromoteRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  promoteRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  promoteRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  promoteRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  promoteRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  RemoveAgent(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  RemoveAgent(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  RemoveAgent(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  RemoveAgent(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  removeAgent(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  removeAgent(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  removeAgent(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  removeAgent(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_RemoveAgentResponse__Output>): grpc.ClientUnaryCall;
  
  ResumeRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  ResumeRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  ResumeRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  ResumeRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  resumeRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  resumeRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  resumeRollout(argument: _zdd_v1_GetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  resumeRollout(argument: _zdd_v1_GetRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  RevokeAgent(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeAgent(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeAgent(argument: _zdd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeAgent(argument: _zdd_v1_RevokeRequest, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeAgent(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeAgent(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeAgent(argument: _zdd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeAgent(argument: _zdd_v1_RevokeRequest, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeOperator(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeOperator(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeOperator(argument: _zdd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeOperator(argument: _zdd_v1_RevokeRequest, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeOperator(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeOperator(argument: _zdd_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeOperator(argument: _zdd_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeOperator(argument: _zdd_v1_RevokeRequest, callback: grpc.requestCallback<_zdd_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  Rollback(argument: _zdd_v1_RollbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _zdd_v1_RollbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _zdd_v1_RollbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  Rollback(argument: _zdd_v1_RollbackRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  rollback(argument: _zdd_v1_RollbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  rollback(argument: _zdd_v1_RollbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  rollback(argument: _zdd_v1_RollbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  rollback(argument: _zdd_v1_RollbackRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  StartRollout(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _zdd_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  StartRollout(argument: _zdd_v1_StartRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _zdd_v1_StartRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _zdd_v1_StartRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  startRollout(argument: _zdd_v1_StartRolloutRequest, callback: grpc.requestCallback<_zdd_v1_Rollout__Output>): grpc.ClientUnaryCall;
  
  Uncordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Uncordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Uncordon(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  Uncordon(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  uncordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  uncordon(argument: _zdd_v1_HostRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  uncordon(argument: _zdd_v1_HostRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  uncordon(argument: _zdd_v1_HostRequest, callback: grpc.requestCallback<_zdd_v1_AgentInfo__Output>): grpc.ClientUnaryCall;
  
  WatchRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_zdd_v1_Rollout__Output>;
  WatchRollout(argument: _zdd_v1_GetRolloutRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_zdd_v1_Rollout__Output>;
  watchRollout(argument: _zdd_v1_GetRolloutRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_zdd_v1_Rollout__Output>;
  watchRollout(argument: _zdd_v1_GetRolloutRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_zdd_v1_Rollout__Output>;
  
  WhoAmI(argument: _zdd_v1_WhoAmIRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _zdd_v1_WhoAmIRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _zdd_v1_WhoAmIRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  WhoAmI(argument: _zdd_v1_WhoAmIRequest, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _zdd_v1_WhoAmIRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _zdd_v1_WhoAmIRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _zdd_v1_WhoAmIRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  whoAmI(argument: _zdd_v1_WhoAmIRequest, callback: grpc.requestCallback<_zdd_v1_WhoAmIResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface ControlHandlers extends grpc.UntypedServiceImplementation {
  AbortRollout: grpc.handleUnaryCall<_zdd_v1_AbortRolloutRequest__Output, _zdd_v1_Rollout>;
  
  ApplyService: grpc.handleUnaryCall<_zdd_v1_ApplyServiceRequest__Output, _zdd_v1_ServiceInfo>;
  
  Cordon: grpc.handleUnaryCall<_zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo>;
  
  CreateJoinToken: grpc.handleUnaryCall<_zdd_v1_CreateJoinTokenRequest__Output, _zdd_v1_JoinToken>;
  
  Drain: grpc.handleUnaryCall<_zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo>;
  
  GetRollout: grpc.handleUnaryCall<_zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout>;
  
  GetService: grpc.handleUnaryCall<_zdd_v1_GetServiceRequest__Output, _zdd_v1_ServiceInfo>;
  
  ListAgents: grpc.handleUnaryCall<_zdd_v1_ListAgentsRequest__Output, _zdd_v1_ListAgentsResponse>;
  
  ListAudit: grpc.handleUnaryCall<_zdd_v1_ListAuditRequest__Output, _zdd_v1_ListAuditResponse>;
  
  ListCertificates: grpc.handleUnaryCall<_zdd_v1_ListCertificatesRequest__Output, _zdd_v1_ListCertificatesResponse>;
  
  ListEvents: grpc.handleUnaryCall<_zdd_v1_ListEventsRequest__Output, _zdd_v1_ListEventsResponse>;
  
  ListRollouts: grpc.handleUnaryCall<_zdd_v1_ListRolloutsRequest__Output, _zdd_v1_ListRolloutsResponse>;
  
  PauseRollout: grpc.handleUnaryCall<_zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout>;
  
  Plan: grpc.handleUnaryCall<_zdd_v1_StartRolloutRequest__Output, _zdd_v1_PlanResponse>;
  
  PromoteRollout: grpc.handleUnaryCall<_zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout>;
  
  RemoveAgent: grpc.handleUnaryCall<_zdd_v1_HostRequest__Output, _zdd_v1_RemoveAgentResponse>;
  
  ResumeRollout: grpc.handleUnaryCall<_zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout>;
  
  RevokeAgent: grpc.handleUnaryCall<_zdd_v1_RevokeRequest__Output, _zdd_v1_RevokeResponse>;
  
  RevokeOperator: grpc.handleUnaryCall<_zdd_v1_RevokeRequest__Output, _zdd_v1_RevokeResponse>;
  
  Rollback: grpc.handleUnaryCall<_zdd_v1_RollbackRequest__Output, _zdd_v1_Rollout>;
  
  StartRollout: grpc.handleUnaryCall<_zdd_v1_StartRolloutRequest__Output, _zdd_v1_Rollout>;
  
  Uncordon: grpc.handleUnaryCall<_zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo>;
  
  WatchRollout: grpc.handleServerStreamingCall<_zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout>;
  
  WhoAmI: grpc.handleUnaryCall<_zdd_v1_WhoAmIRequest__Output, _zdd_v1_WhoAmIResponse>;
  
}

export interface ControlDefinition extends grpc.ServiceDefinition {
  AbortRollout: MethodDefinition<_zdd_v1_AbortRolloutRequest, _zdd_v1_Rollout, _zdd_v1_AbortRolloutRequest__Output, _zdd_v1_Rollout__Output>
  ApplyService: MethodDefinition<_zdd_v1_ApplyServiceRequest, _zdd_v1_ServiceInfo, _zdd_v1_ApplyServiceRequest__Output, _zdd_v1_ServiceInfo__Output>
  Cordon: MethodDefinition<_zdd_v1_HostRequest, _zdd_v1_AgentInfo, _zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo__Output>
  CreateJoinToken: MethodDefinition<_zdd_v1_CreateJoinTokenRequest, _zdd_v1_JoinToken, _zdd_v1_CreateJoinTokenRequest__Output, _zdd_v1_JoinToken__Output>
  Drain: MethodDefinition<_zdd_v1_HostRequest, _zdd_v1_AgentInfo, _zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo__Output>
  GetRollout: MethodDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_Rollout, _zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout__Output>
  GetService: MethodDefinition<_zdd_v1_GetServiceRequest, _zdd_v1_ServiceInfo, _zdd_v1_GetServiceRequest__Output, _zdd_v1_ServiceInfo__Output>
  ListAgents: MethodDefinition<_zdd_v1_ListAgentsRequest, _zdd_v1_ListAgentsResponse, _zdd_v1_ListAgentsRequest__Output, _zdd_v1_ListAgentsResponse__Output>
  ListAudit: MethodDefinition<_zdd_v1_ListAuditRequest, _zdd_v1_ListAuditResponse, _zdd_v1_ListAuditRequest__Output, _zdd_v1_ListAuditResponse__Output>
  ListCertificates: MethodDefinition<_zdd_v1_ListCertificatesRequest, _zdd_v1_ListCertificatesResponse, _zdd_v1_ListCertificatesRequest__Output, _zdd_v1_ListCertificatesResponse__Output>
  ListEvents: MethodDefinition<_zdd_v1_ListEventsRequest, _zdd_v1_ListEventsResponse, _zdd_v1_ListEventsRequest__Output, _zdd_v1_ListEventsResponse__Output>
  ListRollouts: MethodDefinition<_zdd_v1_ListRolloutsRequest, _zdd_v1_ListRolloutsResponse, _zdd_v1_ListRolloutsRequest__Output, _zdd_v1_ListRolloutsResponse__Output>
  PauseRollout: MethodDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_Rollout, _zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout__Output>
  Plan: MethodDefinition<_zdd_v1_StartRolloutRequest, _zdd_v1_PlanResponse, _zdd_v1_StartRolloutRequest__Output, _zdd_v1_PlanResponse__Output>
  PromoteRollout: MethodDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_Rollout, _zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout__Output>
  RemoveAgent: MethodDefinition<_zdd_v1_HostRequest, _zdd_v1_RemoveAgentResponse, _zdd_v1_HostRequest__Output, _zdd_v1_RemoveAgentResponse__Output>
  ResumeRollout: MethodDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_Rollout, _zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout__Output>
  RevokeAgent: MethodDefinition<_zdd_v1_RevokeRequest, _zdd_v1_RevokeResponse, _zdd_v1_RevokeRequest__Output, _zdd_v1_RevokeResponse__Output>
  RevokeOperator: MethodDefinition<_zdd_v1_RevokeRequest, _zdd_v1_RevokeResponse, _zdd_v1_RevokeRequest__Output, _zdd_v1_RevokeResponse__Output>
  Rollback: MethodDefinition<_zdd_v1_RollbackRequest, _zdd_v1_Rollout, _zdd_v1_RollbackRequest__Output, _zdd_v1_Rollout__Output>
  StartRollout: MethodDefinition<_zdd_v1_StartRolloutRequest, _zdd_v1_Rollout, _zdd_v1_StartRolloutRequest__Output, _zdd_v1_Rollout__Output>
  Uncordon: MethodDefinition<_zdd_v1_HostRequest, _zdd_v1_AgentInfo, _zdd_v1_HostRequest__Output, _zdd_v1_AgentInfo__Output>
  WatchRollout: MethodDefinition<_zdd_v1_GetRolloutRequest, _zdd_v1_Rollout, _zdd_v1_GetRolloutRequest__Output, _zdd_v1_Rollout__Output>
  WhoAmI: MethodDefinition<_zdd_v1_WhoAmIRequest, _zdd_v1_WhoAmIResponse, _zdd_v1_WhoAmIRequest__Output, _zdd_v1_WhoAmIResponse__Output>
}
