/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header
 * line, then one JSON array per event: [time, code, data], time in seconds since
 * the header's timestamp. Codes: "o" output, "i" input, "r" resize ("COLSxROWS"),
 * "m" marker. Players ignore header fields they do not know, so airlock's own
 * (session, user, target…) live under "airlock".
 */
export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp: number;
  title: string;
  env: { TERM?: string; SHELL?: string };
  airlock: Record<string, unknown>;
}

export type EventCode = 'o' | 'i' | 'r' | 'm';

export function headerLine(h: CastHeader): string {
  return JSON.stringify(h) + '\n';
}

export function eventLine(t: number, code: EventCode, data: string): string {
  return `[${t.toFixed(6)}, "${code}", ${JSON.stringify(data)}]\n`;
}

export interface ParsedCast {
  header: CastHeader;
  events: Array<[number, EventCode, string]>;
}

export function parseCast(text: string): ParsedCast {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = JSON.parse(lines[0] ?? '{}') as CastHeader;
  const events: Array<[number, EventCode, string]> = [];
  for (const line of lines.slice(1)) {
    try {
      events.push(JSON.parse(line) as [number, EventCode, string]);
    } catch {
      break; // torn last line after a crash
    }
  }
  return { header, events };
}
