export { Identity } from './identity.js';
export type { IdentityDeps, Credentials, Channel, LoginResult, Authenticated } from './identity.js';
export { ROLES, USER_NAME, checkUserName, checkNewPassword } from './users.js';
export type { Role, User, UserStatus, Actor, NewUser, Enrolment } from './users.js';
export type { Login } from './logins.js';
export type { TokenClaims } from './tokens.js';
export { currentTotp, totpUri } from './totp.js';
export { MIN_PASSWORD_LENGTH } from './passwords.js';
