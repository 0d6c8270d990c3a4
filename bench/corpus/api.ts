import type { AnalysedCommand } from './score.js';

/**
 * What the corpus reads back from airlock, through its HTTP API as anyone
 * allowed to read the recordings would (the engineer reads her own): the
 * recordings, each one's analysed commands (the rows as served, which is also
 * what is searched for secrets), and the stored file byte for byte (/raw).
 */
export interface RecordingInfo {
  id: string;
  sessionId: string;
  kind: string;
  status: string;
  analysisStatus: string;
  analysisError: string | null;
}

export interface AnalysisRows {
  commands: Array<AnalysedCommand & Record<string, unknown>>;
  /** The answer as served: the analysis rows. */
  json: string;
}

export interface CorpusReader {
  recordings(): Promise<RecordingInfo[]>;
  commands(id: string): Promise<AnalysisRows>;
  file(id: string): Promise<Buffer>;
}

export class ApiReader implements CorpusReader {
  constructor(
    private readonly web: string,
    private readonly token: string,
  ) {}

  async #get(path: string): Promise<Response> {
    const res = await fetch(`${this.web}/api/v1${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${(await res.text()).slice(0, 500)}`);
    return res;
  }

  async recordings(): Promise<RecordingInfo[]> {
    const body = (await (await this.#get('/recordings?limit=1000')).json()) as { recordings: RecordingInfo[] };
    return body.recordings;
  }

  async commands(id: string): Promise<AnalysisRows> {
    const json = await (await this.#get(`/recordings/${id}/commands`)).text();
    return { commands: (JSON.parse(json) as { commands: AnalysisRows['commands'] }).commands, json };
  }

  async file(id: string): Promise<Buffer> {
    return Buffer.from(await (await this.#get(`/recordings/${id}/raw`)).arrayBuffer());
  }
}
