// Original file: proto/zdd/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AgentMessage as _zdd_v1_AgentMessage, AgentMessage__Output as _zdd_v1_AgentMessage__Output } from '../../zdd/v1/AgentMessage';
import type { CoordinatorMessage as _zdd_v1_CoordinatorMessage, CoordinatorMessage__Output as _zdd_v1_CoordinatorMessage__Output } from '../../zdd/v1/CoordinatorMessage';

export interface AgentGatewayClient extends grpc.Client {
  Session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_zdd_v1_AgentMessage, _zdd_v1_CoordinatorMessage__Output>;
  Session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_zdd_v1_AgentMessage, _zdd_v1_CoordinatorMessage__Output>;
  session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_zdd_v1_AgentMessage, _zdd_v1_CoordinatorMessage__Output>;
  session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_zdd_v1_AgentMessage, _zdd_v1_CoordinatorMessage__Output>;
  
}

export interface AgentGatewayHandlers extends grpc.UntypedServiceImplementation {
  Session: grpc.handleBidiStreamingCall<_zdd_v1_AgentMessage__Output, _zdd_v1_CoordinatorMessage>;
  
}

export interface AgentGatewayDefinition extends grpc.ServiceDefinition {
  Session: MethodDefinition<_zdd_v1_AgentMessage, _zdd_v1_CoordinatorMessage, _zdd_v1_AgentMessage__Output, _zdd_v1_CoordinatorMessage__Output>
}
