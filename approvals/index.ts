export { Targets, SENSITIVITIES, TARGET_NAME, LOGIN_NAME, checkHostKey } from './targets.js';
export type { Target, TargetSecret, Sensitivity, NewTarget, TargetUpdate } from './targets.js';
export { Grants } from './grants.js';
export type { Grant, NewGrant } from './grants.js';
export { AccessPolicy } from './policy.js';
export type { AccessDecision, AccessScope } from './policy.js';
export { AccessRequests } from './requests.js';
export type { AccessRequest, RequestStatus, RequestEvent, NewRequest, Decision } from './requests.js';
