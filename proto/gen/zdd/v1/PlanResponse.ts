// Original file: proto/zdd/v1/control.proto


export interface PlanResponse {
  'plan_json'?: (string);
}

export interface PlanResponse__Output {
  'plan_json': (string);
}
