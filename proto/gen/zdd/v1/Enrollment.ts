// Original file: proto/zdd/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EnrollRequest as _zdd_v1_EnrollRequest, EnrollRequest__Output as _zdd_v1_EnrollRequest__Output } from '../../zdd/v1/EnrollRequest';
import type { EnrollResponse as _zdd_v1_EnrollResponse, EnrollResponse__Output as _zdd_v1_EnrollResponse__Output } from '../../zdd/v1/EnrollResponse';

export interface EnrollmentClient extends grpc.Client {
  Enroll(argument: _zdd_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _zdd_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _zdd_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  Enroll(argument: _zdd_v1_EnrollRequest, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _zdd_v1_EnrollRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _zdd_v1_EnrollRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _zdd_v1_EnrollRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  enroll(argument: _zdd_v1_EnrollRequest, callback: grpc.requestCallback<_zdd_v1_EnrollResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface EnrollmentHandlers extends grpc.UntypedServiceImplementation {
  Enroll: grpc.handleUnaryCall<_zdd_v1_EnrollRequest__Output, _zdd_v1_EnrollResponse>;
  
}

export interface EnrollmentDefinition extends grpc.ServiceDefinition {
  Enroll: MethodDefinition<_zdd_v1_EnrollRequest, _zdd_v1_EnrollResponse, _zdd_v1_EnrollRequest__Output, _zdd_v1_EnrollResponse__Output>
}
