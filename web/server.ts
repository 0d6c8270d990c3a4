import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { ListenAddress } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import { errorBody } from './errors.js';

/** Most request headers accepted; a request with more is refused with 431. */
export const MAX_REQUEST_HEADERS = 100;

export interface WebServer {
  server: Server;
  /** The address actually bound (port 0 becomes a real port). */
  address: { host: string; port: number };
  url: string;
  close(): Promise<void>;
}

/**
 * The HTTP listener, with the limits a public-facing server needs: few headers,
 * short header and request timeouts (a slow client cannot hold sockets open),
 * and a bounded number of requests per kept-alive socket.
 */
export async function startWebServer(app: Express, listen: ListenAddress): Promise<WebServer> {
  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    // Node's maxHeadersCount does not refuse a request with more headers: it drops
    // the extra ones and serves it anyway. Parse one past the limit and refuse here.
    if (req.rawHeaders.length / 2 > MAX_REQUEST_HEADERS) {
      const error = new AirlockError('ERR_TOO_MANY_HEADERS', `too many request headers (at most ${MAX_REQUEST_HEADERS})`);
      res.writeHead(431, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(JSON.stringify(errorBody(error)));
      return;
    }
    app(req, res);
  });
  server.maxHeadersCount = MAX_REQUEST_HEADERS + 1;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxRequestsPerSocket = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    server,
    address: { host: bound.address, port: bound.port },
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
