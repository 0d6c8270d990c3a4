export { createApp } from './app.js';
export type { AppOptions, ReadinessCheck } from './app.js';
export { startWebServer, MAX_REQUEST_HEADERS } from './server.js';
export type { WebServer } from './server.js';
export type { WebDeps } from './deps.js';
