// Original file: proto/zdd/v1/control.proto


export interface WhoAmIRequest {
}

export interface WhoAmIRequest__Output {
}
