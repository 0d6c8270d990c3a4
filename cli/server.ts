import { createApp } from '../web/app.js';
import { startWebServer } from '../web/server.js';
import type { WebServer } from '../web/server.js';
import type { Services } from './services.js';
import { VERSION } from './version.js';

/**
 * A running airlock: today the HTTP API; the SSH front door joins it in the
 * gateway issue. Tests start this in-process on port 0.
 */
export interface RunningServer {
  web: WebServer;
  close(): Promise<void>;
}

export async function startServer(services: Services): Promise<RunningServer> {
  const app = createApp(services, { version: VERSION });
  const web = await startWebServer(app, services.config.web.listen);
  services.logger.info({ url: web.url }, 'web API listening');
  await services.audit.record({ action: 'system.started', outcome: 'info', actor: 'system', details: { version: VERSION, web: web.url, database: services.db.engine } });
  return {
    web,
    async close() {
      await web.close();
      await services.audit.record({ action: 'system.stopped', outcome: 'info', actor: 'system' }).catch(() => {});
    },
  };
}
