// Original file: proto/zdd/v1/agent.proto


export interface HeartbeatAck {
}

export interface HeartbeatAck__Output {
}
